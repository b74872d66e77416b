"""Knowledge distillation: the soft targets, the loss, and a student that follows its teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.train import SmallCNNRecipe, SoftTargets, distill
from tests.train.conftest import make_digits


def test_tempered_targets() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(SoftTargets(p, temperature=1.0).tempered, p, atol=1e-6)
    # T = 2: proportional to sqrt(p)
    sq = np.sqrt(p[0]) / np.sqrt(p[0]).sum()
    np.testing.assert_allclose(SoftTargets(p, temperature=2.0).tempered[0], sq, atol=1e-6)
    # a high temperature flattens towards uniform, a zero probability stays tiny but finite
    hot = SoftTargets(p, temperature=100.0).tempered
    assert np.abs(hot[0] - 1 / 3).max() < 0.01
    assert np.isfinite(hot).all()


def test_loss_is_cross_entropy_at_alpha_0_and_zero_when_the_student_matches() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    target = torch.tensor([0, 2])
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    rows = np.array([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert SoftTargets(p, alpha=0.0).loss(logits, target, rows).item() == pytest.approx(ce.item())
    # a student whose tempered softmax equals the tempered teacher: the KL term is 0
    t = 3.0
    student = torch.log(torch.from_numpy(p)).float()  # softmax(student / T) = tempered p
    kd_only = SoftTargets(p, temperature=t, alpha=1.0).loss(student, target, rows)
    assert kd_only.item() == pytest.approx(0.0, abs=1e-6)
    # rows pick the teacher rows: swapping them makes the KL term positive
    assert SoftTargets(p, temperature=t, alpha=1.0).loss(student, target, rows[::-1]).item() > 0.01


def test_student_follows_the_teacher_not_the_labels() -> None:
    """Labels shifted by one class: a teacher-only student predicts the teacher's classes."""
    ds = make_digits(n=300, size=16, split=True)
    train = ds.split("train")
    test = ds.split("test")
    teacher = SmallCNNRecipe(image_size=16, channels="L", epochs=8, width=8).fit(train)
    truth = train.label_indices()
    shifted = make_digits(
        n=300,
        size=16,
        split=True,
        labels=[str((int(v) + 1) % 10) for v in make_digits(n=300, size=16).manifest["label"]],
    ).split("train")
    assert (shifted.label_indices() == (truth + 1) % 10).all()
    params = {"image_size": 16, "channels": "L", "epochs": 8, "width": 4}
    follows = distill(SmallCNNRecipe(**params), teacher, shifted, alpha=1.0, temperature=2.0)
    labels = distill(SmallCNNRecipe(**params), teacher, shifted, alpha=0.0)
    t_pred = teacher.predict(test).pred_probs.argmax(1)
    agree_follow = (follows.predict(test).pred_probs.argmax(1) == t_pred).mean()
    agree_labels = (labels.predict(test).pred_probs.argmax(1) == t_pred).mean()
    assert agree_follow > 0.7
    assert agree_labels < 0.2
    # same input as the teacher: its normalisation
    np.testing.assert_array_equal(follows._mean, teacher._mean)
    np.testing.assert_array_equal(follows._std, teacher._std)


def test_student_at_another_size_keeps_its_own_normalisation() -> None:
    ds = make_digits(n=60, size=16)
    teacher = SmallCNNRecipe(image_size=16, channels="L", epochs=1, width=4).fit(ds)
    student = distill(SmallCNNRecipe(image_size=8, channels="L", epochs=1, width=4), teacher, ds)
    assert student.is_fitted and student.image_size == 8


def test_distill_refusals() -> None:
    ds = make_digits(n=20, size=8)
    with pytest.raises(InvalidParameterError, match="teacher SmallCNNRecipe is not fitted"):
        distill(SmallCNNRecipe(image_size=8), SmallCNNRecipe(image_size=8), ds)
    teacher = SmallCNNRecipe(image_size=8, channels="L", epochs=1, width=4).fit(ds)
    with pytest.raises(InvalidParameterError, match="temperature"):
        distill(SmallCNNRecipe(image_size=8), teacher, ds, temperature=0)
    with pytest.raises(InvalidParameterError, match="alpha"):
        distill(SmallCNNRecipe(image_size=8), teacher, ds, alpha=1.5)
    from datacentric import Dataset

    other = Dataset.from_arrays(np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1], ["a", "b"])
    with pytest.raises(InvalidDatasetError, match="differ from the teacher's"):
        distill(SmallCNNRecipe(image_size=8), teacher, other)
