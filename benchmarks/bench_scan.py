"""Benchmark ``datacentric.scan``: detection quality on the demo data, and speed at scale.

Run ``python benchmarks/bench_scan.py [--quick]``; writes ``benchmarks/results/scan.json``
and prints a summary table.

The peer is cleanlab's ``Datalab``, run on the same inputs (labels, out-of-sample
``pred_probs``, embeddings) with the issue types that have a counterpart among ours
(``MATCHED``: label, outlier, near_duplicate, class_imbalance), its default parameters for
them, and the same job limits (one timeout and one memory cap for every job, see
``_harness``). The JSON names the finders / issue types each side ran and their parameters.

Part A — detection quality on the bundled demo data (planted problems with a ground truth,
see ``docs/demo-data.md``). ``pred_probs`` and embeddings come from
``cross_val_predict(ds, folds=5, seed=0)``; ours is ``scan(...)`` with every registered
finder (image checks, exact duplicates and leakage have no Datalab counterpart: their
peer figures are null or derived, see ``definitions``), Datalab runs ``MATCHED``. Precision,
recall and F1 per planted problem; the planted counts are read from the ground truth.

Part B — scale and speed, on seeded synthetic data (shrunk by ``--quick``):

1. 1,000,000 samples x 10 classes of ``pred_probs``: ``scan`` with the ``label`` and
   ``imbalance`` finders (target: under 30 s; building the ``Dataset`` is timed apart).
2. 100,000 samples x 128-dim embeddings (a clustered Gaussian mixture with planted near
   duplicates and outliers) + 10-class ``pred_probs``: ours with the ``MATCHED`` finders
   on embeddings (``method="embeddings"``) vs Datalab with the ``MATCHED`` issue types,
   same arrays (target: ours faster), ``--repeats`` times each (default 2), interleaved; each
   side's fastest run is kept and every run's time is listed. Agreement with the planted
   problems and between the two sides is reported.

Every measured job runs in its own subprocess (this script re-invoked with ``--job``) so
that its peak resident memory is its own. Datalab needs the Hugging Face ``datasets``
package (not a datacentric dependency): ``make bench-peers`` installs it into
``benchmarks/.peers``; ``--peer-path`` (or ``DATACENTRIC_BENCH_PEER_PATH``) points there
and is appended to ``sys.path`` of the Datalab jobs only. Without it the peer's figures are
recorded as unavailable. (datasets 5.2 with pyarrow 26 fails inside ``Dataset.from_dict``
with a dill ``PicklingError``; datasets 3.6 with pyarrow 19 works.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Benchmark, fmt, jaccard, ok, print_table

K_CLASSES = 10
B1_TARGET_S = 30.0
# ours' finder -> Datalab's issue type of the same problem; both sides run these, no more
MATCHED = {
    "label": "label",
    "outlier": "outlier",
    "near_duplicate": "near_duplicate",
    "imbalance": "class_imbalance",
}
_RANK = {"train": 0, "val": 1, "test": 2}
PRF = ("f1", "precision", "recall")


# --------------------------------------------------------------------------- helpers
def prf(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 of boolean flags against a boolean truth."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())

    # F1 = 2TP / (2TP + FP + FN): 0 when nothing planted was found (even with no flags),
    # undefined only when nothing was planted nor flagged
    def ratio(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    return {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_flagged": int(pred.sum()),
        "n_true": int(truth.sum()),
    }


def _masks(result: Any, ids: list[str], types: Any) -> dict[str, np.ndarray]:
    """Boolean flags of ``result`` per issue type, in the order of ``ids``."""
    index = {s: i for i, s in enumerate(ids)}
    out = {}
    for t in types:
        m = np.zeros(len(ids), dtype=bool)
        m[[index[s] for s in result.flagged(t)["sample_id"].to_list()]] = True
        out[t] = m
    return out


def _matched_finders() -> list[Any]:
    """Ours' ``MATCHED`` finders, with ``method="embeddings"`` where they have a method."""
    from datacentric.issues import REGISTRY

    out = []
    for name in MATCHED:
        cls = REGISTRY.get(name)
        out.append(cls(method="embeddings") if "method" in cls().get_params() else cls())
    return out


def warm_imports() -> None:
    """Import what ``scan`` imports lazily (cleanlab, faiss), so that neither side's timed
    region holds imports: Datalab's class is imported before its clock starts too."""
    import importlib

    for name in ("cleanlab.filter", "cleanlab.rank", "cleanlab.outlier", "faiss",
                 "cleanlab.experimental.label_issues_batched"):  # fmt: skip
        importlib.import_module(name)


