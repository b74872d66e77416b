"""A real 2-node Ray cluster inside a private network namespace, for the Ray tests.

Ray binds its ports on every interface and advertises the machine's own address even with
``--node-ip-address=127.0.0.1`` (measured, ../shared/STACK.md), so the cluster runs in a
network namespace of its own where only loopback exists: a holder process
(``unshare --net``, loopback up, then ``sleep``) owns the namespace, and every process of the
cluster -- the head, the worker node and each test's driver -- joins it with
``nsenter --net=/proc/<holder>/ns/net``. The filesystem is shared (only the network is
private), so drivers and tasks read and write the tests' temp dirs.

Both nodes run with ``RAY_AUTH_MODE=disabled``: Ray 2.60 turns token authentication on by
default and a second node or a driver then needs the head's token; nothing outside the
namespace can reach this cluster, so the token protects nothing here. Real clusters keep it.

Teardown stops exactly the processes started here: each ``ray start --block`` runs in its own
session, and its process group (the raylet, GCS, ...) is killed, then every process it had
spawned (Ray's task workers start groups of their own); no process that descends from our
``ray start``s, or whose command line names this cluster's unique temp dir, may remain.
``ray stop`` is not used: it kills every Ray process of the machine, not only this
namespace's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
HEAD_PORT = 6379  # the namespace is private: every port is free in it
START_TIMEOUT_S = 60.0


class RayClusterError(RuntimeError):
    """The test cluster could not be started (the message says why and how to fix it)."""


def _ray_bin() -> str:
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        raise RayClusterError(
            f"the Ray tests need the `ray` CLI next to {sys.executable}; install the extra: "
            "pip install -e '.[ray]' (make test does)"
        )
    return str(ray)


def cluster_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of the test cluster and its drivers."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    env.update(
        {
            "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
            # A dead node is noticed in about 2 s instead of 30 s (the node-kill test).
            "RAY_health_check_initial_delay_ms": "1000",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "500",
            "RAY_health_check_failure_threshold": "3",
            "NO_ALBUMENTATIONS_UPDATE": "1",
            "FIFTYONE_DO_NOT_TRACK": "true",
        }
    )
    env.pop("RAY_ADDRESS", None)
    env.update(extra or {})
    return env


class RayCluster:
    """Head + one worker node (1 CPU each) on 127.0.0.1 inside a private network namespace."""

    def __init__(self) -> None:
        # Short path: Ray's unix sockets live under it (108-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="dcray-", dir="/tmp"))
        self.temp_dir = self.root / "ray"
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.address = f"127.0.0.1:{HEAD_PORT}"
        self.ray = _ray_bin()
        self.holder: subprocess.Popen[bytes] | None = None
        self.head: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._started: list[subprocess.Popen[bytes]] = []
        self.worker_node: str | None = None  # the worker node's Ray node id
        self.worker_lost = False  # set by a test that killed the worker node
        self._tree: set[tuple[int, str]] = set()  # every process our `ray start`s spawned

    # -- namespace ---------------------------------------------------------------------------
    @property
    def netns(self) -> str:
        assert self.holder is not None
        return f"/proc/{self.holder.pid}/ns/net"

    def nsenter(self) -> list[str]:
        """The command prefix that runs a command inside the cluster's network namespace."""
        return ["nsenter", f"--net={self.netns}", "--"]

    def _start_namespace(self) -> None:
        if shutil.which("unshare") is None or shutil.which("nsenter") is None:
            raise RayClusterError("the Ray tests need `unshare` and `nsenter` (util-linux)")
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline().decode().strip()
        if line != "ready":
            err = self.holder.stderr.read().decode().strip() if self.holder.stderr else ""
            self.holder.kill()
            raise RayClusterError(
                "the Ray tests need a private network namespace (`unshare --net`, root or "
                f"CAP_SYS_ADMIN; CI runs as root) and `ip`; it failed: {err or line!r}"
            )

    # -- nodes ---------------------------------------------------------------------------------
    def _ray_start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = (self.logs / log).open("ab")
        proc = subprocess.Popen(
            [*self.nsenter(), self.ray, "start", "--block", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cluster_env(),
            start_new_session=True,  # its own process group: raylet, gcs, workers
            cwd=self.root,
        )
        out.close()
        self._started.append(proc)
        return proc

    def start_head(self) -> None:
        self.head = self._ray_start(
            [
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={HEAD_PORT}",
                "--num-cpus=1",
                "--num-gpus=0",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={self.temp_dir}",
            ],
            "head.log",
        )

    def start_worker(self) -> None:
        self.worker = self._ray_start(
            [
                f"--address={self.address}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                "--num-gpus=0",
                "--disable-usage-stats",
                f"--temp-dir={self.temp_dir}",
            ],
            "worker.log",
        )

    def kill_worker(self) -> None:
        """SIGKILL the worker node's whole process group (raylet and its task workers)."""
        assert self.worker is not None
        self._tree |= _descendants([self.worker.pid])
        _killpg(self.worker, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def wait_nodes(self, n: int, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Wait until ``n`` nodes are alive; return the driver's view of the cluster."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for proc, name in ((self.head, "head"), (self.worker, "worker")):
                if proc is not None and proc.poll() is not None:
                    raise RayClusterError(
                        f"the {name} node exited ({proc.returncode}): {self.tail(name + '.log')}"
                    )
            try:
                last = self.driver({"op": "nodes"}, timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                time.sleep(0.5)
                continue
            if last.get("alive") == n:
                others = sorted(set(last["node_ids"]) - set(last["head"]))
                self.worker_node = others[0] if others else None
                return last
            time.sleep(0.5)
        raise RayClusterError(f"{n} Ray nodes not alive within {timeout:g} s: {last}")

    def start(self) -> RayCluster:
        self._start_namespace()
        self.start_head()
        self.start_worker()
        self.wait_nodes(2)
        return self

    def restart_worker(self) -> None:
        """Bring the worker node back after :meth:`kill_worker`."""
        self.start_worker()
        self.wait_nodes(2)
        self.worker_lost = False

    # -- drivers ---------------------------------------------------------------------------
    def driver(self, spec: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        """Run ``tests/engine/cluster/_driver.py`` with ``spec`` inside the namespace; its JSON."""
        return self.driver_proc(spec).result(timeout)

    def driver_proc(self, spec: dict[str, Any], env: dict[str, str] | None = None) -> _Driver:
        """Start a driver without waiting (the test can act on the cluster meanwhile)."""
        spec = {"address": self.address, **spec}
        out = self.root / f"driver-{time.monotonic_ns()}.json"
        proc = subprocess.Popen(
            [
                *self.nsenter(),
                sys.executable,
                "-m",
                "tests.engine.cluster._driver",
                json.dumps(spec),
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=cluster_env(env),
            cwd=REPO,
            start_new_session=True,
        )
        return _Driver(proc, out)

    def tail(self, log: str, n: int = 3000) -> str:
        path = self.logs / log
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    # -- teardown --------------------------------------------------------------------------
    def leftovers(self) -> list[str]:
        """Our processes still alive: in a group we started, or naming our temp dir.

        Ray's task workers rename themselves (``ray::IDLE``), so the process groups catch
        them; daemons that left the group still name the temp dir on their command line.
        """
        lines = [
            f"{pid} (a process our ray start spawned)"
            for pid, start in sorted(self._tree)
            if _started_at(pid) == start
        ]
        queries = [["-f", str(self.root)]] + [["-g", str(p.pid)] for p in self._started]
        for query in queries:
            out = subprocess.run(
                ["pgrep", "-a", *query], capture_output=True, text=True, check=False
            ).stdout
            lines += [line for line in out.splitlines() if "pgrep" not in line]
        return sorted(set(lines))

    def pids(self) -> list[int]:
        """The live processes of the cluster: each ``ray start`` and all it spawned (the
        GCS, raylets, task workers) or names the cluster's temp dir (a daemon that left), for
        measuring their memory. Drivers are not included."""
        roots = [p.pid for p in self._started if p.poll() is None]
        found = set(roots) | {pid for pid, _ in _descendants(roots)}
        out = subprocess.run(
            ["pgrep", "-f", str(self.temp_dir)], capture_output=True, text=True, check=False
        ).stdout
        found |= {int(x) for x in out.split()}
        return sorted(found - {os.getpid()})

    def stop(self) -> None:
        # Ray's task workers start their own process groups: note every descendant now.
        self._tree |= _descendants([p.pid for p in self._started if p.poll() is None])
        for proc in reversed(self._started):
            _killpg(proc, signal.SIGKILL)  # a test cluster: nothing to save
            proc.wait(timeout=10)
        # Ray's daemons may have left their group (setsid); they all name our temp dir.
        for _ in range(50):
            pids = [int(line.split()[0]) for line in self.leftovers()]
            pids = [pid for pid in pids if pid != os.getpid()]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


class _Driver:
    """A running driver process; :meth:`result` waits and returns its JSON answer."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path) -> None:
        self.proc = proc
        self.out = out

    def communicate(self, timeout: float) -> tuple[str, str]:
        try:
            log = self.proc.communicate(timeout=timeout)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            _killpg(self.proc, signal.SIGKILL)
            self.proc.wait()
            raise
        if not self.out.exists():
            raise RuntimeError(f"driver exited {self.proc.returncode} without an answer:\n{log}")
        return self.out.read_text(), log

    def result(self, timeout: float = 120) -> dict[str, Any]:
        """The driver's JSON answer, with its console output under ``"log"``."""
        text, log = self.communicate(timeout)
        answer: dict[str, Any] = json.loads(text)
        answer["log"] = log
        return answer


def _descendants(roots: list[int]) -> set[tuple[int, str]]:
    """Every live descendant of ``roots`` as ``(pid, start time)`` (a reused pid differs)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {(pid, start) for pid in found if (start := _started_at(pid))}


def _started_at(pid: int) -> str:
    """The start time of a live ``pid`` ("" when gone or a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] == "Z" else fields[19]


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
