"""Crafted model files: a one-line error naming the file, no big allocation, no code run.

A 12 KB recipe file that asks for ``width=3000`` used to cost 4 GB; a file's state dict is
now checked against the network built on the ``meta`` device before anything is allocated.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from datacentric import config_context  # noqa: E402
from datacentric.exceptions import (  # noqa: E402
    InvalidParameterError,
    LimitExceededError,
    SchemaError,
)
from datacentric.train import ResNet18Recipe, SmallCNNRecipe, load_recipe, make_recipe  # noqa: E402
from tests.hostile._child import GIB, run_child  # noqa: E402
from tests.hostile._files import crafted_recipes, fitted_recipe_state  # noqa: E402


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("recipe") / "good.pt"
    return path, fitted_recipe_state(path)


def _save(path: Path, content: Any) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def _wide(state: dict[str, Any], width: int) -> dict[str, Any]:
    out = dict(state)
    out["params"] = {**state["params"], "width": width}
    return out


def test_good_file_loads(good: tuple[Path, dict[str, Any]]) -> None:
    path, _ = good
    recipe = load_recipe(path)
    assert isinstance(recipe, SmallCNNRecipe) and recipe.width == 2 and recipe.is_fitted


def test_width_3000_file_is_refused_in_bounded_memory(
    good: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path = _save(tmp_path / "wide.pt", _wide(good[1], 3000))
    assert path.stat().st_size < 64 * 1024
    child = run_child(
        f"""
        import json
        from datacentric.exceptions import InvalidParameterError, LimitExceededError
        from datacentric.train import load_recipe
        try:
            load_recipe({str(path)!r})
        except LimitExceededError as exc:
            assert isinstance(exc, InvalidParameterError), type(exc)
            print(json.dumps([type(exc).__name__, str(exc)]))
        """,
        timeout=180,
    )
    assert child.returncode == 0, child.stderr
    name, message = json.loads(child.stdout.strip().splitlines()[-1])
    assert name == "ParameterLimitError"  # a LimitExceededError and an InvalidParameterError
    assert str(path) in message and "width=3000" in message and "max_recipe_width" in message
    # the constructor's one-form message, prefixed with the file
    with pytest.raises(LimitExceededError) as direct:
        SmallCNNRecipe(width=3000)
    assert message.endswith(f"{str(path)!r}: {direct.value}"), message
    assert 0 < child.peak_rss < GIB, child.peak_rss


def test_raised_width_limit_still_allocates_nothing_before_the_shape_check(
    good: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    # the limit raised for a trusted file: the state dict still has to match the network
    path = _save(tmp_path / "wide.pt", _wide(good[1], 3000))
    child = run_child(
        f"""
        import json
        from datacentric.train import load_recipe
        try:
            load_recipe({str(path)!r})
        except Exception as exc:
            print(json.dumps([type(exc).__name__, str(exc)]))
        """,
        timeout=180,
        env={"DATACENTRIC_MAX_RECIPE_WIDTH": "4000"},
    )
    assert child.returncode == 0, child.stderr
    name, message = json.loads(child.stdout.strip().splitlines()[-1])
    assert name == "SchemaError"
    assert str(path) in message and "'features.0.weight' has shape [2, 1, 3, 3]" in message
    assert "expected [3000, 1, 3, 3]" in message
    assert 0 < child.peak_rss < GIB, child.peak_rss


def test_crafted_files_are_one_line_schema_errors(
    good: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    cases = crafted_recipes(good[1], marker)
    assert len(cases) >= 18
    for case, (content, fragment) in cases.items():
        path = _save(tmp_path / f"{case}.pt", content)
        for load in (load_recipe, SmallCNNRecipe.load):
            with pytest.raises(SchemaError) as exc:
                load(path)
            msg = str(exc.value)
            assert "\n" not in msg, (case, msg)
            assert repr(str(path)) in msg, (case, msg)
            if load is load_recipe or case not in ("not_a_mapping", "other_format"):
                assert fragment in msg, (case, msg)
    assert not marker.exists()


def test_malicious_pickles_never_run(good: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cases = crafted_recipes(good[1], marker)
    for case in ("raw_pickle", "torch_pickle"):
        path = _save(tmp_path / f"{case}.pt", cases[case][0])
        for load in (load_recipe, SmallCNNRecipe.load, ResNet18Recipe.load):
            with pytest.raises(SchemaError, match="could not be read"):
                load(path)
        weights = ResNet18Recipe(image_size=16, epochs=1)
        weights.weights = str(path)
        with pytest.raises(SchemaError, match="could not be read as a weights file"):
            weights._init_state()
    assert not marker.exists()


def test_truncated_files(good: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data = good[0].read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30, 0):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(data[:cut])
        with pytest.raises(SchemaError, match=r"not the zip archive torch\.save writes") as exc:
            load_recipe(path)
        assert str(path) in str(exc.value)


def test_compressed_archive_is_refused(good: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "deflated.pt"
    with zipfile.ZipFile(good[0]) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    with pytest.raises(SchemaError, match="compressed entries"):
        load_recipe(path)


def test_constructor_bounds(tmp_path: Path) -> None:
    limit = r"must be an integer in \[1, 1024\] \(the max_recipe_width setting\); received "
    with pytest.raises(LimitExceededError, match=rf"parameter width {limit}2048 .*=2048"):
        SmallCNNRecipe(width=2048)
    with pytest.raises(LimitExceededError, match=rf"parameter embedding_dim {limit}5000"):
        SmallCNNRecipe(embedding_dim=5000)
    with config_context(max_recipe_width=4096):
        assert SmallCNNRecipe(width=2048).width == 2048
    for kwargs, match in [
        ({"width": 0}, rf"width {limit}0 \(int\)"),
        ({"width": 2.5}, rf"width {limit}2.5 \(float\)"),
        ({"image_size": 4096}, r"image_size must be an integer in \[8, 512\]; received 4096"),
        ({"num_threads": 10**6}, r"num_threads must be an integer in \[1, 256\]; received 10"),
    ]:
        with pytest.raises(InvalidParameterError, match="^SmallCNNRecipe: parameter " + match):
            SmallCNNRecipe(**kwargs)
    with pytest.raises(
        InvalidParameterError, match=r"parameter image_size must be an integer in \[16, 512\]; "
    ):
        ResNet18Recipe(image_size=10_000)
    with pytest.raises(
        InvalidParameterError,
        match=r"^make_recipe: parameter dropout must be one of the parameter names of recipe "
        r"'small_cnn': 'image_size', .*; received 0.1 \(float\)",
    ):
        make_recipe("small_cnn", dropout=0.1)


def test_resnet_weights_file_checked_on_meta(tmp_path: Path) -> None:
    state = {"conv1.weight": torch.zeros(1).expand(64, 3, 7, 7)}
    path = _save(tmp_path / "w.pt", state)
    recipe = ResNet18Recipe(image_size=16, epochs=1, weights=path)
    with pytest.raises(SchemaError, match="does not match torchvision's resnet18 backbone") as exc:
        recipe._init_state()
    assert repr(str(path)) in str(exc.value) and "\n" not in str(exc.value)