def run_ours(ds: Any, probs: np.ndarray, emb: np.ndarray, finders: Any) -> dict[str, Any]:
    """``scan`` on given arrays (``finders=None``: every registered finder): time, flags,
    the finders that ran and their parameters."""
    from datacentric.issues import REGISTRY, scan
    from datacentric.issues.knn import EXACT_MAX

    warm_imports()
    t0 = time.perf_counter()
    result = scan(ds, predictions=probs, embeddings=emb, finders=finders, cross_validate=False)
    seconds = time.perf_counter() - t0
    masks = _masks(result, ds.sample_ids, result.issue_types)
    return {
        "scan_s": round(seconds, 3),
        "finders_ran": list(result.params),
        "registered_finders_not_run": sorted(set(REGISTRY.names()) - set(result.params)),
        "params": result.params,
        "knn_search": "faiss exact" if len(ds) <= EXACT_MAX else "faiss HNSW (approximate)",
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "flag_counts": {t: int(m.sum()) for t, m in masks.items()},
        "_masks": masks,
        "_result": result,
    }


def _import_datalab(peer_path: str | None) -> tuple[Any, str | None]:
    """cleanlab's Datalab class, or None and the reason it cannot be used."""
    if peer_path and peer_path not in sys.path:
        sys.path.append(peer_path)
    try:
        import datasets  # noqa: F401  (Datalab's own requirement)
    except ImportError:
        return None, (
            "cleanlab Datalab needs the Hugging Face `datasets` package, which is not "
            "installed; pass --peer-path DIR with it installed there (make bench-peers)"
        )
    # not `from cleanlab import Datalab`: that name is a stub when cleanlab was imported
    # before `datasets` became importable
    from cleanlab.datalab.datalab import Datalab

    return Datalab, None


def run_datalab(labels: np.ndarray, probs: np.ndarray, emb: np.ndarray, peer_path: str | None):
    """Datalab with the ``MATCHED`` issue types on the same arrays: time, flags, parameters."""
    datalab_cls, why = _import_datalab(peer_path)
    if datalab_cls is None:
        return {"unavailable": why}
    from cleanlab.datalab.internal.issue_manager_factory import list_default_issue_types
    from cleanlab.datalab.internal.task import Task

    issue_types: dict[str, dict[str, Any]] = {t: {} for t in MATCHED.values()}
    requested = {t: dict(v) for t, v in issue_types.items()}  # find_issues adds the arrays
    not_run = sorted(set(list_default_issue_types(Task.CLASSIFICATION)) - set(issue_types))
    t0 = time.perf_counter()
    lab = datalab_cls(data={"label": labels.tolist()}, label_name="label")
    init_s = time.perf_counter() - t0
    lab.find_issues(pred_probs=probs, features=emb, issue_types=issue_types)
    total_s = time.perf_counter() - t0
    issues = lab.get_issues()
    masks = {c[3:-6]: issues[c].to_numpy(dtype=bool) for c in issues.columns if c.startswith("is_")}
    scalar = (bool, int, float, str, type(None))
    info = {  # what Datalab's get_info reports per issue type: its parameters, a few results
        t: {k: v for k, v in lab.get_info(t).items() if isinstance(v, scalar)} for t in issue_types
    }
    knn = lab.get_info("outlier").get("knn")
    return {
        "init_s": round(init_s, 3),
        "find_issues_s": round(total_s - init_s, 3),
        "total_s": round(total_s, 3),
        "issue_types_requested": requested,
        "issue_types_ran": lab.get_issue_summary()["issue_type"].tolist(),
        "default_issue_types_not_run": not_run,
        "get_info_scalars": json.loads(json.dumps(info, default=float)),
        "knn_search": None
        if knn is None
        else f"{type(knn).__module__}.{type(knn).__name__}(algorithm={knn.algorithm!r}, "
        f"metric={knn.metric!r})",
        "flag_counts": {k: int(v.sum()) for k, v in masks.items()},
        "_masks": masks,
        "_near_sets": list(lab.get_info("near_duplicate")["near_duplicate_sets"]),
    }


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- part A
def _split_aware_leaks(near_sets: list[Any], is_dup: np.ndarray, splits: list[str]):
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


