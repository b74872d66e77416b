"""Benchmark the Label Studio round trip against a real server: push (beside the raw SDK
import of the same tasks) and full, incremental and no-op pulls of N tasks (5,000; 100,000
with ``--n 100000``).

Run ``python benchmarks/bench_labelstudio.py [--n 5000] [--quick] [--out FILE]``; writes
``benchmarks/results/labelstudio.json`` (``--quick``: 500 tasks, written to a temp file; the
100k run: ``--n 100000 --out benchmarks/results/labelstudio_100k.json``).

Setup (not timed): a Label Studio server from ``.ls-venv`` (``label-studio init`` into
a temp dir, then ``start`` on a free loopback port; Django dev server + SQLite, as the
integration tests run it — ``tests/integration/labelstudio/_server.py``), and a dataset of N
8x8 RGB PNGs under the server's local-files document root, committed as version 1.

Timed (each once unless said; the server is the bottleneck and its SQLite grows, so repeats
would not measure the same thing):

a. ``raw_import``: what a user of the SDK alone runs — ``projects.create`` (same labeling
   config) and ``projects.import_tasks`` in chunks of 500 of the very task JSON our push
   sends (image URL, sample_id, issue type, severity, detail, label, split, one scored
   prediction), built before the clock starts. Run before and (N <= 20,000) after ``push``,
   into new projects, so the SQLite growth is on both sides; the ratio uses their mean.
b. ``push``: ``push_review`` of N flagged samples (an IssueTable with severity, detail,
   suggested label and ``predicted_prob``) into a new project: reading the dataset and the
   items, project creation, local-files storage, lookup of existing tasks by ``sample_id``,
   building the task JSON, the import in chunks of 500, the journal.
c. ``repush_noop``: the same push again — the lookup finds all N, nothing is imported.
d. ``pull``: the first ``pull_annotations`` of a project whose N tasks each carry one
   completed annotation (imported inline, untimed), half of them disagreeing with the current
   label: a full read of the N tasks (500 a page), majority vote, N/2 relabels with lineage,
   commit, agreement statistics, journal and cursor write.
e. ``repull_noop``: the same pull again (three times; median, and the first apart) —
   incremental: the annotated tasks updated since the cursor's ``read_at`` minus the
   overlap are listed by id and ``updated_at``; none changed, so none is read and nothing is
   committed. The first run lists the tasks imported within the overlap before ``pull``
   began (``pull`` starts right after the untimed import); the later ones list none.
f. ``repull_full`` (N <= 20,000): ``full=True`` — every task read again, nothing applied.
g. ``pull_1pct``: after N/100 annotations are edited to another label (one API call each,
   untimed), the incremental pull reads those N/100 tasks and commits N/100 relabels.
h. ``repull_noop_after``: the no-op pull again after g (three times; median).

The server process runs on the same 2 cores as the client; its CPU time is reported.
Memory: each timed step's peak resident memory of this process (``VmHWM`` after a reset
through ``/proc/self/clear_refs``), and the server's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl
from _harness import Benchmark, peak_mib, version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test suite's server launcher

from tests.integration.labelstudio._server import (  # noqa: E402
    LabelStudioServer,
    init_template,
    ls_binary,
)

CLASSES = [str(d) for d in range(10)]
CHUNK = 500
NOOP_REPEATS = 3
TWO_RAW_UP_TO = 20_000  # above: one raw import, no full re-read (each takes minutes)


def _server_version() -> str | None:
    """The Label Studio version of the server's own environment (read, not assumed)."""
    env = Path(ls_binary()).resolve().parent.parent
    for site in sorted(env.glob("lib/python*/site-packages")):
        found = version("label-studio", site)
        if found:
            return found
    return None


def _server_cpu_s(server: LabelStudioServer) -> float | None:
    if server.proc is None:
        return None
    try:
        fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / 100.0, 2)  # utime + stime, 100 Hz
    except (OSError, IndexError, ValueError):
        return None


