"""Benchmark ``datacentric.scan``: detection quality on the demo data, and speed at scale.

Run ``python benchmarks/bench_scan.py [--quick]``; writes ``benchmarks/results/scan.json``
and prints a summary table.

Part A — detection quality on the bundled demo data (planted problems with a ground truth,
see ``docs/demo-data.md``). Out-of-sample ``pred_probs`` and embeddings are computed once
with ``cross_val_predict(ds, folds=5, seed=0)``; on the same arrays we run

- ours: ``scan(ds, predictions=pred_probs, embeddings=embeddings, cross_validate=False)``
  with every registered finder, and
- the peer: cleanlab ``Datalab(...).find_issues(pred_probs=..., features=...)`` with its
  default issue types,

and score precision, recall and F1 per planted problem (definitions are written into the
JSON under ``"definitions"``).

Part B — scale and speed, on seeded synthetic data (shrunk by ``--quick``):

1. 1,000,000 samples x 10 classes of ``pred_probs``: ``scan`` with the ``label`` and
   ``imbalance`` finders (target: under 30 s; building the ``Dataset`` is timed apart).
2. 100,000 samples x 128-dim embeddings (a clustered Gaussian mixture with planted near
   duplicates and outliers) + 10-class ``pred_probs``: ours with the ``label``,
   ``outlier``, ``near_duplicate``, ``label_inconsistency`` and ``imbalance`` finders vs
   Datalab's defaults on the same arrays (target: ours faster). Ours runs twice: with
   default parameters (which add pixel matching on the dummy 1x1 images) and with
   ``method="embeddings"`` (the inputs Datalab uses). Agreement on label issues (Jaccard)
   and recall of the planted near-duplicate pairs are reported for both sides.

Every measured job runs in its own subprocess (this script re-invoked with ``--job``) so
that its peak resident memory (``ru_maxrss``) is its own. Datalab's jobs get at most
``--datalab-timeout`` seconds (default 900) and are recorded as timed out past that.

Datalab needs the Hugging Face ``datasets`` package, which is not a dependency of
datacentric. If it is not importable, pass ``--peer-path DIR`` (a folder made with
``pip install --target DIR "datasets>=3,<4" "pyarrow<20"``; it is appended to
``sys.path`` of the Datalab jobs only, so the venv's own packages win); without it the
peer's figures are recorded as unavailable. (datasets 5.2 with pyarrow 26 fails inside
``Dataset.from_dict`` with a dill ``PicklingError``; datasets 3.6 with pyarrow 19 works.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _harness import job_args, machine_info, now, peak_mib
from _harness import run_job as harness_run_job

RESULTS = Path(__file__).resolve().parent / "results" / "scan.json"
K_CLASSES = 10
B1_TARGET_S = 30.0
DATALAB_TIMEOUT_S = 900.0
OURS_TIMEOUT_S = 1800.0
IMAGE_QUALITY_TYPES = [
    "dark",
    "bright",
    "blurry",
    "low_information",
    "odd_size",
    "odd_aspect_ratio",
    "grayscale",
]
B2_FINDERS = ["label", "outlier", "near_duplicate", "label_inconsistency", "imbalance"]
_RANK = {"train": 0, "val": 1, "test": 2}


# --------------------------------------------------------------------------- helpers


def prf(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 of boolean flags against a boolean truth."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    # F1 = 2TP / (2TP + FP + FN): 0 when nothing planted was found (even with no flags),
    # undefined only when nothing was planted nor flagged
    denom = 2 * tp + fp + fn
    f1 = 2 * tp / denom if denom else None
    return {
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_flagged": int(pred.sum()),
        "n_true": int(truth.sum()),
    }


def _jaccard(a: np.ndarray, b: np.ndarray) -> float | None:
    union = int((a | b).sum())
    return round(int((a & b).sum()) / union, 4) if union else None


def _import_datalab(peer_path: str | None) -> tuple[Any, str | None]:
    """cleanlab's Datalab class, or None and the reason it cannot be used."""
    if peer_path and peer_path not in sys.path:
        sys.path.append(peer_path)
    try:
        import datasets  # noqa: F401  (Datalab's own requirement)
    except ImportError:
        return None, (
            "cleanlab Datalab needs the Hugging Face `datasets` package, which is not "
            "installed; pass --peer-path DIR with it installed there"
        )
    # not `from cleanlab import Datalab`: that name is a stub when cleanlab was imported
    # before `datasets` became importable
    from cleanlab.datalab.datalab import Datalab

    return Datalab, None


def _set_job_threads() -> None:
    # Both sides use every core; the machine is shared, so record load instead of pinning.
    warnings.filterwarnings("ignore")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


# --------------------------------------------------------------------------- part A
def _split_aware_leaks(near_sets: list[np.ndarray], is_dup: np.ndarray, splits: list[str]):
    """Datalab has no leakage check: derive one from its near-duplicate sets.

    A sample is a leak when it is flagged ``is_near_duplicate_issue`` and one of its
    ``near_duplicate_sets`` members sits in a more protected split (train < val < test);
    only the less protected member of a cross-split pair is counted, as ours does.
    """
    rank = np.array([_RANK.get(s, 0) for s in splits])
    out = np.zeros(len(splits), dtype=bool)
    for i in np.flatnonzero(is_dup):
        members = np.asarray(near_sets[i], dtype=np.int64)
        if members.size and (rank[members] > rank[i]).any():
            out[i] = True
    return out