def _truth_sets(truth: Any, ds: Any) -> dict[str, np.ndarray]:
    """The planted problems of the demo as boolean masks in manifest order."""
    ids = np.asarray(ds.sample_ids, dtype=object)
    sets = {
        "label_noise": truth["is_label_noise"].to_numpy(),
        "dark": truth["is_dark"].to_numpy(),
        "rare_class": truth["is_rare_class"].to_numpy(),
        "is_train": np.array([s == "train" for s in ds.manifest["split"].to_list()]),
    }
    for kind in ("exact_duplicate", "near_duplicate", "leak"):
        col = truth[f"{kind}_of"]
        sets[f"{kind}_copy"] = col.is_not_null().to_numpy()
        sets[f"{kind}_source"] = np.isin(ids, col.drop_nulls().to_list())
    sets["exact_group"] = sets["exact_duplicate_copy"] | sets["exact_duplicate_source"]
    sets["duplicate_group"] = (
        sets["exact_group"] | sets["near_duplicate_copy"] | sets["near_duplicate_source"]
    )
    sets["rare_class_train"] = sets["rare_class"] & sets["is_train"]
    return sets


def _truth_counts(t: dict[str, np.ndarray], truth: Any, ds: Any) -> dict[str, Any]:
    rare = sorted(set(truth.filter(truth["is_rare_class"])["true_label"].to_list()))
    splits = ds.manifest["split"].to_numpy()
    return {
        "n_samples": len(ds),
        "label_noise": int(t["label_noise"].sum()),
        "dark": int(t["dark"].sum()),
        "exact_duplicate_copies": int(t["exact_duplicate_copy"].sum()),
        "near_duplicate_copies": int(t["near_duplicate_copy"].sum()),
        "duplicates": int(t["duplicate_group"].sum()),
        "duplicates_exact_only": int(t["exact_group"].sum()),
        "leakage": int(t["leak_copy"].sum()),
        "leak_sources": int(t["leak_source"].sum()),
        "rare_classes": rare,
        "rare_class": int(t["rare_class"].sum()),
        "rare_class_by_split": {
            s: int((t["rare_class"] & (splits == s)).sum()) for s in sorted(set(splits))
        },
        "rare_class_train_only": int(t["rare_class_train"].sum()),
    }