def _status_mib(pid: int | str, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float | None]:
    """(result, seconds, this process's peak RSS MiB during the call)."""
    with contextlib.suppress(OSError):  # reset VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _status_mib("self", "VmHWM")


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    import inspect

    n = 500 if args.quick else args.n

    from datacentric.dataset import Dataset
    from datacentric.integrations.labelstudio import (
        LabelStudioClient,
        choice_result,
        label_config,
        pull_annotations,
        push_review,
    )
    from datacentric.integrations.labelstudio.incremental import OVERLAP_S

    root = jobs.tmp
    docroot = root / "docroot"
    docroot.mkdir()
    t0 = time.perf_counter()
    init_template(root / "template", docroot)
    init_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    ids = [f"s{i:06d}" for i in range(n)]
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(images, labels.tolist(), CLASSES, sample_ids=ids)
    ds = ds.to_folder(docroot / "data")
    ds.commit("benchmark data")
    data_s = time.perf_counter() - t0
    del images
    server = LabelStudioServer(root / "template", root / "server", docroot)
    t0 = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - t0
    steps: dict[str, dict[str, Any]] = {}
    setup: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any], **extra: Any) -> Any:
        cpu0 = _server_cpu_s(server)
        out, secs, peak = _timed(fn)
        steps[name] = {
            "seconds": round(secs, 3),
            **extra,
            "server_cpu_s": _cpu(cpu0, _server_cpu_s(server)),
            "client_peak_rss_mib": peak,
        }
        return out

    try:
        client = LabelStudioClient(server.url, server.token)
        suggested = [CLASSES[(int(x) + 1) % 10] for x in labels]
        severity = rng.random(n)
        prob = rng.uniform(0.5, 1.0, n)
        detail = [f"Labelled {CLASSES[int(x)]!r}; the model disagrees." for x in labels]
        items = pl.DataFrame(
            {
                "sample_id": ids,
                "issue_type": ["label"] * n,
                "is_issue": [True] * n,
                "severity": severity,
                "suggested_label": suggested,
                "predicted_prob": prob,
                "detail": detail,
            }
        )
        # the raw SDK side: the very task JSON push_review sends, built before the clock
        manifest = dict(ds.manifest.select("sample_id", "image").rows())
        splits = dict(ds.manifest.select("sample_id", "split").rows())
        data_root = Path(str(ds.root)).resolve().relative_to(docroot.resolve())
        raw_tasks = [
            {
                "data": {
                    "image": "/data/local-files/?d=" + quote(str(data_root / manifest[ids[i]])),
                    "sample_id": ids[i],
                    "issue_type": "label",
                    "severity": round(float(severity[i]), 6),
                    "detail": detail[i],
                    "label": CLASSES[int(labels[i])],
                    "split": splits[ids[i]],
                },
                "predictions": [
                    {
                        "result": choice_result(suggested[i]),
                        "model_version": "datacentric",
                        "score": float(prob[i]),
                    }
                ],
            }
            for i in range(n)
        ]

        def raw_import(title: str) -> int:
            proj = client.sdk.projects.create(title=title, label_config=label_config(CLASSES))
            for start in range(0, n, CHUNK):
                client.sdk.projects.import_tasks(
                    id=proj.id, request=raw_tasks[start : start + CHUNK], return_task_ids=True
                )
            return int(proj.id)

        step("raw_import", lambda: raw_import("bench raw"), tasks=n)
        kw: dict[str, Any] = {
            "project": "bench push",
            "client": client,
            "document_root": docroot,
            "chunk_size": CHUNK,
        }
        pushed = step("push", lambda: push_review(ds.root, items, **kw))
        assert pushed.created == n, pushed
        steps["push"]["created"] = pushed.created
        steps["push"]["tasks_per_s"] = round(n / steps["push"]["seconds"], 1)
        two_raw = n <= TWO_RAW_UP_TO
        if two_raw:
            step("raw_import_after", lambda: raw_import("bench raw again"), tasks=n)
        raw_tasks.clear()
        again = step("repush_noop", lambda: push_review(ds.root, items, **kw))
        assert (again.created, again.existing) == (0, n), again
        steps["repush_noop"] |= {"created": again.created, "existing": again.existing}

        # a second project whose tasks already carry one annotation each (untimed setup)
        me = client.whoami()["id"]
        proj = client.sdk.projects.create(title="bench pull", label_config=label_config(CLASSES))
        chosen = [suggested[i] if i % 2 == 0 else CLASSES[int(labels[i])] for i in range(n)]
        t0 = time.perf_counter()
        for start in range(0, n, 500):
            client.sdk.projects.import_tasks(
                id=proj.id,
                request=[
                    {
                        "data": {
                            "image": "",
                            "sample_id": ids[i],
                            "issue_type": "label",
                            "detail": "",
                        },
                        "annotations": [{"result": choice_result(chosen[i]), "completed_by": me}],
                    }
                    for i in range(start, min(n, start + 500))
                ],
            )
        setup["import_annotated_tasks"] = round(time.perf_counter() - t0, 2)

        def pull(**kw: Any) -> Any:
            return pull_annotations(ds.root, project="bench pull", client=client, **kw)

        pulled = step("pull", pull)
        assert not pulled.incremental and pulled.tasks_read == n, pulled.tasks_read
        assert pulled.annotations.height == n, pulled.annotations.height
        assert pulled.relabeled.height == (n + 1) // 2, pulled.relabeled.height
        steps["pull"] |= {
            "tasks_read": pulled.tasks_read,
            "tasks_per_s": round(n / steps["pull"]["seconds"], 1),
            "relabeled": pulled.relabeled.height,
            "version": pulled.version,
        }

        def noops(name: str) -> None:
            runs = []
            for r in range(NOOP_REPEATS):
                res = step(f"{name}_{r}", pull)
                assert res.incremental and res.tasks_read == 0 and res.version is None, res
                runs.append(steps.pop(f"{name}_{r}") | {"tasks_listed": res.tasks_listed})
            steps[name] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "first_seconds": runs[0]["seconds"],
                "tasks_read": 0,
                "first_tasks_listed": runs[0]["tasks_listed"],
                "runs": runs,
            }

        noops("repull_noop")
        if two_raw:
            full = step("repull_full", lambda: pull(full=True))
            assert full.tasks_read == n and full.version is None and full.n_already_applied == n
            steps["repull_full"] |= {"tasks_read": full.tasks_read, "applied": full.applied}

        # annotators edit 1 % of the annotations to another label (untimed), then pull
        k = max(1, n // 100)
        edit = pulled.annotations.sort("task_id").head(k)
        t0 = time.perf_counter()
        for aid, lab in edit.select("annotation_id", "label").rows():
            other = CLASSES[(CLASSES.index(lab) + 3) % 10]
            client.sdk.annotations.update(id=aid, result=choice_result(other))
        setup["edit_1pct_annotations"] = round(time.perf_counter() - t0, 2)
        inc = step("pull_1pct", pull)
        assert inc.incremental and inc.tasks_read == k and inc.applied == k, inc
        steps["pull_1pct"] |= {
            "tasks_read": inc.tasks_read,
            "tasks_listed": inc.tasks_listed,
            "relabeled": inc.applied,
            "version": inc.version,
        }
        noops("repull_noop_after")
        server_peak = _status_mib(server.proc.pid, "VmHWM") if server.proc else None
    finally:
        server.stop()

    page = inspect.signature(pull_annotations).parameters.get("page_size")
    raw_s = [steps[k]["seconds"] for k in ("raw_import", "raw_import_after") if k in steps]
    noop, full_pull = steps["repull_noop"]["seconds"], steps["pull"]["seconds"]
    ratios = {
        "push_vs_raw_import": round(steps["push"]["seconds"] / statistics.mean(raw_s), 3),
        "repull_noop_vs_pull": round(noop / full_pull, 4),
        "repull_noop_first_vs_pull": round(steps["repull_noop"]["first_seconds"] / full_pull, 4),
        "repull_noop_after_vs_pull": round(steps["repull_noop_after"]["seconds"] / full_pull, 4),
        "pull_1pct_vs_pull": round(steps["pull_1pct"]["seconds"] / full_pull, 4),
    }
    if "repull_full" in steps:
        ratios["repull_noop_vs_repull_full"] = round(noop / steps["repull_full"]["seconds"], 4)
    return {
        "params": {
            "n_tasks": n,
            "chunk_size": CHUNK,
            "page_size": None if page is None else page.default,
            "cursor_overlap_s": OVERLAP_S,
            "noop_repeats": NOOP_REPEATS,
            "images": "local-files storage, 8x8 RGB PNGs",
            "server": f"Label Studio {_server_version()}, Django dev server + SQLite, same machine",
        },
        "sides": {
            "raw_import": "label-studio-sdk alone: projects.create(title, label_config) + "
            f"projects.import_tasks(id, request=<{CHUNK} tasks>, return_task_ids=True) per "
            "chunk, of the same task JSON push_review sends (data: image local-files URL, "
            "sample_id, issue_type, severity, detail, label, split; one prediction with "
            "result, model_version, score), built before the clock starts",
            "push": "datacentric push_review(dataset dir, IssueTable, project=, document_root=, "
            f"chunk_size={CHUNK}): opens the dataset, ranks the items, creates the project, "
            "adds the local-files storage, looks up existing tasks by sample_id, builds the "
            "same task JSON, imports it in chunks and writes the journal after each",
            "pull": "pull_annotations(dataset dir, project=) — first pull: every annotated "
            "task read (fields=all, page_size tasks a page), majority vote, relabels with "
            "lineage, commit, journal and cursor",
            "repull_noop": "pull_annotations again (3 runs; median, first apart) — "
            "incremental: lists id+updated_at of annotated tasks updated since the cursor's "
            "read_at - overlap; reads none; commits nothing",
            "repull_full": "pull_annotations(full=True): every annotated task read again",
            "pull_1pct": "incremental pull after N/100 annotations were edited",
        },
        "setup_s": {
            "label_studio_init": round(init_s, 2),
            "server_start": round(start_s, 2),
            "write_dataset": round(data_s, 2),
            **setup,
        },
        "items": steps,
        "ratios": ratios,
        "server_peak_rss_mib": server_peak,
        **peak_mib(),
    }


def _cpu(a: float | None, b: float | None) -> float | None:
    return round(b - a, 2) if a is not None and b is not None else None


def _targets(res: dict[str, Any]) -> dict[str, Any]:
    r = res["ratios"]
    return {
        "push_le_1.5x_raw_import": r["push_vs_raw_import"] <= 1.5,
        "repull_noop_le_10pct_of_pull": r["repull_noop_vs_pull"] <= 0.10,
        "repull_noop_first_le_10pct_of_pull": r["repull_noop_first_vs_pull"] <= 0.10,
        "repull_noop_after_le_10pct_of_pull": r["repull_noop_after_vs_pull"] <= 0.10,
    }


BENCH = Benchmark(
    name="labelstudio",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "label-studio-sdk", "polars", "httpx"),
    options=lambda ap: ap.add_argument("--n", type=int, default=5000),
    timeout_s=4 * 3600.0,
    quick_help="500 tasks (written to a temp file)",
    targets=_targets,
    summary=lambda res: print(
        json.dumps({"ratios": res["ratios"], "items": res["items"]}, indent=1)
    ),
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
