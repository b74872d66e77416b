"""The Ray engine: the same task functions on an existing Ray cluster or a local Ray.

``RayEngine(address="HOST:PORT")`` connects to a running cluster (``ray start --head``,
KubeRay, ``ray up``) and never stops it; ``RayEngine()`` starts a local Ray on the spot with
``workers`` CPUs and shuts it down in :meth:`RayEngine.close`. Each item becomes one Ray task
(``ray.remote`` around the module-level function, with the CPUs/GPUs of
:class:`~datacentric.engine.base.TaskResources`), retried by Ray when the worker or its node
dies (``max_retries``), never when the function raises (that error is the caller's to see).
Results come back in input order.

Workers import ``datacentric`` and read the dataset from its local path: every node needs
the same Python environment (one container image) and the dataset on a filesystem mounted at
the same path (NFS, a shared volume). Object-store URIs are not read by the workers yet.

``ray`` is an optional extra (``pip install 'datacentric[ray]'``), imported here only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from numbers import Integral, Real
from types import ModuleType, TracebackType
from typing import Any, TypeVar

from datacentric._deps import import_optional
from datacentric._validation import Interval, check_params
from datacentric.config import config_context, get_config
from datacentric.engine.base import TaskResources, progress_bar
from datacentric.exceptions import EngineError, IntegrationError

__all__ = ["RayEngine"]

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for the cluster's address to answer before giving up (connect + gRPC).
CONNECT_TIMEOUT_S = 10.0

# HOST:PORT (a DNS name, an IPv4 address or a bracketed IPv6 address), optionally ray://
_ADDRESS = re.compile(
    r"^(?P<scheme>ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$"
)

_CONSTRAINTS: dict[str, list[object]] = {
    "address": [str, None],
    "workers": [Interval(Integral, 1, None, closed="left"), None],
    "max_retries": [Interval(Integral, 0, None, closed="left")],
    "connect_timeout": [Interval(Real, 0, None, closed="neither")],
}


def _import_ray() -> ModuleType:
    return import_optional("ray", extra="ray", purpose="engine='ray'")


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _parse_address(address: str) -> tuple[str, int]:
    """Split ``[ray://]HOST:PORT`` into host and port, or raise a one-line IntegrationError."""
    match = _ADDRESS.match(address.strip())
    port = int(match["port"]) if match else 0
    if match is None or not 1 <= port <= 65535:
        raise IntegrationError(
            f"engine='ray': address {address!r} is not a Ray cluster address; expected HOST:PORT "
            "of the head node's GCS (e.g. 10.0.0.5:6379, the address `ray start --head` prints), "
            "ray://HOST:10001 for Ray Client, or 'auto'. Fix --address."
        )
    return match["host"].strip("[]"), port


def _probe(address: str, host: str, port: int, timeout: float) -> None:
    """Fail fast, in bounded time, unless ``host:port`` answers as a gRPC (HTTP/2) server.

    ``ray.init`` itself retries an unreachable address for minutes and then terminates the
    whole process from C++ when the port answers but is not a Ray head, so it is called only
    after this check passes.
    """
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else (exc.strerror or str(exc))
        )
        raise IntegrationError(
            f"engine='ray': cannot reach the Ray cluster at {address!r} ({reason}). Check that "
            f"the head node is running (`ray status --address {host}:{port}`) and that this "
            "machine can reach that port, then fix --address."
        ) from None
    import grpc  # a dependency of ray

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise IntegrationError(
            f"engine='ray': {address!r} accepts connections but does not answer as a Ray head "
            f"node (no gRPC within {timeout:g} s). Pass the head's GCS port (6379 by default, "
            "the address `ray start --head` prints) to --address."
        ) from None
    finally:
        channel.close()


def _check_feasible(ray: ModuleType, resources: TaskResources) -> str | None:
    """Why no alive node can run a task needing ``resources`` (None when one can)."""
    best_cpu = best_gpu = 0.0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        cpu, gpu = float(have.get("CPU", 0)), float(have.get("GPU", 0))
        if cpu >= resources.num_cpus and gpu >= resources.num_gpus:
            return None
        best_cpu, best_gpu = max(best_cpu, cpu), max(best_gpu, gpu)
    return (
        f"a task needs {resources.num_cpus:g} CPU and {resources.num_gpus:g} GPU but the "
        f"largest node has {best_cpu:g} CPU and {best_gpu:g} GPU"
    )