def job_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Part A: materialise the demo, cross-validate once, run ours and Datalab, score."""
    import polars as pl

    from datacentric.datasets import load_demo, load_ground_truth
    from datacentric.issues import scan
    from datacentric.train import cross_val_predict

    out: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="bench_scan_demo_"))
    try:
        t0 = time.perf_counter()
        ds = load_demo(root, seed=0)
        out["demo_build_s"] = round(time.perf_counter() - t0, 3)
        truth = load_ground_truth(root)
        if truth["sample_id"].to_list() != ds.sample_ids:
            truth = ds.manifest.select("sample_id").join(truth, on="sample_id", how="left")
        n = len(ds)
        out["n_samples"] = n
        out["n_classes"] = len(ds.classes)

        t0 = time.perf_counter()
        preds = cross_val_predict(ds, folds=5, seed=0)
        out["cross_val_predict_s"] = round(time.perf_counter() - t0, 2)
        pos = {s: i for i, s in enumerate(preds.sample_ids)}
        order = np.array([pos[s] for s in ds.sample_ids])
        pred_probs = np.asarray(preds.pred_probs, dtype=np.float64)[order]
        embeddings = np.asarray(preds.embeddings, dtype=np.float32)[order]
        labels = ds.label_indices()
        out["cv_accuracy_vs_given"] = round(float((pred_probs.argmax(1) == labels).mean()), 4)
        true_idx = np.array([ds.classes.index(t) for t in truth["true_label"].to_list()])
        out["cv_accuracy_vs_true"] = round(float((pred_probs.argmax(1) == true_idx).mean()), 4)
        out["embedding_dim"] = int(embeddings.shape[1])

        # ---------------------------------------------------------------- ours
        t0 = time.perf_counter()
        result = scan(ds, predictions=pred_probs, embeddings=embeddings, cross_validate=False)
        out["ours_scan_s"] = round(time.perf_counter() - t0, 3)
        out["ours_timings_s"] = {k: round(v, 4) for k, v in result.timings.items()}
        out["ours_skipped"] = result.skipped
        flagged = result.issues.filter(pl.col("is_issue"))
        ours_counts = dict(flagged.group_by("issue_type").len().sort("issue_type").iter_rows())
        out["ours_flag_counts"] = {t: int(ours_counts.get(t, 0)) for t in result.issue_types}
        index = {s: i for i, s in enumerate(ds.sample_ids)}

        def ours(*types: str) -> np.ndarray:
            mask = np.zeros(n, dtype=bool)
            ids = flagged.filter(pl.col("issue_type").is_in(list(types)))["sample_id"]
            mask[[index[s] for s in ids.to_list()]] = True
            return mask

        # ---------------------------------------------------------------- Datalab
        datalab_cls, why = _import_datalab(args.peer_path)
        dl: dict[str, np.ndarray] | None = None
        near_sets: list[np.ndarray] = []
        if datalab_cls is not None:
            t0 = time.perf_counter()
            lab = datalab_cls(
                data={"label": labels.tolist(), "dummy": np.zeros(n).tolist()},
                label_name="label",
            )
            lab.find_issues(pred_probs=pred_probs, features=embeddings)
            out["datalab_s"] = round(time.perf_counter() - t0, 3)
            issues = lab.get_issues()
            dl = {c: issues[c].to_numpy(dtype=bool) for c in issues.columns if c.startswith("is_")}
            out["datalab_flag_counts"] = {
                c[3:-6]: int(v.sum()) for c, v in dl.items() if c.endswith("_issue")
            }
            near_sets = list(lab.get_info("near_duplicate")["near_duplicate_sets"])
        else:
            out["datalab_s"] = None
            out["datalab_flag_counts"] = None
        out["datalab_unavailable_reason"] = why

        def peer(col: str) -> np.ndarray | None:
            return None if dl is None else dl[col]

        def both(truth_mask: np.ndarray, ours_mask: np.ndarray, peer_mask: np.ndarray | None):
            return {
                "ours": prf(ours_mask, truth_mask),
                "datalab": None if peer_mask is None else prf(peer_mask, truth_mask),
            }

        # ---------------------------------------------------------------- truth sets
        def col(name: str) -> np.ndarray:
            return truth[name].to_numpy()

        exact_of = truth["exact_duplicate_of"]
        near_of = truth["near_duplicate_of"]
        leak_of = truth["leak_of"]
        exact_copy = exact_of.is_not_null().to_numpy()
        near_copy = near_of.is_not_null().to_numpy()
        ids_arr = np.asarray(ds.sample_ids, dtype=object)
        exact_src = np.isin(ids_arr, exact_of.drop_nulls().to_list())
        near_src = np.isin(ids_arr, near_of.drop_nulls().to_list())
        leak_copy = leak_of.is_not_null().to_numpy()
        leak_src = np.isin(ids_arr, leak_of.drop_nulls().to_list())
        dup_truth = exact_copy | near_copy | exact_src | near_src
        exact_truth = exact_copy | exact_src
        splits = ds.manifest["split"].to_list()
        is_train = np.array([s == "train" for s in splits])

        scores: dict[str, Any] = {}
        scores["label_noise"] = both(col("is_label_noise"), ours("label"), peer("is_label_issue"))
        scores["dark"] = {
            "ours": prf(ours("dark"), col("is_dark")),
            "datalab": None,
        }
        scores["duplicates"] = both(
            dup_truth,
            ours("exact_duplicate", "near_duplicate"),
            peer("is_near_duplicate_issue"),
        )
        scores["duplicates_exact_only"] = {
            "ours": prf(ours("exact_duplicate"), exact_truth),
            "datalab": None,
        }
        scores["duplicates_near_finder_only"] = both(
            dup_truth, ours("near_duplicate"), peer("is_near_duplicate_issue")
        )
        scores["duplicates_incl_leak_pairs"] = both(
            dup_truth | leak_copy | leak_src,
            ours("exact_duplicate", "near_duplicate"),
            peer("is_near_duplicate_issue"),
        )
        dl_leak = (
            None
            if dl is None
            else _split_aware_leaks(near_sets, dl["is_near_duplicate_issue"], splits)
        )
        scores["leakage"] = both(leak_copy, ours("leakage"), dl_leak)
        scores["rare_class"] = both(
            col("is_rare_class"), ours("imbalance"), peer("is_class_imbalance_issue")
        )
        rare_train = col("is_rare_class") & is_train
        scores["rare_class_train_only"] = {
            "ours": prf(ours("imbalance") & is_train, rare_train),
            "datalab": None
            if dl is None
            else prf(dl["is_class_imbalance_issue"] & is_train, rare_train),
        }
        scores["image_quality_other_flag_counts"] = {
            "note": "no planted problem of these kinds (the 'dark' scanner is also low contrast)",
            "ours": {t: int(ours(t).sum()) for t in IMAGE_QUALITY_TYPES[1:]},
            "datalab": None,
        }
        ours_out = ours("outlier")
        peer_out = peer("is_outlier_issue")
        scores["outliers"] = {
            "note": "no planted outliers: every flag is a false alarm (lower is better)",
            "ours_n_flagged": int(ours_out.sum()),
            "datalab_n_flagged": None if peer_out is None else int(peer_out.sum()),
            "ours_flagged_breakdown": {
                "dark": int((ours_out & col("is_dark")).sum()),
                "label_noise": int((ours_out & col("is_label_noise")).sum()),
                "rare_class": int((ours_out & col("is_rare_class")).sum()),
            },
            "datalab_flagged_breakdown": None
            if peer_out is None
            else {
                "dark": int((peer_out & col("is_dark")).sum()),
                "label_noise": int((peer_out & col("is_label_noise")).sum()),
                "rare_class": int((peer_out & col("is_rare_class")).sum()),
            },
        }
        out["scores"] = scores
        out["truth_counts"] = {
            "label_noise": int(col("is_label_noise").sum()),
            "dark": int(col("is_dark").sum()),
            "duplicates": int(dup_truth.sum()),
            "duplicates_exact_only": int(exact_truth.sum()),
            "leakage": int(leak_copy.sum()),
            "rare_class": int(col("is_rare_class").sum()),
            "rare_class_train_only": int(rare_train.sum()),
        }
        out["diagnostics"] = _demo_diagnostics(result, flagged, truth, ds, embeddings)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _demo_diagnostics(result: Any, flagged: Any, truth: Any, ds: Any, emb: np.ndarray):
    """Facts that explain misses: the near-duplicate radius and the planted pairs' distances."""
    import polars as pl

    from datacentric.issues import ScanContext
    from datacentric.issues.knn import knn, normalize_rows

    x = normalize_rows(emb)
    graph = knn(x, 10, normalized=True)
    median_nn = float(np.median(graph.distances[:, 0]))
    index = {s: i for i, s in enumerate(ds.sample_ids)}
    pairs: dict[str, list[float]] = {}
    for kind in ("exact_duplicate_of", "near_duplicate_of", "leak_of"):
        rows = truth.filter(pl.col(kind).is_not_null()).select("sample_id", kind).rows()
        d = [float(1.0 - x[index[a]] @ x[index[b]]) for a, b in rows]
        pairs[kind] = d
    near_params = result.params.get("near_duplicate", {})
    radius = near_params.get("threshold", 0.13) * max(median_nn, 1e-6)
    max_ham = int(near_params.get("max_hamming", 4))
    hashes = ScanContext(ds).image_stats["phash"].cast(pl.UInt64).to_numpy().astype(np.uint64)
    hamming: dict[str, list[int]] = {}
    for kind in ("exact_duplicate_of", "near_duplicate_of", "leak_of"):
        rows = truth.filter(pl.col(kind).is_not_null()).select("sample_id", kind).rows()
        hamming[kind] = [
            int(bin(int(hashes[index[a]] ^ hashes[index[b]])).count("1")) for a, b in rows
        ]
    return {
        "median_nn_cosine_distance": round(median_nn, 6),
        "near_duplicate_radius": round(radius, 6),
        "planted_pair_cosine_distance": {
            k: {
                "min": round(min(v), 6) if v else None,
                "median": round(float(np.median(v)), 6) if v else None,
                "max": round(max(v), 6) if v else None,
                "within_radius": int(sum(d <= radius for d in v)),
                "n": len(v),
            }
            for k, v in pairs.items()
        },
        "max_hamming": max_ham,
        "planted_pair_phash_hamming": {
            k: {
                "min": min(v) if v else None,
                "median": float(np.median(v)) if v else None,
                "max": max(v) if v else None,
                "within_max_hamming": int(sum(h <= max_ham for h in v)),
                "n": len(v),
            }
            for k, v in hamming.items()
        },
        "label_inconsistency": _label_inconsistency_sweep(ds, emb, truth),
        "near_duplicate_method_variants": _near_duplicate_variants(ds, emb, truth),
        "ours_params": result.params,
    }


