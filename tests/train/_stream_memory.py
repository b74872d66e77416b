"""Child-process program of the bounded-memory test: train and predict on N generated PNGs.

``python -c`` runs :func:`main` in a fresh process (``tests/hostile/_child.run_child``) so its
peak RSS is that of training and predicting alone.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

SIDE = 64  # decoded: 12 KiB per image (RGB)


def write_images(root: Path, n: int, seed: int = 0) -> None:
    """``n`` PNG files under ``root/images`` (16 distinct encoded images, written as bytes:
    fast) and a manifest of 2 classes."""
    rng = np.random.default_rng(seed)
    blobs = []
    for k in range(16):
        arr = rng.integers(0, 256, size=(SIDE, SIDE, 3), dtype=np.uint8)
        arr[:, : SIDE // 2, k % 2] = 255
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=0)
        blobs.append(buf.getvalue())
    (root / "images").mkdir(parents=True, exist_ok=True)
    rels = []
    for i in range(n):
        rel = f"images/{i:06d}.png"
        (root / rel).write_bytes(blobs[i % 16])
        rels.append(rel)
    pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "image": rels,
            "label": [("a", "b")[i % 16 % 2] for i in range(n)],
            "split": ["train"] * n,
        }
    ).write_parquet(root / "manifest.parquet")


def main(root: str, cache_bytes: int = 1 << 20) -> None:
    """Train one epoch and predict every image; print the seconds taken.

    ``cache_bytes`` (the ``train_cache_bytes`` setting) is below the decoded size of the
    test's training sets by default: the path a training set too large for the cache takes.
    """
    from datacentric import config_context
    from datacentric.dataset import Dataset
    from datacentric.train import SmallCNNRecipe

    manifest = pl.read_parquet(Path(root) / "manifest.parquet")
    ds = Dataset(manifest, ["a", "b"], root=root)
    start = time.perf_counter()
    recipe = SmallCNNRecipe(
        image_size=SIDE, epochs=1, batch_size=64, width=2, embedding_dim=4, augment=False
    )
    with config_context(train_cache_bytes=cache_bytes):
        recipe.fit(ds, seed=0)
    preds = recipe.predict(ds)
    assert preds.pred_probs.shape == (len(ds), 2)
    print(f"seconds={time.perf_counter() - start:.1f}")
