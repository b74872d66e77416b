"""Hostile input to the streaming image path and the ``device`` parameter.

- ``size=`` asking for a resize past ``max_image_pixels`` is refused before a pixel is
  allocated (``iter_batches`` and ``load_images``): a child's peak RSS stays small.
- A recipe file with a bad ``device`` is a one-line SchemaError naming the file; one saved
  for CUDA loads on a machine without it.
- A link out of the root swapped in is refused at the streamed read that meets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from datacentric.dataset import Dataset  # noqa: E402
from datacentric.exceptions import (  # noqa: E402
    InvalidParameterError,
    PathEscapeError,
    SchemaError,
)
from datacentric.train import SmallCNNRecipe, load_recipe  # noqa: E402
from tests.hostile._child import GIB, run_child  # noqa: E402
from tests.hostile._files import fitted_recipe_state  # noqa: E402


@pytest.mark.parametrize("call", ["iter_batches", "load_images"])
def test_huge_resize_is_refused_before_allocating(call: str) -> None:
    child = run_child(
        f"""
        import numpy as np
        from datacentric.dataset import Dataset
        ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
        out = ds.{call}(size=(60000, 60000))
        if not isinstance(out, np.ndarray):
            next(out)
        """,
        timeout=60,
    )
    assert child.returncode != 0
    last = child.last_error_line
    assert last.startswith("datacentric.exceptions.InvalidParameterError:"), last
    assert "parameter size must be a (height, width) pair" in last
    assert "(60000, 60000)" in last
    assert 0 < child.peak_rss < GIB, child.peak_rss


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return fitted_recipe_state(tmp_path_factory.mktemp("recipe") / "good.pt")


@pytest.mark.parametrize("device", ["gpu", "cuda:-1", 3, "", "cuda:0 ; rm"])
def test_bad_device_in_a_recipe_file(good: dict[str, Any], tmp_path: Path, device: object) -> None:
    path = tmp_path / "bad.pt"
    torch.save({**good, "params": {**good["params"], "device": device}}, path)
    for load in (load_recipe, SmallCNNRecipe.load):
        with pytest.raises(SchemaError) as info:
            load(path)
        msg = str(info.value)
        assert "\n" not in msg
        assert repr(str(path)) in msg and "parameter device must be one of" in msg
        assert repr(device) in msg


def test_file_saved_for_cuda_loads_on_the_cpu(good: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "cuda.pt"
    torch.save({**good, "params": {**good["params"], "device": "cuda:1"}}, path)
    recipe = load_recipe(path)
    assert recipe.device == "cuda:1"
    assert {p.device.type for p in recipe._net.parameters()} == {"cpu"}
    assert SmallCNNRecipe.load(path, device="cpu").device == "cpu"
    with pytest.raises(InvalidParameterError, match=r"SmallCNNRecipe\.load: parameter device"):
        SmallCNNRecipe.load(path, device="quantum")


def test_link_out_of_the_root_is_refused_at_the_streamed_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(outside)
    rels = []
    for i in range(6):
        Image.fromarray(np.full((4, 4), i * 40, np.uint8)).save(root / f"img/{i}.png")
        rels.append(f"img/{i}.png")
    manifest = pl.DataFrame(
        {"sample_id": [f"s{i}" for i in range(6)], "image": rels, "label": ["a", "b"] * 3}
    )
    ds = Dataset(manifest, ["a", "b"], root=root)
    stream = ds.iter_batches(2)
    next(stream)
    (root / "img/4.png").unlink()
    (root / "img/4.png").symlink_to(outside)  # swapped in after the stream started
    with pytest.raises(PathEscapeError) as info:
        list(stream)
    msg = str(info.value)
    assert "s4 -> img/4.png" in msg and "\n" not in msg
    with pytest.raises(PathEscapeError, match=r"s4 -> img/4\.png"):
        SmallCNNRecipe(image_size=8, epochs=1, width=2, embedding_dim=2).fit(ds)