def _flag_mask(result: Any, issue_type: str, ids: list[str]) -> np.ndarray:
    flagged = set(result.flagged(issue_type)["sample_id"].to_list())
    return np.array([s in flagged for s in ids])


def _label_inconsistency_sweep(ds: Any, emb: np.ndarray, truth: Any) -> dict[str, Any]:
    """How many samples label_inconsistency flags (and how many are label noise).

    Swept over its radius parameter (``max_distance`` or ``threshold``, whichever the
    finder has), default included.
    """
    from datacentric.issues import LabelInconsistencyFinder, scan

    noise = truth["is_label_noise"].to_numpy()
    out: dict[str, Any] = {
        "note": "not a planted problem type; its flags should be mostly label-noise rows "
        "(or their near-identical partners)",
        "params": LabelInconsistencyFinder().get_params(),
    }
    names = LabelInconsistencyFinder._param_names()
    sweeps = {"max_distance": (0.02, 0.01, 0.005, 0.002), "threshold": (0.13, 0.25, 0.5)}
    param = next((p for p in sweeps if p in names), None)
    values: tuple[Any, ...] = (None,) + (sweeps[param] if param else ())
    for value in values:
        finder = LabelInconsistencyFinder(**({param: value} if value is not None else {}))
        r = scan(ds, embeddings=emb, finders=[finder], cross_validate=False)
        m = _flag_mask(r, "label_inconsistency", ds.sample_ids)
        key = "default" if value is None else f"{param}={value}"
        out[key] = {"n_flagged": int(m.sum()), "label_noise": int((m & noise).sum())}
    return out


