"""Image-quality false alarms and recall, dataset-relative rule against the absolute one.

Two datasets with known answers, each scanned by ``ImageQualityFinder(mode=...)`` for both
modes (the image statistics are computed once per dataset):

- ``demo``: the bundled demo as shipped (``load_demo``); planted quality problem: the dark,
  low-contrast, out-of-focus ``scanner_c`` (``is_dark`` in its ground truth). Every other
  image is clean.
- ``lowres``: the demo's kind of data as the issue met it — the same digits, upsampled from
  8x8 to 32x32 without smoothing (``NEAREST``) and without sensor noise, so every image has
  few grey levels — with a degraded-camera slice of ``DEGRADED_SHARE`` of the images:
  darker (pixels x a factor uniform in ``DARKEN``) and blurred (Gaussian, radius ``BLUR``).

Per dataset, mode and sub-type: the false-alarm rate (share of the clean images flagged)
and, on the planted images, recall (and precision) of the sub-types that describe them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DEGRADED_SHARE = 0.06
DARKEN = (0.18, 0.34)
BLUR = 1.2
LOWRES_N = 1200
TARGET_FALSE_ALARM = 0.02


def lowres_dataset(n: int = LOWRES_N, seed: int = 0) -> tuple[Any, np.ndarray]:
    """Upsampled low-resolution digits with a planted degraded slice; ``(dataset, planted)``."""
    from PIL import Image, ImageFilter
    from sklearn.datasets import load_digits

    from datacentric.dataset import Dataset

    digits = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(digits.images))[:n]
    planted = np.zeros(len(idx), dtype=bool)
    planted[rng.permutation(len(idx))[: round(DEGRADED_SHARE * len(idx))]] = True
    images = []
    for i, bad in zip(idx, planted, strict=True):
        ink = (digits.images[i] * 255 / 16).astype(np.uint8)
        paper = Image.fromarray(255 - ink).resize((32, 32), Image.Resampling.NEAREST)
        rgb = paper.convert("RGB")
        if bad:
            rgb = rgb.filter(ImageFilter.GaussianBlur(BLUR))
            rgb = Image.fromarray((np.asarray(rgb) * rng.uniform(*DARKEN)).astype(np.uint8))
        images.append(np.asarray(rgb))
    labels = [str(t) for t in digits.target[idx]]
    return Dataset.from_arrays(images, labels, classes=[str(c) for c in range(10)]), planted


def score(table: Any, planted: np.ndarray, ids: list[str]) -> dict[str, Any]:
    """Per sub-type: flagged count, false-alarm rate on clean rows, recall and precision."""
    import polars as pl

    truth = pl.DataFrame({"sample_id": ids, "planted": planted})
    t = table.join(truth, on="sample_id")
    out: dict[str, Any] = {}
    for kind in sorted(t["issue_type"].unique()):
        k = t.filter(pl.col("issue_type") == kind)
        flag = k["is_issue"].to_numpy()
        bad = k["planted"].to_numpy()
        hits = int((flag & bad).sum())
        out[kind] = {
            "flagged": int(flag.sum()),
            "false_alarm_rate": round(float(flag[~bad].mean()), 4) if (~bad).any() else None,
            "recall_on_planted": round(hits / int(bad.sum()), 4) if bad.any() else None,
            "precision": round(hits / int(flag.sum()), 4) if flag.any() else None,
        }
    return out


def measure_quality(demo: Path) -> dict[str, Any]:
    """False alarms and recall for both modes on the demo and on the low-resolution set."""
    from datacentric.dataset import Dataset
    from datacentric.datasets import load_ground_truth
    from datacentric.issues.context import ScanContext
    from datacentric.issues.image_quality import ImageQualityFinder

    ds = Dataset.open(demo)
    truth = load_ground_truth(demo)
    lowres, lowres_planted = lowres_dataset()
    sets = {
        "demo": (ds, truth["is_dark"].to_numpy(), "planted = is_dark (scanner_c)"),
        "lowres": (lowres, lowres_planted, "planted = the degraded-camera slice"),
    }
    out: dict[str, Any] = {
        "config": {
            "lowres_n": LOWRES_N,
            "degraded_share": DEGRADED_SHARE,
            "darken": list(DARKEN),
            "blur_radius": BLUR,
            "finder_params": ImageQualityFinder().get_params(),
        }
    }
    for name, (data, planted, note) in sets.items():
        ctx = ScanContext(data)
        ctx.image_stats  # noqa: B018  (computed once, shared by both modes)
        ids = list(data.sample_ids)
        out[name] = {
            "n": len(ids),
            "n_planted": int(planted.sum()),
            "note": note,
            **{
                mode: score(ImageQualityFinder(mode=mode).find(ctx), planted, ids)
                for mode in ("relative", "absolute")
            },
        }
    return out


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    from datacentric.datasets import load_demo

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo"
    if not (root / "manifest.parquet").exists():
        load_demo(root, seed=0)
    print(json.dumps(measure_quality(root), indent=1))
