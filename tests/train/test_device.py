"""``device="auto" | "cpu" | "cuda" | "cuda:N"`` on the torch recipes.

This machine may have no GPU: the CUDA runs are skipped then, and what must hold without
one is tested (auto is the CPU, bit for bit; a recipe saved for CUDA loads and runs here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datacentric.dataset import Dataset  # noqa: E402
from datacentric.exceptions import InvalidParameterError  # noqa: E402
from datacentric.train import ResNet18Recipe, SmallCNNRecipe, load_recipe  # noqa: E402
from datacentric.train._torch_recipe import TorchDevice, resolve_device  # noqa: E402

CUDA = torch.cuda.is_available()
TINY = {"image_size": 8, "epochs": 2, "batch_size": 8, "width": 2, "embedding_dim": 4}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)
    return Dataset.from_arrays(images, [0, 1, 2] * 8, ["a", "b", "c"])


def test_default_is_auto_and_is_a_parameter() -> None:
    recipe = SmallCNNRecipe()
    assert recipe.device == "auto" and recipe.get_params()["device"] == "auto"
    assert repr(SmallCNNRecipe(device="cpu")) == "SmallCNNRecipe(device='cpu')"
    assert ResNet18Recipe(device="cuda:1").clone().device == "cuda:1"  # checked when it runs


@pytest.mark.parametrize("bad", [*TorchDevice().invalid_values(), None, "cuda:", "auto "])
@pytest.mark.parametrize("cls", [SmallCNNRecipe, ResNet18Recipe])
def test_bad_device_is_a_one_line_parameter_error(cls: type, bad: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        cls(device=bad)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{cls.__name__}: parameter device must be one of 'auto', 'cpu'")
    assert repr(bad) in msg and "device='auto' (the default)" in msg


def test_auto_resolves_to_what_the_machine_has() -> None:
    assert resolve_device("x", "auto").type == ("cuda" if CUDA else "cpu")
    assert resolve_device("x", "cpu") == torch.device("cpu")


@pytest.mark.skipif(CUDA, reason="checks the message on a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_says_how_to_fix(ds: Dataset, device: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        SmallCNNRecipe(**TINY, device=device).fit(ds)
    msg = str(info.value)
    assert "\n" not in msg
    assert "parameter device must be a device this machine has (no CUDA device" in msg
    assert repr(device) in msg and "device='auto'" in msg


@pytest.mark.skipif(CUDA, reason="auto is CUDA on this machine")
def test_auto_on_cpu_is_bit_identical_to_cpu(ds: Dataset) -> None:
    auto = SmallCNNRecipe(**TINY).fit(ds, seed=2).predict(ds)
    cpu = SmallCNNRecipe(**TINY, device="cpu").fit(ds, seed=2).predict(ds)
    assert np.array_equal(auto.pred_probs, cpu.pred_probs)
    assert np.array_equal(auto.embeddings, cpu.embeddings)


def test_fitted_weights_stay_on_the_cpu_and_outputs_are_numpy(ds: Dataset) -> None:
    recipe = SmallCNNRecipe(**TINY).fit(ds)
    assert recipe._net is not None
    assert {p.device.type for p in recipe._net.parameters()} == {"cpu"}
    preds = recipe.predict(ds)
    assert isinstance(preds.pred_probs, np.ndarray) and preds.pred_probs.dtype == np.float64
    assert {p.device.type for p in recipe._net.parameters()} == {"cpu"}


def test_a_recipe_saved_for_cuda_loads_and_runs_without_it(ds: Dataset, tmp_path: Path) -> None:
    recipe = SmallCNNRecipe(**TINY, device="cpu").fit(ds, seed=1)
    expected = recipe.predict(ds)
    recipe.device = "cuda"  # as saved on a GPU machine
    path = tmp_path / "cuda.pt"
    recipe.save(path)
    saved = torch.load(path, weights_only=True)
    assert saved["params"]["device"] == "cuda"
    assert {t.device.type for t in saved["state_dict"].values()} == {"cpu"}
    loaded = load_recipe(path)
    assert loaded.device == "cuda" and loaded.is_fitted
    if not CUDA:
        with pytest.raises(InvalidParameterError, match="device='auto'"):
            loaded.predict(ds)
    for again in (
        SmallCNNRecipe.load(path, device="auto"),
        SmallCNNRecipe().load(path, device="cpu"),
    ):
        assert again.device in ("auto", "cpu")
        preds = again.predict(ds)
        if again.device == "cpu" or not CUDA:
            assert np.array_equal(preds.pred_probs, expected.pred_probs)
    with pytest.raises(InvalidParameterError, match="parameter device"):
        SmallCNNRecipe.load(path, device="tpu")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_matches_cpu_within_tolerance(ds: Dataset) -> None:  # pragma: no cover - GPU only
    cpu = SmallCNNRecipe(**TINY, device="cpu").fit(ds, seed=3).predict(ds)
    gpu = SmallCNNRecipe(**TINY, device="cuda").fit(ds, seed=3).predict(ds)
    assert gpu.pred_probs.dtype == np.float64
    assert np.abs(gpu.pred_probs - cpu.pred_probs).max() < 1e-3