def _near_duplicate_variants(ds: Any, emb: np.ndarray, truth: Any) -> dict[str, Any]:
    """near_duplicate / leakage with each method the finders accept."""
    import polars as pl

    from datacentric.exceptions import InvalidParameterError
    from datacentric.issues import LeakageFinder, NearDuplicateFinder, scan

    ids = np.asarray(ds.sample_ids, dtype=object)
    near = truth.filter(pl.col("near_duplicate_of").is_not_null())
    near_truth = np.isin(ids, near["sample_id"].to_list() + near["near_duplicate_of"].to_list())
    leak_truth = truth["leak_of"].is_not_null().to_numpy()
    out: dict[str, Any] = {
        "note": "diagnostic only (the scores above use the defaults); near_duplicate is "
        "scored against the 15 near copies + their 15 sources only",
    }
    for method in ("auto", "embeddings", "pixels", "phash", "both"):
        try:
            finders = [NearDuplicateFinder(method=method), LeakageFinder(method=method)]
        except InvalidParameterError:
            continue  # not a method of this version of the finders
        t0 = time.perf_counter()
        r = scan(ds, embeddings=emb, finders=finders, cross_validate=False)
        out[method] = {
            "scan_s": round(time.perf_counter() - t0, 3),
            "near_duplicate_vs_near_copies_and_sources": prf(
                _flag_mask(r, "near_duplicate", ds.sample_ids), near_truth
            ),
            "leakage": prf(_flag_mask(r, "leakage", ds.sample_ids), leak_truth),
        }
    return out