class RayEngine:
    """Run tasks as Ray tasks, on an existing cluster (``address``) or a local Ray.

    Parameters
    ----------
    address : str, optional
        ``HOST:PORT`` of a running cluster's head (``ray start --head`` prints it),
        ``ray://HOST:10001`` (Ray Client) or ``"auto"`` (the cluster this machine belongs
        to). The cluster is only connected to, never stopped. ``None`` starts a local Ray
        with ``workers`` CPUs that :meth:`close` shuts down. A Ray already initialised in
        this process (``ray.init`` called by the user) is used as it is.
    workers : int, optional
        CPUs of the local Ray (default: every core). Ignored with ``address``: the cluster
        has the CPUs it has.
    max_retries : int, default 3
        How often Ray re-runs a task whose worker process or node died. A task whose
        function raises is never retried; its error is raised in the caller.
    connect_timeout : float, default 10
        Seconds the cluster's address has to answer (TCP, then gRPC) before
        :class:`~datacentric.exceptions.IntegrationError` is raised.

    Notes
    -----
    Every node must run the same Python environment (one image) and see the dataset at the
    same local path (a shared filesystem): the workers import ``datacentric`` and read the
    images themselves. Raises :class:`~datacentric.exceptions.IntegrationError` (one line)
    when the cluster cannot be reached, within ``connect_timeout`` seconds;
    :class:`~datacentric.exceptions.EngineError` when no node could ever run a task's
    resources (a GPU task on a cluster without GPUs: Ray would wait for one forever; with an
    autoscaler, keep one node of each needed kind running).
    """

    name = "ray"
    _parameter_constraints = _CONSTRAINTS

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        max_retries: int = 3,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        check_params(
            "RayEngine",
            {
                "address": address,
                "workers": workers,
                "max_retries": max_retries,
                "connect_timeout": connect_timeout,
            },
            _CONSTRAINTS,
            {"address": None, "workers": None, "max_retries": 3, "connect_timeout": 10.0},
        )
        self.address = address
        self.max_retries = int(max_retries)
        self._task: Any = None
        self._owns_connection = False
        ray = _import_ray()
        self._ray = ray
        if ray.is_initialized():
            self.workers = self._cluster_cpus(workers)
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None:
            num_cpus = int(workers or os.cpu_count() or 1)
            try:
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:  # any failure to start: one line
                raise IntegrationError(
                    f"engine='ray': could not start a local Ray with {num_cpus} CPUs "
                    f"({type(exc).__name__}: {_one_line(exc)}). Check `ray start` works on "
                    "this machine, or use engine='local'."
                ) from None
            self._owns_connection = True
            self.workers = num_cpus
            return
        if address.strip() != "auto":
            host, port = _parse_address(address)
            _probe(address, host, port, float(connect_timeout))
        try:
            ray.init(address=address.strip(), logging_level=logging.WARNING)
        except Exception as exc:  # auth, version mismatch, no cluster
            hint = (
                " The cluster uses token authentication: set RAY_AUTH_TOKEN or "
                "RAY_AUTH_TOKEN_PATH to the head's token."
                if "auth" in type(exc).__name__.lower() or "token" in str(exc).lower()
                else ""
            )
            raise IntegrationError(
                f"engine='ray': could not connect to the Ray cluster at {address!r} "
                f"({type(exc).__name__}: {_one_line(exc)}).{hint} Fix --address."
            ) from None
        self._owns_connection = True
        self.workers = self._cluster_cpus(None)

    def node_gpus(self) -> float:
        """The most GPUs one alive node of the cluster has (``0.0`` without GPUs).

        Cross-validation asks for a GPU per fold task when a recipe with ``device="auto"``
        runs on a cluster where this is at least 1 (a task cannot span nodes).
        """
        most = 0.0
        for node in self._ray.nodes():
            if node.get("Alive"):
                most = max(most, float(node.get("Resources", {}).get("GPU", 0)))
        return most

    def _cluster_cpus(self, fallback: int | None) -> int:
        cpus = int(self._ray.cluster_resources().get("CPU", 0))
        return max(cpus, 1) if cpus else int(fallback or 1)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> RayEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; shut down the local Ray this engine started (never a cluster)."""
        if self._owns_connection and self._ray.is_initialized():
            # With address=None this stops the local Ray's processes; with a cluster address
            # it only disconnects this driver, the cluster keeps running.
            self._ray.shutdown()
        self._owns_connection = False
        self._task = None

    # -- tasks -----------------------------------------------------------------------------
    def _remote(self) -> Any:
        if self._task is None:
            self._task = self._ray.remote(_run_task)
        return self._task

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = False,
        resources: TaskResources | None = None,
    ) -> list[R]:
        """Run ``fn(item)`` as one Ray task per item; results in input order.

        An exception raised by ``fn`` is re-raised here as the same class with the same
        message (the remote traceback is its ``__cause__``): the one of the first failing
        item in input order, as on the other engines; the tasks after it are cancelled. A
        task lost with its worker or node is retried ``max_retries`` times, then an
        :class:`~datacentric.exceptions.EngineError` names the item.
        """
        items = list(items)
        if not items:
            return []
        ray = self._ray
        if not ray.is_initialized():
            raise EngineError(
                "engine='ray': the engine was closed; create a new one (get_engine('ray'))."
            )
        name = desc or getattr(fn, "__name__", "tasks")
        res = resources or TaskResources()
        why = _check_feasible(ray, res)
        if why is not None:
            where = "this local Ray" if self.address is None else f"the cluster at {self.address!r}"
            raise EngineError(
                f"engine='ray': {why} on {where}, so the tasks of {name!r} would wait forever. "
                "Lower the resources, or add such a node to the cluster."
            )
        remote = self._remote().options(
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        fn_ref = ray.put(fn)  # sent once, not with every task
        settings = get_config()  # the caller's limits hold on the cluster too
        refs = [remote.remote(fn_ref, item, settings) for item in items]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        failed: tuple[int, BaseException] | None = None
        pending = list(refs)
        try:
            with progress_bar(len(refs), f"{name} (ray)", progress) as advance:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        index = position[ref]
                        try:
                            results[index] = self._get(ref, index, name)
                        except Exception as exc:  # raised below, once the earlier items are in
                            if failed is None or index < failed[0]:
                                failed = (index, exc)
                            first = failed[0]
                            _cancel(ray, [r for r in pending if position[r] > first])
                            pending = [r for r in pending if position[r] < first]
                            continue
                        advance()
        except BaseException:  # Ctrl-C while waiting: nothing keeps running on the cluster
            _cancel(ray, pending)
            raise
        if failed is not None:
            raise failed[1]
        return results

    def _get(self, ref: Any, index: int, name: str) -> Any:
        """The result of one task; its own exception, or an EngineError when Ray lost it."""
        ray = self._ray
        exceptions = ray.exceptions
        try:
            return ray.get(ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from exc
            raise
        except exceptions.RayError as exc:  # worker/node lost after the retries, object lost
            raise EngineError(
                f"engine='ray': task {index} of {name!r} failed on the cluster after "
                f"{self.max_retries} retries ({type(exc).__name__}: {_one_line(exc, 200)}). "
                "Check the nodes (`ray status`) and run again; finished work is kept where the "
                "task caches it."
            ) from None


def _run_task(fn: Callable[[T], R], item: T, settings: dict[str, Any]) -> R:
    """The Ray task: ``fn(item)`` with one torch thread, as on the local engine (the same
    bits whatever ran the task; the recipes set their own thread count inside), under the
    caller's settings (:func:`~datacentric.get_config`)."""
    from datacentric.engine.local import _one_torch_thread

    _one_torch_thread()
    with config_context(**settings):
        return fn(item)


def _cancel(ray: ModuleType, refs: Sequence[Any]) -> None:
    for ref in refs:
        with suppress(Exception):  # cancelling is best effort
            ray.cancel(ref)