def job_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Part A: materialise the demo, cross-validate once, run ours and Datalab, score."""
    from datacentric.datasets import load_demo, load_ground_truth
    from datacentric.train import cross_val_predict

    out: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="bench_scan_demo_"))
    try:
        ds = load_demo(root, seed=0)
        truth = load_ground_truth(root)
        if truth["sample_id"].to_list() != ds.sample_ids:
            truth = ds.manifest.select("sample_id").join(truth, on="sample_id", how="left")
        out["n_samples"], out["n_classes"] = len(ds), len(ds.classes)
        t0 = time.perf_counter()
        preds = cross_val_predict(ds, folds=5, seed=0)
        out["cross_val_predict_s"] = round(time.perf_counter() - t0, 2)
        pos = {s: i for i, s in enumerate(preds.sample_ids)}
        order = np.array([pos[s] for s in ds.sample_ids])
        probs = np.asarray(preds.pred_probs, dtype=np.float64)[order]
        emb = np.asarray(preds.embeddings, dtype=np.float32)[order]
        labels = ds.label_indices()
        t = _truth_sets(truth, ds)
        true_idx = np.array([ds.classes.index(c) for c in truth["true_label"].to_list()])
        out["cv_accuracy_vs_given"] = round(float((probs.argmax(1) == labels).mean()), 4)
        out["cv_accuracy_vs_true"] = round(float((probs.argmax(1) == true_idx).mean()), 4)
        out["embedding_dim"] = int(emb.shape[1])

        # ours: every registered finder (quality); the MATCHED ones alone (like-for-like time)
        ours = run_ours(ds, probs, emb, finders=None)
        out["ours"] = _public(ours)
        out["ours_matched_only"] = _public(run_ours(ds, probs, emb, _matched_finders()))
        dl = run_datalab(labels, probs, emb, args.peer_path)
        out["datalab"] = _public(dl)
        o = ours["_masks"]
        p: dict[str, Any] = dl.get("_masks") or {}
        if p:
            splits = ds.manifest["split"].to_list()
            p["leakage"] = _split_aware_leaks(dl["_near_sets"], p["near_duplicate"], splits)
            p["rare_class_train"] = p["class_imbalance"] & t["is_train"]

        def both(truth_mask: np.ndarray, ours_mask: np.ndarray, peer: str | None) -> dict:
            peer_mask = p.get(peer) if peer else None
            return {
                "ours": prf(ours_mask, truth_mask),
                "datalab": None if peer_mask is None else prf(peer_mask, truth_mask),
            }

        dups = o["exact_duplicate"] | o["near_duplicate"]
        dups_and_leaks = t["duplicate_group"] | t["leak_copy"] | t["leak_source"]
        s: dict[str, Any] = {
            "label_noise": both(t["label_noise"], o["label"], "label"),
            "dark": both(t["dark"], o["dark"], None),
            "duplicates": both(t["duplicate_group"], dups, "near_duplicate"),
            "duplicates_exact_only": both(t["exact_group"], o["exact_duplicate"], None),
            "duplicates_near_finder_only": both(
                t["duplicate_group"], o["near_duplicate"], "near_duplicate"
            ),
            "duplicates_incl_leak_pairs": both(dups_and_leaks, dups, "near_duplicate"),
            "leakage": both(t["leak_copy"], o["leakage"], "leakage"),
            "rare_class": both(t["rare_class"], o["imbalance"], "class_imbalance"),
            "rare_class_train_only": both(
                t["rare_class_train"], o["imbalance"] & t["is_train"], "rare_class_train"
            ),
        }
        scored = {"label", "dark", "exact_duplicate", "near_duplicate", "leakage", "imbalance"}
        s["other_issue_types_flag_counts"] = {
            "note": "no planted problem of these kinds (the 'dark' scanner is also low contrast)",
            "ours": {k: int(m.sum()) for k, m in o.items() if k not in scored | {"outlier"}},
            "datalab": None,
        }
        s["outliers"] = {
            "note": "no planted outliers: every flag is a false alarm (lower is better)"
        }
        for side, m in (("ours", o["outlier"]), ("datalab", p.get("outlier"))):
            s["outliers"][f"{side}_n_flagged"] = None if m is None else int(m.sum())
            s["outliers"][f"{side}_flagged_breakdown"] = (
                None
                if m is None
                else {k: int((m & t[k]).sum()) for k in ("dark", "label_noise", "rare_class")}
            )
        out["scores"] = s
        out["truth_counts"] = _truth_counts(t, truth, ds)
        out["diagnostics"] = _demo_diagnostics(ours["_result"], truth, ds, emb)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _demo_diagnostics(result: Any, truth: Any, ds: Any, emb: np.ndarray) -> dict[str, Any]:
    """Facts that explain misses: the near-duplicate radius and the planted pairs' distances."""
    import polars as pl

    from datacentric.issues import ScanContext
    from datacentric.issues.knn import knn, normalize_rows

    x = normalize_rows(emb)
    median_nn = float(np.median(knn(x, 10, normalized=True).distances[:, 0]))
    index = {s: i for i, s in enumerate(ds.sample_ids)}
    near_params = result.params.get("near_duplicate", {})
    radius = near_params.get("threshold", 0.13) * max(median_nn, 1e-6)
    max_ham = int(near_params.get("max_hamming", 4))
    hashes = ScanContext(ds).image_stats["phash"].cast(pl.UInt64).to_numpy().astype(np.uint64)

    def spread(v: list[float], limit: float, key: str) -> dict[str, Any]:
        return {
            "min": min(v) if v else None,
            "median": float(np.median(v)) if v else None,
            "max": max(v) if v else None,
            key: int(sum(d <= limit for d in v)),
            "n": len(v),
        }

    cosine, hamming = {}, {}
    for kind in ("exact_duplicate_of", "near_duplicate_of", "leak_of"):
        rows = truth.filter(pl.col(kind).is_not_null()).select("sample_id", kind).rows()
        d = [round(float(1.0 - x[index[a]] @ x[index[b]]), 6) for a, b in rows]
        h = [int(bin(int(hashes[index[a]] ^ hashes[index[b]])).count("1")) for a, b in rows]
        cosine[kind] = spread(d, radius, "within_radius")
        hamming[kind] = spread(h, max_ham, "within_max_hamming")
    return {
        "median_nn_cosine_distance": round(median_nn, 6),
        "near_duplicate_radius": round(radius, 6),
        "planted_pair_cosine_distance": cosine,
        "max_hamming": max_ham,
        "planted_pair_phash_hamming": hamming,
    }


