"""Small fixed training runs whose predictions are recorded (``data/stream_baseline.npz``).

The recording was made with the code before images were streamed (every training image
decoded into one array); ``test_streaming.py`` checks that today's code gives the very same
bits. A recording holds the environment it was made in, and the bits are only compared in
the same one: record one for another environment by running this module *with the code
before streaming* (commit d317600: ``git worktree add /tmp/old d317600``, copy this module
there and run ``python -m tests.train._stream_runs`` from it), which writes
``data/stream_baseline_<cpu model>.npz``.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from datacentric.dataset import Dataset

BASELINE = Path(__file__).parent / "data" / "stream_baseline.npz"
CLASSES = ["a", "b", "c"]


def make_folder(root: Path, n: int = 45, seed: int = 7) -> Dataset:
    """``n`` seeded PNGs of mixed sizes and modes (RGB, L, RGBA) under ``root``, 3 classes."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = CLASSES[i % 3]
        h, w = (20, 24) if i % 4 else (28, 18)
        base = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        base[:, : w // 3, i % 3] = 255  # a class-dependent stripe
        mode = ("RGB", "L", "RGBA")[i % 5 % 3]
        im = Image.fromarray(base).convert(mode)
        rel = f"images/{label}/{i:03d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        im.save(root / rel)
        rows.append(rel)
    import polars as pl

    manifest = pl.DataFrame(
        {
            "sample_id": [f"s{i:03d}" for i in range(n)],
            "image": rows,
            "label": [CLASSES[i % 3] if i % 9 != 4 else None for i in range(n)],
            "split": ["train"] * n,
        }
    )
    return Dataset(manifest, CLASSES, root=root)


def runs(root: Path) -> dict[str, np.ndarray]:
    """pred_probs and embeddings of the fixed runs (names → arrays)."""
    from datacentric.train import ResNet18Recipe, SmallCNNRecipe

    ds = make_folder(root)
    out: dict[str, np.ndarray] = {}
    configs = {
        # 40 labeled rows: batches of 16, 16, 8; augmentation on
        "cnn_rgb": SmallCNNRecipe(image_size=16, epochs=2, batch_size=16, width=4, embedding_dim=8),
        "cnn_l": SmallCNNRecipe(
            image_size=12, channels="L", epochs=2, batch_size=13, width=4, embedding_dim=8
        ),
        "cnn_noaug": SmallCNNRecipe(
            image_size=16, epochs=1, batch_size=7, augment=False, width=4, embedding_dim=8
        ),
        # 40 rows in batches of 13: the last batch has one row (trained as that row twice)
        "resnet": ResNet18Recipe(image_size=16, epochs=1, batch_size=13),
    }
    for name, recipe in configs.items():
        recipe.fit(ds, seed=3)
        preds = recipe.predict(ds, batch_size=10)
        out[f"{name}_probs"] = preds.pred_probs
        out[f"{name}_emb"] = preds.embeddings
    return out


def environment() -> dict[str, str]:
    """What the bits depend on besides the code: the recording is only compared where equal."""
    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # the same AVX512 capability gives other bits on an AMD EPYC than where the first
        # recording was made (its CPU model was not recorded)
        "cpu_model": cpu_model(),
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def baselines() -> list[Path]:
    """Every recording: ``data/stream_baseline*.npz``, one per environment recorded."""
    return sorted(BASELINE.parent.glob("stream_baseline*.npz"))


def recorded_environment(recorded: Any) -> dict[str, str]:
    """The environment a recording was made in (``"unrecorded"`` for a key it lacks)."""
    keys = environment().keys()
    return {k: str(recorded[f"env_{k}"]) if f"env_{k}" in recorded.files else "unrecorded"
            for k in keys}  # fmt: skip


if __name__ == "__main__":  # pragma: no cover - records the baseline
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        arrays = runs(Path(tmp))
    env = environment()
    slug = "".join(c if c.isalnum() else "_" for c in env["cpu_model"]).strip("_").lower()
    out = BASELINE.with_name(f"stream_baseline_{slug}.npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays, **{f"env_{k}": np.array(v) for k, v in env.items()})
    print("recorded", out, env, file=sys.stderr)
