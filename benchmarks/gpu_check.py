"""Device check: one cross-validation fold of the demo data trained on CUDA and on the CPU.

Usage::

    python benchmarks/gpu_check.py                 # writes benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --epochs 3 --out /tmp/gpu.json

The demo dataset (``datacentric.datasets.load_demo``, 1,797 digits of 32x32) is written to a
temporary folder; fold ``--fold`` of a stratified 5-fold split of its labeled rows (the split
``cross_val_predict`` makes for ``seed``) is held out. Two comparisons, each with a stated
tolerance:

1. **Same weights, two devices** (inference only): the recipe trained on the CPU predicts the
   held-out fold on the CPU and on CUDA. The only differences are float32 kernels (cuDNN,
   TF32 convolutions on Ampere and later): ``max |Δ pred_probs| <= 5e-3``.
2. **Trained on each device** with the same seed (same initial weights, same batches, same
   augmentation draws; the CUDA kernels round differently and some backward kernels are not
   deterministic, so the weights drift apart over the epochs): held-out accuracy within
   ``0.02`` and predicted classes agreeing on ``>= 95 %`` of the rows; ``max |Δ pred_probs|``
   is reported (not bounded: one digit near a decision boundary can flip).

Without CUDA (``torch.cuda.is_available()`` false) the script writes a JSON that says it did
not run, and why, and exits 0. ``--device-b cpu`` runs the whole comparison CPU against CPU
(a smoke test of the script itself: every difference is then exactly 0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_OUT = Path(__file__).parent / "results" / "gpu_check.json"
TOL_SAME_WEIGHTS = 5e-3  # max |Δ pred_probs|, same weights on both devices
TOL_ACCURACY = 0.02  # |Δ accuracy| of the models trained on each device
MIN_AGREEMENT = 0.95  # share of held-out rows with the same predicted class


def _environment(device_b: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        index = (torch.device(device_b).index or 0) if device_b.startswith("cuda") else 0
        info["device_name"] = torch.cuda.get_device_name(index)
        info["device_capability"] = list(torch.cuda.get_device_capability(index))
        info["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
    return info


def _fold(ds: Any, fold: int, seed: int) -> tuple[Any, Any]:
    """(train, held-out) datasets: fold ``fold`` of a stratified 5-fold split of the labeled
    rows (``StratifiedKFold(5, shuffle=True, random_state=seed)``, as cross_val_predict)."""
    import polars as pl
    from sklearn.model_selection import StratifiedKFold

    y = ds.label_indices()
    labeled = np.flatnonzero(y >= 0)
    splits = list(
        StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(
            np.zeros((len(labeled), 1)), y[labeled]
        )
    )
    train_pos, test_pos = splits[fold]
    ids = np.asarray(ds.sample_ids)
    train_ids = ids[labeled[train_pos]].tolist()
    test_ids = ids[labeled[test_pos]].tolist()
    return (
        ds.filter(pl.col("sample_id").is_in(train_ids)),
        ds.filter(pl.col("sample_id").is_in(test_ids)),
    )


def _accuracy(preds: Any, ds: Any) -> float:
    return float(np.mean(preds.predicted_indices() == ds.label_indices()))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from datacentric.datasets import load_demo
    from datacentric.train import SmallCNNRecipe

    result: dict[str, Any] = {
        "benchmark": "gpu_check",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": _environment(args.device_b),
        "devices": ["cpu", args.device_b],
    }
    if args.device_b.startswith("cuda") and not torch.cuda.is_available():
        result |= {
            "ran": False,
            "reason": "no CUDA device on this machine (torch.cuda.is_available() is False); "
            "run this script on a machine with a GPU",
        }
        return result
    params = {"epochs": args.epochs, "num_threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_demo(Path(tmp) / "demo", seed=0, commit=False)
        train, test = _fold(ds, args.fold, args.seed)
        timings: dict[str, float] = {}
        preds: dict[str, Any] = {}
        recipes: dict[str, Any] = {}
        for key, device in (("a", "cpu"), ("b", args.device_b)):
            recipe = SmallCNNRecipe(**params, device=device)
            start = time.perf_counter()
            recipe.fit(train, seed=args.seed)
            timings[f"fit_{key}_s"] = round(time.perf_counter() - start, 2)
            start = time.perf_counter()
            preds[key] = recipe.predict(test)
            timings[f"predict_{key}_s"] = round(time.perf_counter() - start, 2)
            recipes[key] = recipe
        # the CPU-trained weights, predicted on the second device
        recipes["a"].device = args.device_b
        same_weights = recipes["a"].predict(test)
        recipes["a"].device = "cpu"

    a, b = preds["a"], preds["b"]
    d_same = float(np.abs(same_weights.pred_probs - a.pred_probs).max())
    d_trained = np.abs(b.pred_probs - a.pred_probs)
    acc_a, acc_b = _accuracy(a, test), _accuracy(b, test)
    agreement = float(np.mean(a.predicted_indices() == b.predicted_indices()))
    checks = {
        "same_weights_max_abs_diff_ok": d_same <= TOL_SAME_WEIGHTS,
        "accuracy_diff_ok": abs(acc_a - acc_b) <= TOL_ACCURACY,
        "agreement_ok": agreement >= MIN_AGREEMENT,
    }
    result |= {
        "ran": True,
        "setup": {
            "dataset": "load_demo(seed=0), 32x32 RGB",
            "train_rows": len(train),
            "held_out_rows": len(test),
            "fold": args.fold,
            "seed": args.seed,
            "recipe": f"SmallCNNRecipe({', '.join(f'{k}={v}' for k, v in params.items())})",
        },
        "same_weights": {
            "max_abs_diff_pred_probs": d_same,
            "tolerance": TOL_SAME_WEIGHTS,
            "pred_probs_dtype": str(same_weights.pred_probs.dtype),
        },
        "trained_on_each": {
            "accuracy_cpu": acc_a,
            "accuracy_device_b": acc_b,
            "accuracy_diff": acc_b - acc_a,
            "accuracy_tolerance": TOL_ACCURACY,
            "predicted_class_agreement": agreement,
            "min_agreement": MIN_AGREEMENT,
            "max_abs_diff_pred_probs": float(d_trained.max()),
            "mean_abs_diff_pred_probs": float(d_trained.mean()),
        },
        "timings_s": timings,
        "checks": checks,
        "passed": all(checks.values()),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON to write")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--fold", type=int, default=0, choices=range(5), help="held-out fold")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the CPU run")
    parser.add_argument(
        "--device-b", default="cuda", help="the device compared with the CPU (default cuda)"
    )
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not result["ran"]:
        print(f"gpu_check did not run: {result['reason']}. Wrote {args.out}.")
        return 0
    same, each = result["same_weights"], result["trained_on_each"]
    print(
        f"gpu_check ({result['environment'].get('device_name', args.device_b)}): same weights "
        f"max|Δp| = {same['max_abs_diff_pred_probs']:.2e} (tolerance {TOL_SAME_WEIGHTS}); "
        f"trained on each: accuracy {each['accuracy_cpu']:.4f} (cpu) vs "
        f"{each['accuracy_device_b']:.4f} ({args.device_b}), "
        f"agreement {each['predicted_class_agreement']:.3f}, "
        f"max|Δp| = {each['max_abs_diff_pred_probs']:.3f}; "
        f"{'PASSED' if result['passed'] else 'FAILED'}. Wrote {args.out}."
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