# --------------------------------------------------------------------------- part B data
def make_pred_probs(
    rng: np.random.Generator, n: int, k: int, noise_rate: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def make_b2(n: int, dim: int, seed: int, path: Path) -> None:
    """Clustered embeddings (5 clusters per class) with planted near duplicates and outliers."""
    rng = np.random.default_rng(seed)
    given, probs, flip, true = make_pred_probs(rng, n, K_CLASSES)
    centers = rng.normal(size=(K_CLASSES * 5, dim)).astype(np.float32)
    cluster = true * 5 + rng.integers(0, 5, n)
    emb = centers[cluster] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    n_pairs, n_out = max(10, n // 1000), max(10, n // 2000)
    chosen = rng.choice(n, size=2 * n_pairs + n_out, replace=False)
    src, dst, outliers = chosen[:n_pairs], chosen[n_pairs : 2 * n_pairs], chosen[2 * n_pairs :]
    emb[dst] = emb[src] + 0.005 * rng.normal(size=(n_pairs, dim)).astype(np.float32)
    given[dst], probs[dst], flip[dst] = given[src], probs[src], flip[src]
    # outliers: a direction unrelated to every cluster, far from the data's mean direction
    emb[outliers] = 3.0 * rng.normal(size=(n_out, dim)).astype(np.float32)
    np.savez(
        path,
        labels=given,
        pred_probs=probs,
        embeddings=emb.astype(np.float32),
        is_flipped=flip,
        cluster=cluster,
        dup_src=src,
        dup_dst=dst,
        outliers=outliers,
    )


def b2_facts(path: Path, seed: int) -> dict[str, Any]:
    """What the B2 data holds, read from the arrays."""
    d = np.load(path)
    return {
        "n": int(d["labels"].shape[0]),
        "dim": int(d["embeddings"].shape[1]),
        "classes": int(d["pred_probs"].shape[1]),
        "clusters": int(np.unique(d["cluster"]).size),
        "planted_near_duplicate_pairs": int(d["dup_src"].size),
        "planted_outliers": int(d["outliers"].size),
        "flipped_labels": int(d["is_flipped"].sum()),
        "seed": seed,
    }


# --------------------------------------------------------------------------- part B jobs
def job_b1_ours(args: argparse.Namespace) -> dict[str, Any]:
    """1M x 10 pred_probs: Dataset.from_arrays, then scan(label, imbalance)."""
    from datacentric.dataset import Dataset
    from datacentric.issues import scan

    n, rng = args.n, np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    labels, probs, flip, _ = make_pred_probs(rng, n, K_CLASSES)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(
        np.zeros((n, 1, 1), np.uint8), labels, [f"c{i}" for i in range(K_CLASSES)]
    )
    build_s = time.perf_counter() - t0
    warm_imports()
    t0 = time.perf_counter()
    result = scan(ds, predictions=probs, finders=["label", "imbalance"], cross_validate=False)
    scan_s = time.perf_counter() - t0
    masks = _masks(result, ds.sample_ids, ["label", "imbalance"])
    return {
        "n": n,
        "generate_s": round(gen_s, 3),
        "dataset_from_arrays_s": round(build_s, 3),
        "scan_s": round(scan_s, 3),
        "finders_ran": list(result.params),
        "params": result.params,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "label_vs_flipped": prf(masks["label"], flip),
        "n_imbalance_flagged": int(masks["imbalance"].sum()),
    }


def job_b2_ours(args: argparse.Namespace) -> dict[str, Any]:
    """The B2 arrays: Dataset.from_arrays, then scan with the MATCHED finders."""
    from datacentric.dataset import Dataset

    data = np.load(args.data)
    labels, probs, emb = data["labels"], data["pred_probs"], data["embeddings"]
    n = labels.shape[0]
    t0 = time.perf_counter()
    ds = Dataset.from_arrays(
        np.zeros((n, 1, 1), np.uint8), labels, [f"c{i}" for i in range(K_CLASSES)]
    )
    build_s = time.perf_counter() - t0
    ours = run_ours(ds, probs, emb, _matched_finders())
    nd = ours["_result"].issues.filter(ours["_result"].issues["issue_type"] == "near_duplicate")
    cluster = np.full(n, -1, dtype=np.int64)
    cluster[nd["sample_id"].cast(int).to_numpy()] = nd["cluster_id"].fill_null(-1).to_numpy()
    np.savez(args.job_arrays, cluster=cluster, **ours["_masks"])
    return {
        "n": n,
        "dataset_from_arrays_s": round(build_s, 3),
        "total_s": round(build_s + ours["scan_s"], 3),
        **_public(ours),
    }


def job_b2_datalab(args: argparse.Namespace) -> dict[str, Any]:
    """The same arrays through Datalab with the MATCHED issue types."""
    data = np.load(args.data)
    res = run_datalab(data["labels"], data["pred_probs"], data["embeddings"], args.peer_path)
    if "_masks" in res:
        # linked[i]: the planted copy of source i is in i's near-duplicate set
        sets = res["_near_sets"]
        linked = np.array(
            [
                int(d) in set(np.asarray(sets[s]).tolist())
                for s, d in zip(data["dup_src"], data["dup_dst"], strict=True)
            ]
        )
        np.savez(args.job_arrays, linked=linked, **res["_masks"])
    return {"n": int(data["labels"].shape[0]), **_public(res)}


# --------------------------------------------------------------------------- orchestration
def _b2_scores(side: str, arrays: Any, d: Any) -> dict[str, Any]:
    """One side's B2 flags against the planted problems."""
    src, dst = d["dup_src"], d["dup_dst"]
    nd = arrays["near_duplicate"]
    planted = np.zeros(len(nd), dtype=bool)
    planted[src] = planted[dst] = True
    out = {
        f"{side}_near_duplicate_pair_recall_both_flagged": round(
            float((nd[src] & nd[dst]).mean()), 4
        ),
        f"{side}_near_duplicate_vs_planted": prf(nd, planted),
        f"{side}_outlier_vs_planted": prf(
            arrays["outlier"], np.isin(np.arange(len(nd)), d["outliers"])
        ),
        f"{side}_label_vs_flipped": prf(arrays["label"], d["is_flipped"]),
    }
    if "cluster" in arrays.files:
        cl = arrays["cluster"]
        out[f"{side}_near_duplicate_pair_recall_linked"] = round(
            float(((cl[src] >= 0) & (cl[src] == cl[dst])).mean()), 4
        )
    if "linked" in arrays.files:
        out[f"{side}_near_duplicate_pair_recall_linked"] = round(float(arrays["linked"].mean()), 4)
    return out


def _best(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run that finished (each side's best on the shared machine), its arrays
    kept; the last record when none finished."""
    done = [r for r in results if ok(r) and r.get("total_s") is not None]
    best = min(done, key=lambda r: r["total_s"]) if done else results[-1]
    for r in results:
        if r is not best:
            r.pop("_arrays", None)
    return {**best, "repeats": len(results)}


def part_b(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    n1, n2 = (50_000, 10_000) if args.quick else (1_000_000, 100_000)
    out: dict[str, Any] = {"b1_label_imbalance_1m": jobs("b1_ours", n=n1, seed=1)}
    data = jobs.tmp / "b2.npz"
    make_b2(n2, 128, seed=2, path=data)
    out["b2_data"] = b2_facts(data, seed=2)
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "datalab": []}
    for rep in range(args.repeats):  # interleaved: the machine's load hits both sides alike
        runs["ours"].append(jobs("b2_ours", tag=f"b2_ours_{rep}", data=data))
        runs["datalab"].append(jobs("b2_datalab", tag=f"b2_datalab_{rep}", data=data))
    ours, peer = _best(runs["ours"]), _best(runs["datalab"])
    d = np.load(data)
    cmp: dict[str, Any] = {}
    arrays = {}
    for side, rec in (("ours", ours), ("datalab", peer)):
        if "_arrays" in rec:
            arrays[side] = np.load(rec.pop("_arrays"))
            cmp.update(_b2_scores(side, arrays[side], d))
    if len(arrays) == 2:
        o, p = arrays["ours"], arrays["datalab"]
        cmp["agreement_jaccard_ours_vs_datalab"] = {
            ours_t: jaccard(o[ours_t], p[dl_t]) for ours_t, dl_t in MATCHED.items()
        }
    walls = {k: [r.get("total_s") for r in v] for k, v in runs.items()}
    cmp["wall_s_of_every_run"] = walls
    cmp["ratio_datalab_over_ours_wall_per_repeat"] = [
        round(b / a, 2) if a and b else None
        for a, b in zip(walls["ours"], walls["datalab"], strict=True)
    ]
    if ok(ours) and ok(peer) and "total_s" in ours and "total_s" in peer:
        cmp["ratio_datalab_over_ours_wall"] = round(peer["total_s"] / ours["total_s"], 2)
        cmp["ratio_datalab_find_issues_over_ours_scan"] = round(
            peer["find_issues_s"] / ours["scan_s"], 2
        )
        cmp["ratio_datalab_over_ours_peak_rss"] = round(
            peer["peak_rss_mib"] / ours["peak_rss_mib"], 2
        )
    out.update({"b2_ours": ours, "b2_datalab": peer, "b2_comparison": cmp})
    return out


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"matched_issue_types": {"ours_finder_to_datalab_issue_type": MATCHED}}
    if not args.skip_part_a:
        out["part_a"] = jobs("demo")
    if not args.skip_part_b:
        out["part_b"] = part_b(args, jobs)
    return out


# --------------------------------------------------------------------------- report
def definitions(res: dict[str, Any]) -> dict[str, str]:
    c = res.get("part_a", {}).get("truth_counts", {})
    rare_split = ", ".join(f"{n} {s}" for s, n in c.get("rare_class_by_split", {}).items() if n)
    b2 = res.get("part_b", {}).get("b2_data", {})
    return {
        "label_noise": f"truth = is_label_noise ({c.get('label_noise')} flipped rows); ours = "
        "flagged by `label`; Datalab = is_label_issue.",
        "dark": f"truth = is_dark ({c.get('dark')} rows, copies included); ours = flagged "
        "`dark`; Datalab has no image-quality checks without cleanvision (not installed): null.",
        "duplicates": f"truth = every sample of a planted duplicate group ({c.get('duplicates')}"
        ": the exact and near copies plus the originals they copy); leak copies and their "
        "test originals are NOT in this set although they are duplicates too (see "
        "duplicates_incl_leak_pairs); ours = union of `exact_duplicate` and `near_duplicate` "
        "flags; Datalab = is_near_duplicate_issue.",
        "duplicates_exact_only": f"truth = exact copies plus their originals "
        f"({c.get('duplicates_exact_only')}); ours = `exact_duplicate` flags.",
        "duplicates_near_finder_only": "as duplicates, ours = `near_duplicate` flags alone "
        "(the embedding rule Datalab also uses).",
        "duplicates_incl_leak_pairs": f"as duplicates, with the {c.get('leakage')} leak copies "
        f"and their {c.get('leak_sources')} test originals added to the truth.",
        "leakage": f"truth = rows with leak_of not null ({c.get('leakage')} copies placed in "
        "train); ours = `leakage` flags; Datalab has no split-aware check, so its best effort "
        "is derived: a sample flagged is_near_duplicate_issue whose near_duplicate_sets hold "
        "a sample of a more protected split (train < val < test) — only the non-test member "
        "of a cross-split pair is counted.",
        "rare_class": f"truth = is_rare_class (class {c.get('rare_classes')}: {rare_split} "
        "rows — the truth marks every split, so all rows are scored); ours = `imbalance` "
        "flags (counts the train split, flags every labelled row of a rare class); Datalab = "
        "is_class_imbalance_issue (whole dataset, rarest class below 0.1/K).",
        "rare_class_train_only": "as rare_class, restricted to train rows for truth and flags.",
        "outliers": "no planted outliers: counts of flags only (lower is better).",
        "part_a_timings": "part_a.ours runs every registered finder (image statistics "
        "included), part_a.datalab the MATCHED issue types: not the same work; "
        "part_a.ours_matched_only is ours with the MATCHED finders, the like-for-like time.",
        "b2_near_duplicate_pair_recall": f"the {b2.get('planted_near_duplicate_pairs')} planted "
        "pairs (copy = source + 0.005 N(0,1) noise on a 0.6-spread cluster) found: both "
        "members flagged, and linked (ours: same cluster_id; Datalab: copy in the source's "
        "near_duplicate_sets).",
        "ratio_datalab_over_ours_wall": "Datalab total (constructor + find_issues) / ours "
        "total (Dataset.from_arrays + scan), both with the MATCHED issue types on the same "
        "arrays; ratio_datalab_find_issues_over_ours_scan leaves both constructors out.",
        "agreement_jaccard": "|ours ∩ Datalab| / |ours ∪ Datalab| of the B2 flags, per "
        "MATCHED pair (null when neither side flags anything).",
    }


def targets(res: dict[str, Any]) -> dict[str, Any]:
    b = res.get("part_b")
    if not b:
        return {}
    b1, o, p = b["b1_label_imbalance_1m"], b["b2_ours"], b["b2_datalab"]
    ours_s = o.get("total_s")
    peer_s = p.get("timeout_s") if p.get("timed_out") else p.get("total_s")
    return {
        "b1_scan_label_imbalance_under_30s": {
            "target_s": B1_TARGET_S,
            "n": b1.get("n"),
            "measured_s": b1.get("scan_s"),
            "pass": bool(b1.get("scan_s") is not None and b1["scan_s"] < B1_TARGET_S),
        },
        "b2_ours_faster_than_datalab_same_issue_types": {
            "ours_s": ours_s,
            "datalab_s": peer_s,
            "datalab_timed_out": bool(p.get("timed_out")),
            "pass": None if ours_s is None or peer_s is None else bool(ours_s < peer_s),
        },
    }


def notes(res: dict[str, Any]) -> list[str]:
    out = [
        "Equal work: both sides run the MATCHED issue types (ours: label, outlier, "
        "near_duplicate, imbalance; Datalab: label, outlier, near_duplicate, class_imbalance) "
        "on the same labels, pred_probs and embeddings, each with its default parameters for "
        "them (params / get_info_scalars); ours' near_duplicate uses method='embeddings' "
        "(no pixel matching: Datalab sees no images). Ours' label_inconsistency and Datalab's "
        "null, non_iid and underperforming_group (on by default) have no counterpart and "
        "are not run.",
        "Imports are outside the timed regions on both sides: Datalab's class is imported "
        "before its clock starts, and so are cleanlab and faiss, which scan imports lazily.",
        "Equal limits: every job has the same timeout and memory cap (limits). B2 runs each "
        "side --repeats times, interleaved (ours, Datalab, ours, ...), and keeps each side's "
        "fastest run; wall_s_of_every_run and the per-repeat ratios show the spread.",
        "Both sides find neighbours differently: ours with faiss (exact up to "
        "datacentric.issues.knn.EXACT_MAX rows, HNSW above: approximate, recall@10 about 0.99 "
        "on 100k x 128), Datalab with scikit-learn's exact search (knn_search).",
        "Both sides use every core (faiss / BLAS threads); the machine is shared: "
        "load_average_at_start / _at_end show the concurrent load.",
        "Each measured job ran in its own subprocess; peak_rss_mib is ru_maxrss of that "
        "process at its end (interpreter, imports and the input arrays included).",
        "scan's per-finder timings charge shared work (the kNN graph) to the first finder "
        "that needs it: in B2 that is `outlier`.",
        "Datalab's image-quality figures (dark, ...) are null: Datalab has image checks only "
        "through cleanvision, which is not installed. null means 'not available', not 0.",
    ]
    why = res.get("part_a", {}).get("datalab", {}).get("unavailable")
    if why:
        out.append(f"Datalab unavailable: {why}")
    return out


def summary(res: dict[str, Any]) -> None:
    a = res.get("part_a")
    if a and "scores" in a:
        rows = [
            (name, *(s["ours"][k] for k in PRF), *((s["datalab"] or {}).get(k) for k in PRF))
            for name, s in a["scores"].items()
            if isinstance(s.get("ours"), dict) and "f1" in s["ours"]
        ]
        out = a["scores"]["outliers"]
        rows.append(("outliers (flags)", out["ours_n_flagged"], None, None,
                     out["datalab_n_flagged"], None, None))  # fmt: skip
        print_table("Part A — demo data", ["problem", "ours F1", "P", "R", "Datalab F1", "P", "R"],
                    rows)  # fmt: skip
        print(
            f"  cross_val_predict {fmt(a.get('cross_val_predict_s'))} s; ours all finders "
            f"{fmt(a['ours'].get('scan_s'))} s, matched {fmt(a['ours_matched_only'].get('scan_s'))}"
            f" s; Datalab {fmt(a['datalab'].get('total_s'))} s"
        )
    b = res.get("part_b")
    if not b:
        return
    b1, o, p, c = b["b1_label_imbalance_1m"], b["b2_ours"], b["b2_datalab"], b["b2_comparison"]
    print(
        f"\nPart B1 — {b1.get('n')} x 10 pred_probs, label + imbalance: scan "
        f"{fmt(b1.get('scan_s'))} s (target < {B1_TARGET_S:.0f} s)"
    )
    dl_wall = p.get("total_s") if not p.get("timed_out") else f">{p['timeout_s']:.0f} (timeout)"
    print_table(
        f"Part B2 — {b['b2_data'].get('n')} x 128 embeddings + pred_probs, same issue types",
        ["", "wall s", "peak MiB", "ND pair recall", "label flags"],
        [
            (
                "ours",
                o.get("total_s"),
                o.get("peak_rss_mib"),
                c.get("ours_near_duplicate_pair_recall_both_flagged"),
                (o.get("flag_counts") or {}).get("label"),
            ),
            (
                "Datalab",
                dl_wall,
                p.get("peak_rss_mib"),
                c.get("datalab_near_duplicate_pair_recall_both_flagged"),
                (p.get("flag_counts") or {}).get("label"),
            ),
        ],
    )
    print(
        f"  ratio Datalab/ours wall {fmt(c.get('ratio_datalab_over_ours_wall'))}; "
        f"agreement {c.get('agreement_jaccard_ours_vs_datalab')}"
    )
    print("Targets:", json.dumps({k: v.get("pass") for k, v in res.get("targets", {}).items()}))


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--skip-part-a", action="store_true", help="run part B only")
    ap.add_argument("--skip-part-b", action="store_true", help="run part A only")
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved B2 runs of each side, the fastest kept (default 2; 1 with --quick)",
    )


BENCH = Benchmark(
    name="scan",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    jobs={
        "demo": job_demo,
        "b1_ours": job_b1_ours,
        "b2_ours": job_b2_ours,
        "b2_datalab": job_b2_datalab,
    },
    packages=("datacentric", "cleanlab", "scikit-learn", "faiss-cpu", "polars", "numpy", "torch"),
    peer_packages=("datasets", "pyarrow"),
    options=options,
    quick_help="shrink part B (50k / 10k rows); written to a temp file",
    definitions=definitions,
    targets=targets,
    notes=notes,
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
