"""Bad predictions, embeddings and annotations give clear errors naming the rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import SchemaError
from datacentric.issues.context import ScanContext


@pytest.fixture
def ds() -> Dataset:
    return Dataset.from_arrays(np.zeros((4, 2, 2)), [0, 1, 0, None], ["a", "b"])


def test_pred_probs_wrong_shape(ds: Dataset) -> None:
    with pytest.raises(SchemaError, match=r"shape \(n_samples, n_classes\) = \(4, 2\).*\(4, 3\)"):
        ScanContext(ds, pred_probs=np.full((4, 3), 1 / 3))


def test_pred_probs_nan_names_rows(ds: Dataset) -> None:
    p = np.full((4, 2), 0.5)
    p[2, 0] = np.nan
    with pytest.raises(SchemaError, match=r"NaN.*rows 2"):
        ScanContext(ds, pred_probs=p)


def test_pred_probs_not_normalised(ds: Dataset) -> None:
    p = np.full((4, 2), 0.5)
    p[1] = [0.7, 0.7]
    with pytest.raises(SchemaError, match=r"sum to 1.*rows 1.*1\.4.*softmax"):
        ScanContext(ds, pred_probs=p)


def test_pred_probs_logits_rejected(ds: Dataset) -> None:
    with pytest.raises(SchemaError, match="logits"):
        ScanContext(ds, pred_probs=np.array([[2.0, -1.0]] * 4))


def test_embeddings_checked(ds: Dataset) -> None:
    with pytest.raises(SchemaError, match="n_samples = 4"):
        ScanContext(ds, embeddings=np.zeros((3, 5)))
    e = np.zeros((4, 5))
    e[3, 1] = np.inf
    with pytest.raises(SchemaError, match="rows 3"):
        ScanContext(ds, embeddings=e)


def test_annotations_checked(ds: Dataset) -> None:
    with pytest.raises(SchemaError, match="missing"):
        ScanContext(ds, annotations=pl.DataFrame({"sample_id": ["0"], "label": ["a"]}))
    with pytest.raises(SchemaError, match="not in the dataset"):
        ScanContext(
            ds, annotations=pl.DataFrame({"sample_id": ["9"], "annotator": ["x"], "label": ["a"]})
        )
    with pytest.raises(SchemaError, match="not among the classes"):
        ScanContext(
            ds,
            annotations=pl.DataFrame({"sample_id": ["0"], "annotator": ["x"], "label": ["zebra"]}),
        )


def test_available_reports_reasons(ds: Dataset) -> None:
    avail = ScanContext(ds).available()
    assert avail["labels"] is None and avail["images"] is None
    assert "no pred_probs" in (avail["pred_probs"] or "")
    assert "single split" in (avail["splits"] or "")
    assert "annotators" in (avail["annotators"] or "")


def test_release_drops_the_cached_data_and_recomputes_it_the_same() -> None:
    imgs = np.random.default_rng(2).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    ds = Dataset.from_arrays(imgs, [0, 1] * 3, ["a", "b"])
    emb = np.random.default_rng(3).normal(size=(6, 4)).astype(np.float32)
    ctx = ScanContext(ds, embeddings=emb, knn_k=2)
    stats, thumbs, graph = ctx.image_stats, ctx.thumbnails, ctx.knn_graph
    assert ctx.memo("x", lambda: 1) == 1
    ctx.release()
    assert not {"image_stats", "thumbnails", "knn_graph"} & set(vars(ctx))
    assert ctx.memo("x", lambda: 2) == 2  # memos cleared too
    assert ctx.image_stats.equals(stats)
    np.testing.assert_array_equal(ctx.thumbnails[0], thumbs[0])
    np.testing.assert_array_equal(ctx.knn_graph.indices, graph.indices)
