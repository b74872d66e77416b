"""Quantization-aware training: BatchNorm folding, fake-quantization, fine-tuning, qat-int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datacentric import Dataset
from datacentric.exceptions import InvalidDatasetError
from datacentric.export import compress, fine_tune_qat
from datacentric.export.onnx import fitted_net, normalised_inputs, torch_logits
from datacentric.export.qat import fake_quant_network, float_network
from datacentric.train import SmallCNNRecipe

FAST = {"latency_repeats": 2, "min_n": 5}


def _state(net: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def test_folded_copy_computes_the_same_logits(recipe: SmallCNNRecipe, digits_ds: Dataset) -> None:
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, digits_ds.split("test"))
    fq, n = fake_quant_network(fn.net)
    # grayscale input: the first conv (1 channel) stays float; 2 convs + 2 linear layers wrapped
    assert n == 4
    folded = float_network(fq)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    np.testing.assert_allclose(torch_logits(folded, x), torch_logits(fn.net, x), atol=1e-4)
    # with fake-quantization off, the fake-quant network is the float one
    fq.eval()
    fq.apply(torch.ao.quantization.disable_fake_quant)
    fq.apply(torch.ao.quantization.disable_observer)
    np.testing.assert_allclose(torch_logits(fq, x), torch_logits(fn.net, x), atol=1e-4)


def test_fake_quantized_weights_take_at_most_255_values_per_channel(
    recipe: SmallCNNRecipe,
) -> None:
    fq, _ = fake_quant_network(fitted_net(recipe).net)
    wrapped = [m for m in fq.modules() if hasattr(m, "weight_fq")]
    layer = wrapped[0]
    layer.eval()
    with torch.no_grad():
        w = layer.weight_fq(layer.inner.weight)
    for row in w.reshape(w.shape[0], -1):
        values = torch.unique(row)
        assert 1 < len(values) <= 255
    # symmetric int8: every value is an integer multiple of its channel's scale in [-127, 127]
    scale = layer.weight_fq.scale.reshape(-1, *([1] * (w.dim() - 1)))
    q = (w / scale).numpy()
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    assert np.abs(q).max() <= 127 + 1e-3


def test_fine_tune_is_seeded_and_leaves_the_recipe_alone(
    recipe: SmallCNNRecipe, digits_ds: Dataset
) -> None:
    before = _state(recipe._net)
    train = digits_ds.split("train")
    a = fine_tune_qat(recipe, train, epochs=2, seed=3)
    b = fine_tune_qat(recipe, train, epochs=2, seed=3)
    after = _state(recipe._net)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    sa, sb = _state(a.float), _state(b.float)
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.epochs == 2 and a.n_train == len(train) and a.lr == pytest.approx(recipe.lr * 0.01)
    assert a.objective == "match_float"
    # the weights moved (it trained), and the observers are frozen: a forward in train mode
    # does not change the ranges any more
    folded = float_network(fake_quant_network(recipe._net)[0])
    assert any(not np.allclose(v, _state(folded)[k]) for k, v in sa.items())
    scales = [m.scale.clone() for m in a.fake_quant.modules() if hasattr(m, "scale")]
    x = normalised_inputs(fitted_net(recipe), train)[:8]
    a.fake_quant.train()
    with torch.no_grad():
        a.fake_quant["head"](a.fake_quant["features"](torch.from_numpy(x)))
    after_scales = [m.scale for m in a.fake_quant.modules() if hasattr(m, "scale")]
    assert all(torch.equal(s, t) for s, t in zip(scales, after_scales, strict=True))


def test_qat_int8_target_matches_its_fake_quant_model(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    import onnx

    rep = compress(recipe, digits_ds, targets="qat-int8", out_dir=tmp_path, max_drop=1.0, **FAST)
    art = rep["qat-int8"]
    assert art.path is not None and art.path.name == "model-qat-int8.onnx"
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["model-qat-int8.onnx"]
    model = onnx.load(str(art.path))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(t.data_type == onnx.TensorProto.INT8 for t in model.graph.initializer)
    assert art.size_ratio < 0.5
    assert art.extra["agreement_with_fake_quant"] >= 0.95
    assert art.extra["n_fake_quantized_layers"] == 4
    assert art.extra["n_train"] == len(digits_ds.split("train"))
    assert rep.manifest["artefacts"][0]["agreement_with_fake_quant"] >= 0.95


def test_qat_needs_labeled_training_rows(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    imgs = digits_ds.split("train").load_images(size=(16, 16), mode="L")[..., 0]
    unlabeled = Dataset.from_arrays(imgs, [None] * len(imgs), list(digits_ds.classes))
    with pytest.raises(InvalidDatasetError, match=r"qat-int8: .* 0 labeled"):
        compress(
            recipe, digits_ds, train_ds=unlabeled, targets="qat-int8", out_dir=tmp_path, **FAST
        )
    assert not list(tmp_path.glob("*.onnx"))


def test_match_float_keeps_the_model_where_labels_would_move_it(
    recipe: SmallCNNRecipe, digits_ds: Dataset
) -> None:
    """Training rows with every label shifted by one class: fitting the labels moves the
    predictions away from the float model; matching the float model keeps them."""
    train = digits_ds.split("train")
    imgs = train.load_images(size=(16, 16), mode="L")[..., 0]
    shifted = [str((int(v) + 1) % 10) for v in train.manifest["label"]]
    wrong = Dataset.from_arrays(imgs, shifted, list(digits_ds.classes))
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, digits_ds.split("test"))
    ref = torch_logits(fn.net, x).argmax(1)
    kept = fine_tune_qat(recipe, wrong, epochs=3, lr_scale=0.3, objective="match_float")
    moved = fine_tune_qat(recipe, wrong, epochs=3, lr_scale=0.3, objective="labels")
    agree_kept = (torch_logits(kept.fake_quant, x).argmax(1) == ref).mean()
    agree_moved = (torch_logits(moved.fake_quant, x).argmax(1) == ref).mean()
    assert agree_kept > 0.8  # 0.90 here
    assert agree_moved < 0.5  # 0.31 here
    with pytest.raises(Exception, match="objective must be one of match_float, labels"):
        fine_tune_qat(recipe, train, objective="bogus")
