"""Benchmark Label Studio for boxes: push and pull of 2,000 detection tasks against a real server.

Run ``python benchmarks/bench_labelstudio_boxes.py [--n 2000] [--quick]``; writes
``benchmarks/results/labelstudio_boxes.json`` (``--quick``: 200 tasks, to a temp file).

Setup (not timed): a Label Studio server from ``.ls-venv`` (as the integration tests run
it, ``tests/integration/labelstudio/_server.py``) and the detection demo with N scenes
(96x96 PNGs, 1-5 digit boxes each) under its local-files document root, plus predicted
boxes from ``datacentric.testing.noisy_predicted_boxes`` of the true objects.

Timed (each once; the server is the bottleneck and its SQLite grows):

a. ``push``: ``push_review`` of all images with boxes (an IssueTable with one row per box; the
   demo leaves a few of the N scenes without any) with the
   predicted boxes: project creation, local-files storage, lookup by ``sample_id``, image
   sizes from the headers, and the import in chunks of 500, each task with one prediction
   holding the current (editable) and predicted (read-only) boxes.
b. ``repush_noop``: the same push again — nothing imported.
c. ``pull``: ``pull_annotations`` of a project whose N tasks each carry one annotation
   (imported inline, untimed): every image's first box moved by 1 px, and on every
   other image its last box deleted: paged read, region checks, IoU matching, the edits
   with lineage, one commit, agreement, journal.
d. ``repull_noop``: the same pull again — nothing applied.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
from _harness import Benchmark, peak_mib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test suite's server launcher

from bench_labelstudio import _server_cpu_s, _server_version  # noqa: E402

from tests.integration.labelstudio._server import LabelStudioServer, init_template  # noqa: E402

CHUNK = 500


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    n = 200 if args.quick else args.n

    from datacentric.dataset import Dataset
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.integrations.labelstudio import (
        BoxPullResult,
        LabelStudioClient,
        box_label_config,
        pull_annotations,
        push_review,
    )
    from datacentric.testing import noisy_predicted_boxes

    root = jobs.tmp
    docroot = root / "docroot"
    docroot.mkdir()
    t0 = time.perf_counter()
    init_template(root / "template", docroot)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = load_detection_demo(docroot / "det", n_scenes=n)
    truth = load_detection_ground_truth(ds.root).boxes.filter(pl.col("problem") != "duplicate")
    pred = noisy_predicted_boxes(
        truth.select("sample_id", pl.col("true_label").alias("label"),
                     *(pl.col(f"true_{c}").alias(c) for c in "xywh")),
        classes=ds.classes,
    )  # fmt: skip
    boxes = ds.annotations
    assert boxes is not None
    items = boxes.select(
        "sample_id",
        "annotation_id",
        pl.lit("badly_located_box").alias("issue_type"),
        pl.lit(True).alias("is_issue"),
        (pl.col("annotation_id").str.to_integer() % 97 / 97).alias("severity"),
        pl.format("Box {} may be badly located.", "annotation_id").alias("detail"),
    )
    n_img = items["sample_id"].n_unique()  # the demo's images with at least one box
    data_s = time.perf_counter() - t0
    server = LabelStudioServer(root / "template", root / "server", docroot)
    t0 = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - t0
    try:
        client = LabelStudioClient(server.url, server.token)
        kw: dict[str, Any] = {
            "project": "bench box push",
            "client": client,
            "document_root": docroot,
            "chunk_size": CHUNK,
            "predicted_boxes": pred,
        }
        cpu0 = _server_cpu_s(server)
        t0 = time.perf_counter()
        pushed = push_review(ds, items, **kw)
        push_s = time.perf_counter() - t0
        cpu1 = _server_cpu_s(server)
        assert pushed.created == n_img, (pushed.created, n_img)
        t0 = time.perf_counter()
        again = push_review(ds, items, **kw)
        repush_s = time.perf_counter() - t0
        assert (again.created, again.unchanged) == (0, n_img), (again.created, again.unchanged)

        # a second project: the pushed tasks, each with one annotation (untimed setup)
        tasks = list(client.iter_tasks(pushed.project_id, fields="all", page_size=1000))
        me = client.whoami()["id"]
        proj = client.sdk.projects.create(
            title="bench box pull", label_config=box_label_config(ds.classes)
        )
        n_move = n_remove = 0
        annotated = []
        for k, t in enumerate(sorted(tasks, key=lambda t: t["id"])):
            regions = [
                copy.deepcopy(r) for r in t["predictions"][0]["result"] if r["from_name"] == "box"
            ]
            if regions:
                step = 100.0 / regions[0]["original_width"]  # 1 px, kept inside the image
                regions[0]["value"]["x"] += step if regions[0]["value"]["x"] < step else -step
                n_move += 1
            if k % 2 == 0 and len(regions) >= 2:
                regions.pop()
                n_remove += 1
            annotated.append(
                {"data": t["data"], "annotations": [{"result": regions, "completed_by": me}]}
            )
        t0 = time.perf_counter()
        for start in range(0, n_img, CHUNK):
            client.sdk.projects.import_tasks(id=proj.id, request=annotated[start : start + CHUNK])
        setup_annotations_s = time.perf_counter() - t0
        before = Dataset.open(ds.root).annotations
        assert before is not None
        cpu2 = _server_cpu_s(server)
        t0 = time.perf_counter()
        pulled = pull_annotations(ds.root, project="bench box pull", client=client)
        pull_s = time.perf_counter() - t0
        cpu3 = _server_cpu_s(server)
        assert isinstance(pulled, BoxPullResult) and pulled.skipped.height == 0
        counts = dict(pulled.edits.group_by("edit").len().rows())
        assert counts == {"move": n_move, "remove": n_remove}, (counts, n_move, n_remove)
        t0 = time.perf_counter()
        repulled = pull_annotations(ds.root, project="bench box pull", client=client)
        repull_s = time.perf_counter() - t0
        assert repulled.version is None and repulled.already_applied == n_img
    finally:
        server.stop()

    def cpu(a: float | None, b: float | None) -> float | None:
        return round(b - a, 2) if a is not None and b is not None else None

    return {
        "params": {
            "n_scenes": n,
            "n_tasks": n_img,
            "n_boxes": boxes.height,
            "n_predicted_boxes": pred.height,
            "chunk_size": CHUNK,
            "images": "local-files storage, 96x96 PNGs (detection demo)",
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
                "tasks_per_s": round(n_img / push_s, 1),
                "created": pushed.created,
                "server_cpu_s": cpu(cpu0, cpu1),
            },
            "repush_noop": {"seconds": round(repush_s, 2), "created": again.created},
            "pull": {
                "seconds": round(pull_s, 2),
                "tasks_per_s": round(n_img / pull_s, 1),
                "annotations": pulled.n_annotations,
                "edits": counts,
                "version": pulled.version,
                "server_cpu_s": cpu(cpu2, cpu3),
            },
            "repull_noop": {
                "seconds": round(repull_s, 2),
                "already_applied": repulled.already_applied,
            },
        },
        **peak_mib(),
    }


BENCH = Benchmark(
    name="labelstudio_boxes",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "label-studio-sdk", "polars", "httpx"),
    options=lambda ap: ap.add_argument("--n", type=int, default=2000),
    quick_help="200 tasks (written to a temp file)",
    summary=lambda res: print(json.dumps(res["items"], indent=1)),
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