# --------------------------------------------------------------------------- part B data
def make_pred_probs(
    rng: np.random.Generator, n: int, k: int, noise_rate: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Dirichlet-noised confident model and labels with ``noise_rate`` flipped.

    Returns ``(given_labels, pred_probs, is_flipped, true_labels)``. True classes are mildly
    imbalanced; the model "believes" the true class 90 % of the time and puts a
    Dirichlet(0.4 + 6 at the true class) on the classes; otherwise it believes another
    class, less surely: Dirichlet(0.4 + 3 at its belief + 2 at the true class).
    """
    weights = np.linspace(1.0, 2.0, k)
    true = rng.choice(k, size=n, p=weights / weights.sum())
    wrong = rng.random(n) < 0.1
    belief = np.where(wrong, (true + rng.integers(1, k, n)) % k, true)
    alpha = np.full((n, k), 0.4, dtype=np.float64)
    rows = np.arange(n)
    alpha[rows, belief] += np.where(wrong, 3.0, 6.0)  # the model's mistakes are less sure
    alpha[rows[wrong], true[wrong]] += 2.0
    gam = rng.standard_gamma(alpha)
    probs = gam / gam.sum(axis=1, keepdims=True)
    flip = rng.random(n) < noise_rate
    given = true.copy()
    given[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
    return given.astype(np.int64), probs, flip, true


def make_b2(n: int, dim: int, seed: int, path: Path) -> dict[str, Any]:
    """Clustered embeddings (5 clusters per class) with planted near duplicates and outliers."""
    rng = np.random.default_rng(seed)
    given, probs, flip, true = make_pred_probs(rng, n, K_CLASSES)
    n_clusters_per_class = 5
    centers = rng.normal(size=(K_CLASSES * n_clusters_per_class, dim)).astype(np.float32)
    cluster = true * n_clusters_per_class + rng.integers(0, n_clusters_per_class, n)
    emb = centers[cluster] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    n_pairs = max(10, n // 1000)
    n_out = max(10, n // 2000)
    chosen = rng.choice(n, size=2 * n_pairs + n_out, replace=False)
    src, dst, outliers = chosen[:n_pairs], chosen[n_pairs : 2 * n_pairs], chosen[2 * n_pairs :]
    emb[dst] = emb[src] + 0.005 * rng.normal(size=(n_pairs, dim)).astype(np.float32)
    given[dst] = given[src]
    probs[dst] = probs[src]
    flip[dst] = flip[src]
    # outliers: a direction unrelated to every cluster, far from the data's mean direction
    emb[outliers] = 3.0 * rng.normal(size=(n_out, dim)).astype(np.float32)
    np.savez(
        path,
        labels=given,
        pred_probs=probs,
        embeddings=emb.astype(np.float32),
        is_flipped=flip,
        dup_src=src,
        dup_dst=dst,
        outliers=outliers,
    )
    return {
        "n": n,
        "dim": dim,
        "classes": K_CLASSES,
        "clusters": K_CLASSES * n_clusters_per_class,
        "planted_near_duplicate_pairs": int(n_pairs),
        "planted_outliers": int(n_out),
        "flipped_labels": int(flip.sum()),
        "seed": seed,
    }


# --------------------------------------------------------------------------- part B jobs
def job_b1_ours(args: argparse.Namespace) -> dict[str, Any]:
    """1M x 10 pred_probs: Dataset.from_arrays, then scan(label, imbalance)."""
    from datacentric.dataset import Dataset
    from datacentric.issues import scan

    n = args.n
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    labels, probs, flip, _ = make_pred_probs(rng, n, K_CLASSES)
    gen_s = time.perf_counter() - t0
    classes = [f"c{i}" for i in range(K_CLASSES)]
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(np.zeros((n, 1, 1), np.uint8), labels, classes)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = scan(ds, predictions=probs, finders=["label", "imbalance"], cross_validate=False)
    scan_s = time.perf_counter() - t0
    flagged = result.flagged("label")["sample_id"].cast(int).to_numpy()
    mask = np.zeros(n, dtype=bool)
    mask[flagged] = True
    return {
        "n": n,
        "generate_s": round(gen_s, 3),
        "dataset_from_arrays_s": round(build_s, 3),
        "scan_s": round(scan_s, 3),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "label_vs_flipped": prf(mask, flip),
        "n_imbalance_flagged": int(
            result.issues.filter(
                (result.issues["issue_type"] == "imbalance") & result.issues["is_issue"]
            ).height
        ),
        **peak_mib(children=True),
    }


def job_b2_ours(args: argparse.Namespace) -> dict[str, Any]:
    """100k x 128 embeddings + pred_probs: scan with the embedding/prob finders."""
    from datacentric.dataset import Dataset
    from datacentric.issues import scan
    from datacentric.issues.scan import resolve_finders

    data = np.load(args.data)
    labels, probs, emb = data["labels"], data["pred_probs"], data["embeddings"]
    n = labels.shape[0]
    classes = [f"c{i}" for i in range(K_CLASSES)]
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(np.zeros((n, 1, 1), np.uint8), labels, classes)
    build_s = time.perf_counter() - t0
    finders: list[Any] = list(B2_FINDERS)
    if args.job == "b2_ours_embeddings":
        finders = [_embeddings_only(name) for name in B2_FINDERS]
    t0 = time.perf_counter()
    result = scan(ds, predictions=probs, embeddings=emb, finders=finders, cross_validate=False)
    scan_s = time.perf_counter() - t0
    masks = {}
    for t in B2_FINDERS:
        m = np.zeros(n, dtype=bool)
        m[result.flagged(t)["sample_id"].cast(int).to_numpy()] = True
        masks[t] = m
    nd = result.issues.filter(result.issues["issue_type"] == "near_duplicate")
    cluster = np.full(n, -1, dtype=np.int64)
    cluster[nd["sample_id"].cast(int).to_numpy()] = nd["cluster_id"].fill_null(-1).to_numpy()
    np.savez(args.job_arrays, cluster=cluster, **masks)
    peak = peak_mib(
        children=True
    )  # before the breakdown below, which is not part of the measured scan
    return {
        "n": n,
        "dataset_from_arrays_s": round(build_s, 3),
        "scan_s": round(scan_s, 3),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "flag_counts": {t: int(m.sum()) for t, m in masks.items()},
        **peak,
        "finders": [repr(f) for f in resolve_finders(finders)],
        "outlier_step_breakdown_s": _outlier_breakdown(labels, probs, emb),
    }


def _embeddings_only(name: str) -> Any:
    """The finder ``name`` with ``method="embeddings"`` where it has a ``method`` parameter."""
    from datacentric.issues import REGISTRY

    cls = REGISTRY.get(name)
    return cls(method="embeddings") if "method" in cls._param_names() else cls()


def _outlier_breakdown(labels: np.ndarray, probs: np.ndarray, emb: np.ndarray) -> dict:
    """Re-time the parts of the first embedding finder's step, one by one."""
    from cleanlab.outlier import OutOfDistribution

    from datacentric.issues.knn import knn, normalize_rows

    t0 = time.perf_counter()
    x = normalize_rows(emb)
    t1 = time.perf_counter()
    knn(x, 10, normalized=True)
    t2 = time.perf_counter()
    OutOfDistribution().fit_score(pred_probs=probs, labels=labels, verbose=False)
    t3 = time.perf_counter()
    return {
        "note": "the scan's `outlier` timing includes building the shared kNN graph "
        "(outlier is the first embedding finder to run) and cleanlab's OutOfDistribution "
        "score from pred_probs (an extra column); re-timed separately here",
        "normalize_s": round(t1 - t0, 3),
        "knn_graph_s": round(t2 - t1, 3),
        "cleanlab_ood_pred_probs_s": round(t3 - t2, 3),
    }


def job_b2_datalab(args: argparse.Namespace) -> dict[str, Any]:
    """The same 100k arrays through Datalab.find_issues with its default issue types."""
    datalab_cls, why = _import_datalab(args.peer_path)
    if datalab_cls is None:
        return {"unavailable": why}
    data = np.load(args.data)
    labels, probs, emb = data["labels"], data["pred_probs"], data["embeddings"]
    n = labels.shape[0]
    t0 = time.perf_counter()
    lab = datalab_cls(
        data={"label": labels.tolist(), "dummy": np.zeros(n).tolist()}, label_name="label"
    )
    init_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    lab.find_issues(pred_probs=probs, features=emb)
    find_s = time.perf_counter() - t1
    total_s = time.perf_counter() - t0
    issues = lab.get_issues()
    masks = {c[3:-6]: issues[c].to_numpy(dtype=bool) for c in issues.columns if c.startswith("is_")}
    sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
    # linked[i] = True when the planted copy of source i is in i's near-duplicate set
    src, dst = data["dup_src"], data["dup_dst"]
    linked = np.array(
        [int(d) in set(np.asarray(sets[s]).tolist()) for s, d in zip(src, dst, strict=True)]
    )
    np.savez(args.job_arrays, linked=linked, **masks)
    summary = lab.get_issue_summary()
    return {
        "n": n,
        "init_s": round(init_s, 3),
        "find_issues_s": round(find_s, 3),
        "total_s": round(total_s, 3),
        "issue_types": summary["issue_type"].tolist(),
        "flag_counts": {k: int(v.sum()) for k, v in masks.items()},
        **peak_mib(children=True),
    }


JOBS = {"demo": job_demo, "b1_ours": job_b1_ours, "b2_ours": job_b2_ours}
JOBS["b2_ours_embeddings"] = job_b2_ours
JOBS["b2_datalab"] = job_b2_datalab


# --------------------------------------------------------------------------- orchestration


def run_job(name: str, args: argparse.Namespace, tmp: Path, timeout: float, **extra: Any):
    """Run one job of this script in a fresh interpreter (see ``_harness.run_job``)."""
    peer = ["--peer-path", args.peer_path] if args.peer_path else []
    return harness_run_job(__file__, name, tmp, timeout=timeout, argv=[*peer, *job_args(**extra)])


def part_b(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    n1 = 50_000 if args.quick else 1_000_000
    n2 = 10_000 if args.quick else 100_000
    out: dict[str, Any] = {}
    b1 = run_job("b1_ours", args, tmp, OURS_TIMEOUT_S, n=n1, seed=1)
    out["b1_label_imbalance_1m"] = b1
    data = tmp / "b2.npz"
    out["b2_data"] = make_b2(n2, 128, seed=2, path=data)
    ours = run_job("b2_ours", args, tmp, OURS_TIMEOUT_S, data=data)
    ours_emb = run_job("b2_ours_embeddings", args, tmp, OURS_TIMEOUT_S, data=data)
    peer = run_job("b2_datalab", args, tmp, args.datalab_timeout, data=data)
    d = np.load(data)
    src, dst, outl, flip = d["dup_src"], d["dup_dst"], d["outliers"], d["is_flipped"]
    cmp: dict[str, Any] = {}
    oa = None
    if "_arrays" in ours:
        oa = np.load(ours.pop("_arrays"))
        cl = oa["cluster"]
        nd = oa["near_duplicate"]
        cmp["ours_near_duplicate_pair_recall_both_flagged"] = round(
            float((nd[src] & nd[dst]).mean()), 4
        )
        cmp["ours_near_duplicate_pair_recall_same_cluster"] = round(
            float(((cl[src] >= 0) & (cl[src] == cl[dst])).mean()), 4
        )
        planted = np.zeros(len(nd), dtype=bool)
        planted[src] = planted[dst] = True
        cmp["ours_near_duplicate_vs_planted"] = prf(nd, planted)
        cmp["ours_outlier_vs_planted"] = prf(oa["outlier"], np.isin(np.arange(len(nd)), outl))
        cmp["ours_label_vs_flipped"] = prf(oa["label"], flip)
    if "_arrays" in peer:
        pa = np.load(peer.pop("_arrays"))
        nd = pa["near_duplicate"]
        cmp["datalab_near_duplicate_pair_recall_both_flagged"] = round(
            float((nd[src] & nd[dst]).mean()), 4
        )
        cmp["datalab_near_duplicate_pair_recall_same_set"] = round(float(pa["linked"].mean()), 4)
        planted = np.zeros(len(nd), dtype=bool)
        planted[src] = planted[dst] = True
        cmp["datalab_near_duplicate_vs_planted"] = prf(nd, planted)
        cmp["datalab_outlier_vs_planted"] = prf(pa["outlier"], np.isin(np.arange(len(nd)), outl))
        cmp["datalab_label_vs_flipped"] = prf(pa["label"], flip)
        if oa is not None:
            cmp["label_issue_jaccard_ours_vs_datalab"] = _jaccard(oa["label"], pa["label"])
            cmp["near_duplicate_jaccard_ours_vs_datalab"] = _jaccard(
                oa["near_duplicate"], pa["near_duplicate"]
            )
    if "_arrays" in ours_emb:
        ea = np.load(ours_emb.pop("_arrays"))
        cmp["ours_embeddings_only_near_duplicate_pair_recall_both_flagged"] = round(
            float((ea["near_duplicate"][src] & ea["near_duplicate"][dst]).mean()), 4
        )
        if oa is not None:
            cmp["ours_embeddings_only_label_jaccard_vs_default"] = _jaccard(
                ea["label"], oa["label"]
            )
    out["b2_ours"] = ours
    out["b2_ours_embeddings_only"] = ours_emb
    out["b2_datalab"] = peer
    if "scan_s" in ours and "total_s" in peer:
        cmp["ratio_datalab_over_ours_wall"] = round(peer["total_s"] / ours["scan_s"], 2)
        cmp["ratio_datalab_over_ours_wall_incl_dataset_build"] = round(
            peer["total_s"] / (ours["scan_s"] + ours["dataset_from_arrays_s"]), 2
        )
        if "scan_s" in ours_emb:
            cmp["ratio_datalab_over_ours_embeddings_only_wall"] = round(
                peer["total_s"] / ours_emb["scan_s"], 2
            )
        cmp["ratio_datalab_over_ours_peak_rss"] = round(
            peer["peak_rss_mib"] / ours["peak_rss_mib"], 2
        )
    out["b2_comparison"] = cmp
    return out


def definitions() -> dict[str, str]:
    return {
        "label_noise": "truth = is_label_noise (113 flipped train rows); ours = flagged by "
        "`label`; Datalab = is_label_issue.",
        "dark": "truth = is_dark (scanner_c rows, copies included); ours = flagged `dark`; "
        "Datalab has no image-quality checks without cleanvision (not installed): null.",
        "duplicates": "truth = every sample of a planted duplicate group: the copies "
        "(exact_duplicate_of or near_duplicate_of not null) plus the originals they copy; "
        "leak copies and their test originals are NOT in this set although they are "
        "duplicates too (see duplicates_incl_leak_pairs); ours = union of `exact_duplicate` "
        "and `near_duplicate` flags; Datalab = is_near_duplicate_issue.",
        "duplicates_exact_only": "truth = exact copies plus their originals; ours = "
        "`exact_duplicate` flags.",
        "duplicates_near_finder_only": "as duplicates, ours = `near_duplicate` flags alone "
        "(the embedding rule Datalab also uses).",
        "duplicates_incl_leak_pairs": "as duplicates, with the 20 leak copies and their 20 test "
        "originals added to the truth (every planted copy relation).",
        "leakage": "truth = rows with leak_of not null (the 20 copies placed in train); ours = "
        "`leakage` flags; Datalab has no split-aware check, so its best effort is derived: a "
        "sample flagged is_near_duplicate_issue whose near_duplicate_sets (from "
        "get_info('near_duplicate')) hold a sample of a more protected split "
        "(train < val < test) — only the non-test member of a cross-split pair is counted.",
        "rare_class": "truth = is_rare_class (class '2': 23 train + 44 test rows — the truth "
        "marks both splits, so all rows are scored); ours = `imbalance` flags (counts the "
        "train split, flags every labelled row of a rare class); Datalab = "
        "is_class_imbalance_issue (whole dataset, rarest class below 0.1/K).",
        "rare_class_train_only": "as rare_class, restricted to train rows for truth and flags.",
        "outliers": "no planted outliers: counts of flags only (lower is better).",
        "b2_near_duplicate_pair_recall": "planted pairs (copy = source + 0.005 N(0,1) noise "
        "on a 0.6-spread cluster) found: both members flagged, and linked (ours: same "
        "cluster_id; Datalab: copy in the source's near_duplicate_sets).",
        "b2_ours_vs_ours_embeddings_only": "b2_ours runs the five finders with their default "
        "parameters (near_duplicate/label_inconsistency method='auto': also shift-tolerant "
        "pixel matching on the images, here 1x1 dummy arrays, so it costs time and finds "
        "nothing); b2_ours_embeddings_only passes method='embeddings' to the finders that "
        "have a method parameter, the same inputs Datalab uses.",
        "ratio_datalab_over_ours_wall": "Datalab total (constructor + find_issues) / ours "
        "scan(); the _incl_dataset_build variant adds ours' Dataset.from_arrays to the "
        "denominator.",
        "label_issue_jaccard": "|ours ∩ Datalab| / |ours ∪ Datalab| of the 100k label flags.",
    }


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def print_summary(res: dict[str, Any]) -> None:
    a = res.get("part_a", {})
    print("\nPart A — demo data (F1 / precision / recall)")
    print(f"{'problem':<28}{'ours F1':>9}{'P':>7}{'R':>7}{'Datalab F1':>12}{'P':>7}{'R':>7}")
    for name, s in a.get("scores", {}).items():
        if not isinstance(s, dict) or "ours" not in s or not isinstance(s["ours"], dict):
            continue
        o, p = s["ours"], s.get("datalab") or {}
        if "f1" not in o:
            continue
        print(
            f"{name:<28}{_fmt(o['f1']):>9}{_fmt(o['precision']):>7}{_fmt(o['recall']):>7}"
            f"{_fmt(p.get('f1')):>12}{_fmt(p.get('precision')):>7}{_fmt(p.get('recall')):>7}"
        )
    outl = a.get("scores", {}).get("outliers", {})
    print(
        f"{'outliers (count, lower=better)':<28}{_fmt(outl.get('ours_n_flagged')):>9}"
        f"{'':>14}{_fmt(outl.get('datalab_n_flagged')):>12}"
    )
    print(
        f"cross_val_predict {_fmt(a.get('cross_val_predict_s'))} s; ours scan "
        f"{_fmt(a.get('ours_scan_s'))} s; Datalab {_fmt(a.get('datalab_s'))} s"
    )
    b = res.get("part_b")
    if not b:
        return
    b1 = b["b1_label_imbalance_1m"]
    print(f"\nPart B1 — {b1.get('n')} x 10 pred_probs, label + imbalance")
    print(
        f"  from_arrays {_fmt(b1.get('dataset_from_arrays_s'))} s; scan "
        f"{_fmt(b1.get('scan_s'))} s (target < {B1_TARGET_S:.0f} s); peak "
        f"{_fmt(b1.get('peak_rss_mib'))} MiB"
    )
    o, p, c = b["b2_ours"], b["b2_datalab"], b["b2_comparison"]
    print(f"\nPart B2 — {b['b2_data']['n']} x 128 embeddings + pred_probs")
    print(f"{'':<10}{'wall s':>10}{'peak MiB':>10}{'ND recall':>11}{'label flags':>13}")
    print(
        f"{'ours':<10}{_fmt(o.get('scan_s')):>10}{_fmt(o.get('peak_rss_mib')):>10}"
        f"{_fmt(c.get('ours_near_duplicate_pair_recall_both_flagged')):>11}"
        f"{_fmt((o.get('flag_counts') or {}).get('label')):>13}"
    )
    e = b.get("b2_ours_embeddings_only") or {}
    print(
        f"{'ours emb.':<10}{_fmt(e.get('scan_s')):>10}{_fmt(e.get('peak_rss_mib')):>10}"
        f"{_fmt(c.get('ours_embeddings_only_near_duplicate_pair_recall_both_flagged')):>11}"
        f"{_fmt((e.get('flag_counts') or {}).get('label')):>13}"
    )
    dl_wall = p.get("total_s") if not p.get("timed_out") else f">{p['timeout_s']:.0f} (timeout)"
    print(
        f"{'Datalab':<10}{_fmt(dl_wall):>10}{_fmt(p.get('peak_rss_mib')):>10}"
        f"{_fmt(c.get('datalab_near_duplicate_pair_recall_both_flagged')):>11}"
        f"{_fmt((p.get('flag_counts') or {}).get('label')):>13}"
    )
    print(
        f"  ratio Datalab/ours wall {_fmt(c.get('ratio_datalab_over_ours_wall'))} (emb. only "
        f"{_fmt(c.get('ratio_datalab_over_ours_embeddings_only_wall'))}); "
        f"label Jaccard {_fmt(c.get('label_issue_jaccard_ours_vs_datalab'))}"
    )
    print(f"  per-finder (default): {o.get('timings_s')}")
    print(f"  per-finder (emb. only): {e.get('timings_s')}")
    print("\nTargets:", json.dumps(res.get("targets")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shrink part B (50k / 10k rows)")
    ap.add_argument("--skip-part-a", action="store_true", help="run part B only")
    ap.add_argument("--skip-part-b", action="store_true", help="run part A only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--peer-path", default=os.environ.get("DATACENTRIC_BENCH_PEER_PATH"))
    ap.add_argument("--datalab-timeout", type=float, default=DATALAB_TIMEOUT_S)
    ap.add_argument("--job", choices=sorted(JOBS), help=argparse.SUPPRESS)
    ap.add_argument("--job-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--job-arrays", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.job:
        _set_job_threads()
        res = JOBS[args.job](args)
        res.update({k: v for k, v in peak_mib(children=True).items() if k not in res})
        args.job_out.write_text(json.dumps(res, indent=2, default=str))
        return 0

    started = time.perf_counter()
    res: dict[str, Any] = {
        "benchmark": "scan",
        "date": now(),
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(
            ("datacentric", "cleanlab", "polars", "faiss-cpu", "numpy", "torch")
        ),
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_scan_"))
    try:
        if not args.skip_part_a:
            res["part_a"] = run_job("demo", args, tmp, OURS_TIMEOUT_S)
        if not args.skip_part_b:
            res["part_b"] = part_b(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["machine"]["versions"]["datasets (Datalab peer dependency)"] = _peer_datasets_version(
        args.peer_path
    )
    res["definitions"] = definitions()
    res["targets"] = targets(res)
    res["notes"] = notes(res)
    res["total_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print_summary(res)
    print(f"\nwrote {args.out}")
    return 0


def _peer_datasets_version(peer_path: str | None) -> str | None:
    code = "import sys\n"
    if peer_path:
        code += f"sys.path.append({peer_path!r})\n"
    code += "import datasets; print(datasets.__version__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return r.stdout.strip() or None


def targets(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    b = res.get("part_b")
    if b:
        b1 = b["b1_label_imbalance_1m"]
        out["b1_scan_label_imbalance_under_30s"] = {
            "target_s": B1_TARGET_S,
            "n": b1.get("n"),
            "measured_s": b1.get("scan_s"),
            "pass": bool(b1.get("scan_s") is not None and b1["scan_s"] < B1_TARGET_S),
        }
        o, p = b["b2_ours"], b["b2_datalab"]
        ours_s = o.get("scan_s")
        peer_s = p.get("total_s") if not p.get("timed_out") else p.get("timeout_s")
        out["b2_ours_faster_than_datalab"] = {
            "ours_s": ours_s,
            "datalab_s": peer_s,
            "datalab_timed_out": bool(p.get("timed_out")),
            "pass": None if ours_s is None or peer_s is None else bool(ours_s < peer_s),
        }
        e_s = (b.get("b2_ours_embeddings_only") or {}).get("scan_s")
        out["b2_ours_embeddings_only_faster_than_datalab"] = {
            "ours_s": e_s,
            "datalab_s": peer_s,
            "pass": None if e_s is None or peer_s is None else bool(e_s < peer_s),
        }
    return out


def notes(res: dict[str, Any]) -> list[str]:
    out = [
        "Datalab's image-quality figures (dark, ...) are null: Datalab has image checks only "
        "through cleanvision, which is not installed (and needs an image column). null means "
        "'not available', not 0.",
        "Datalab needs the Hugging Face `datasets` package (not a datacentric dependency); it "
        "was imported from --peer-path for the Datalab jobs only.",
        "Both sides get the same out-of-sample pred_probs and embeddings (part A: "
        "cross_val_predict(ds, folds=5, seed=0); part B: the same synthetic arrays).",
        "Each measured job ran in its own subprocess; peak_rss_mib is ru_maxrss(RUSAGE_SELF) "
        "of that process at its end (includes the interpreter, imports and the input arrays).",
        "The machine is shared: load_average_at_start shows concurrent load; timings on 2 "
        "cores are noisy.",
        "scan's per-finder timings charge shared work (the kNN graph, image statistics) to the "
        "first finder that needs it: in part B2 that is `outlier` (see "
        "outlier_step_breakdown_s).",
        "Datalab was run with default settings: find_issues(pred_probs=..., features=...), "
        "default issue types; labels passed as class indices (class order = sorted names).",
    ]
    a = res.get("part_a", {})
    if a.get("datalab_unavailable_reason"):
        out.append(f"Datalab unavailable in part A: {a['datalab_unavailable_reason']}")
    return out


if __name__ == "__main__":
    sys.exit(main())
