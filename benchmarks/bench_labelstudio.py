"""Benchmark the Label Studio round trip: push and pull of 5,000 tasks against a real server.

Run ``python benchmarks/bench_labelstudio.py [--n 5000] [--quick]``; writes
``benchmarks/results/labelstudio.json`` (``--quick``: 500 tasks, written to a temp file).

Setup (not timed): a Label Studio server from ``.ls-venv`` (``label-studio init`` into
a temp dir, then ``start`` on a free loopback port; Django dev server + SQLite, as the
integration tests run it — ``tests/integration/labelstudio/_server.py``), and a dataset of N
8x8 RGB PNGs under the server's local-files document root, committed as version 1.

Timed (each once; the server is the bottleneck and its SQLite grows, so repeats would not
measure the same thing):

a. ``push``: ``push_review`` of N flagged samples (an IssueTable with severity, detail,
   suggested label and ``predicted_prob``) into a new project: project creation, local-files
   storage, lookup of existing tasks by ``sample_id``, and the import in chunks of 500, each
   task with a scored pre-annotation.
b. ``repush_noop``: the same push again — the lookup finds all N, nothing is imported.
c. ``pull``: ``pull_annotations`` of a project whose N tasks each carry one completed
   annotation (imported inline, untimed), half of them disagreeing with the current label:
   paged read of the N tasks (500 a page), majority vote, N/2 relabels with lineage, commit
   of version 2, agreement statistics, journal write.
d. ``repull_noop``: the same pull again — every annotation already applied, nothing committed.

The server process runs on the same 2 cores as the client; its CPU time is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

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

    root = jobs.tmp
    docroot = root / "docroot"
    docroot.mkdir()
    t0 = time.perf_counter()
    init_template(root / "template", docroot)
    init_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    ids = [f"s{i:05d}" for i in range(n)]
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(images, labels.tolist(), CLASSES, sample_ids=ids)
    ds = ds.to_folder(docroot / "data")
    ds.commit("benchmark data")
    data_s = time.perf_counter() - t0
    server = LabelStudioServer(root / "template", root / "server", docroot)
    t0 = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - t0
    try:
        client = LabelStudioClient(server.url, server.token)
        suggested = [CLASSES[(int(x) + 1) % 10] for x in labels]
        items = pl.DataFrame(
            {
                "sample_id": ids,
                "issue_type": ["label"] * n,
                "is_issue": [True] * n,
                "severity": rng.random(n),
                "suggested_label": suggested,
                "predicted_prob": rng.uniform(0.5, 1.0, n),
                "detail": [f"Labelled {CLASSES[int(x)]!r}; the model disagrees." for x in labels],
            }
        )
        kw: dict[str, Any] = {
            "project": "bench push",
            "client": client,
            "document_root": docroot,
            "chunk_size": CHUNK,
        }
        cpu0 = _server_cpu_s(server)
        t0 = time.perf_counter()
        pushed = push_review(ds.root, items, **kw)
        push_s = time.perf_counter() - t0
        cpu1 = _server_cpu_s(server)
        assert pushed.created == n, pushed
        t0 = time.perf_counter()
        again = push_review(ds.root, items, **kw)
        repush_s = time.perf_counter() - t0
        assert (again.created, again.existing) == (0, n), again

        # a second project whose tasks already carry one annotation each (untimed setup)
        me = client.whoami()["id"]
        proj = client.sdk.projects.create(
            title="bench pull",
            label_config=label_config(CLASSES),
        )
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
        setup_annotations_s = time.perf_counter() - t0
        cpu2 = _server_cpu_s(server)
        t0 = time.perf_counter()
        pulled = pull_annotations(ds.root, project="bench pull", client=client)
        pull_s = time.perf_counter() - t0
        cpu3 = _server_cpu_s(server)
        assert pulled.annotations.height == n, pulled.annotations.height
        assert pulled.relabeled.height == (n + 1) // 2, pulled.relabeled.height
        t0 = time.perf_counter()
        repulled = pull_annotations(ds.root, project="bench pull", client=client)
        repull_s = time.perf_counter() - t0
        assert repulled.version is None and repulled.n_already_applied == n
    finally:
        server.stop()

    def cpu(a: float | None, b: float | None) -> float | None:
        return round(b - a, 2) if a is not None and b is not None else None

    page = inspect.signature(pull_annotations).parameters.get("page_size")
    return {
        "params": {
            "n_tasks": n,
            "chunk_size": CHUNK,
            "page_size": None if page is None else page.default,
            "images": "local-files storage, 8x8 RGB PNGs",
            "server": f"Label Studio {_server_version()}, Django dev server + SQLite, same machine",
        },
        "setup_s": {
            "label_studio_init": round(init_s, 2),
            "server_start": round(start_s, 2),
            "write_dataset": round(data_s, 2),
            "import_annotated_tasks": round(setup_annotations_s, 2),
        },
        "items": {
            "push": {
                "seconds": round(push_s, 2),
                "tasks_per_s": round(n / push_s, 1),
                "created": pushed.created,
                "server_cpu_s": cpu(cpu0, cpu1),
            },
            "repush_noop": {
                "seconds": round(repush_s, 2),
                "created": again.created,
                "existing": again.existing,
            },
            "pull": {
                "seconds": round(pull_s, 2),
                "tasks_per_s": round(n / pull_s, 1),
                "annotations": pulled.annotations.height,
                "relabeled": pulled.relabeled.height,
                "version": pulled.version,
                "server_cpu_s": cpu(cpu2, cpu3),
            },
            "repull_noop": {
                "seconds": round(repull_s, 2),
                "already_applied": repulled.n_already_applied,
            },
        },
        **peak_mib(),
    }


BENCH = Benchmark(
    name="labelstudio",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "label-studio-sdk", "polars", "httpx"),
    options=lambda ap: ap.add_argument("--n", type=int, default=5000),
    quick_help="500 tasks (written to a temp file)",
    summary=lambda res: print(json.dumps(res["items"], indent=1)),
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
