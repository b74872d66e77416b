"""Test helpers for people who write issue finders: ``check_issue_finder``, and
``check_parameter_constraints`` for any class or function with declared parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import invalid_values, owner_name, param_names
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.base import ISSUE_SCHEMA, REQUIREMENTS, IssueFinder
from datacentric.issues.context import ScanContext

__all__ = [
    "check_issue_finder",
    "check_parameter_constraints",
    "make_check_context",
    "make_detection_check_context",
    "noisy_predicted_boxes",
]


def make_check_context(n: int = 60, n_classes: int = 3, seed: int = 0) -> ScanContext:
    """A small context with every input available: images (some duplicated), labels,
    two splits, metadata, pred_probs, embeddings and annotations from three annotators.

    Examples
    --------
    >>> ctx = make_check_context()
    >>> sorted(k for k, v in ctx.available().items() if v is None) == sorted(["annotators",
    ...     "class_labels", "embeddings", "images", "labels", "pred_probs", "splits"])
    True
    """
    rng = np.random.default_rng(seed)
    classes = [f"c{i}" for i in range(n_classes)]
    labels = rng.integers(0, n_classes, n)
    images = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    images[n - 1] = images[0]  # an exact duplicate
    images[n - 2] = images[0] // 2  # a dark copy
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    emb = rng.normal(size=(n, 16)) + labels[:, None]
    emb[n - 1] = emb[0]
    split = ["test" if i % 5 == 0 else "train" for i in range(n)]
    ds = Dataset.from_arrays(
        images,
        labels.tolist(),
        classes,
        split=split,
        metadata={"site": [f"s{i % 3}" for i in range(n)]},
    )
    ann = pl.DataFrame(
        {
            "sample_id": [str(i) for i in range(n) for _ in range(3)],
            "annotator": ["a1", "a2", "a3"] * n,
            "label": [
                classes[(labels[i] + (k == 2 and i % 4 == 0)) % n_classes]
                for i in range(n)
                for k in range(3)
            ],
        }
    )
    return ScanContext(ds, probs, emb, annotations=ann)


def noisy_predicted_boxes(
    truth: pl.DataFrame,
    *,
    jitter: float = 0.03,
    score_range: tuple[float, float] = (0.96, 1.0),
    false_positive_rate: float = 0.1,
    false_score_range: tuple[float, float] = (0.05, 0.3),
    classes: list[str] | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """Predicted boxes made from the true objects with controlled noise.

    Each true box (``sample_id, label, x, y, w, h``) becomes a prediction of its true
    class with each of ``x, y, w, h`` moved by a normal error of ``jitter`` × its size
    (w and h kept above 1 px) and a score uniform in ``score_range``; then
    ``round(false_positive_rate · n)`` false positives: a random true box's size, a random
    other class (of ``classes``, default the labels present), placed at a random offset of
    half to one box size from it, with a score in ``false_score_range``. A stand-in for a
    good detector's out-of-sample boxes, for tests and the benchmark.

    Examples
    --------
    >>> t = pl.DataFrame({"sample_id": ["a", "a"], "label": ["x", "y"], "x": [0.0, 20.0],
    ...     "y": [0.0, 20.0], "w": [10.0, 10.0], "h": [10.0, 10.0]})
    >>> p = noisy_predicted_boxes(t, false_positive_rate=0.5)
    >>> p.height, p.columns
    (3, ['sample_id', 'label', 'x', 'y', 'w', 'h', 'score'])
    >>> bool((p["score"][:2] >= 0.96).all() and p["score"][2] < 0.3)
    True
    """
    rng = np.random.default_rng(seed)
    n = truth.height
    box = truth.select("x", "y", "w", "h").to_numpy().astype(np.float64).reshape(-1, 4)
    size = np.repeat(box[:, 2:], 2, axis=1)[:, [0, 2, 1, 3]]  # w, h, w, h
    noisy = box + rng.normal(0.0, jitter, box.shape) * size
    noisy[:, 2:] = np.maximum(noisy[:, 2:], 1.0)
    labels = truth["label"].to_list()
    names = sorted(set(labels)) if classes is None else list(classes)
    scores = rng.uniform(*score_range, n)
    n_fp = round(false_positive_rate * n)
    src = rng.integers(0, n, n_fp) if n else np.zeros(0, dtype=np.int64)
    fp_box = box[src].copy()
    shift = rng.uniform(0.5, 1.0, (n_fp, 2)) * rng.choice([-1.0, 1.0], (n_fp, 2))
    fp_box[:, :2] = np.maximum(fp_box[:, :2] + shift * fp_box[:, 2:], 0.0)
    fp_label = [
        str(rng.choice([c for c in names if c != labels[i]] or names)) for i in src.tolist()
    ]
    ids = truth["sample_id"].to_list()
    return pl.DataFrame(
        {
            "sample_id": ids + [ids[i] for i in src.tolist()],
            "label": labels + fp_label,
            "x": np.concatenate([noisy[:, 0], fp_box[:, 0]]),
            "y": np.concatenate([noisy[:, 1], fp_box[:, 1]]),
            "w": np.concatenate([noisy[:, 2], fp_box[:, 2]]),
            "h": np.concatenate([noisy[:, 3], fp_box[:, 3]]),
            "score": np.concatenate([scores, rng.uniform(*false_score_range, n_fp)]),
        },
        schema_overrides={"sample_id": pl.Utf8, "label": pl.Utf8},
    )


def make_detection_check_context(n: int = 12, seed: int = 0) -> ScanContext:
    """A small detection context with known box problems and predicted boxes.

    ``n`` 40×40 images, classes ``c0 c1 c2``, two objects each (ids ``b0``, ``b1`` on
    image ``0``, ``b2``, ``b3`` on image ``1`` ...). The given boxes have one problem of
    each kind: ``b2`` badly located, ``b3`` relabelled (``c2`` → ``c1``), ``b5``
    reaching outside its image, image ``4`` missing its first object (a ``c1``), and
    ``d0`` a second box on ``b0``. The predicted boxes are the true ones (``b5`` as
    drawn), scores 0.97–1.0, plus low-score false positives.

    Examples
    --------
    >>> ctx = make_detection_check_context()
    >>> ctx.dataset.task, ctx.dataset.annotations.height, ctx.predicted_boxes.height
    ('detection', 24, 26)
    """
    classes = ["c0", "c1", "c2"]
    true = []
    for i in range(n):
        true.append((f"b{2 * i}", str(i), classes[i % 3], 2.0, 2.0, 12.0, 12.0))
        true.append((f"b{2 * i + 1}", str(i), classes[(i + 1) % 3], 22.0, 20.0, 14.0, 14.0))
    true[5] = ("b5", "2", true[5][2], 30.0, 20.0, 14.0, 14.0)  # overhangs the 40 px image
    cols = ["annotation_id", "sample_id", "label", "x", "y", "w", "h"]
    truth = pl.DataFrame(true, schema=cols, orient="row")
    given = [list(r) for r in true]
    given[2][3:] = [11.0, 11.0, 8.0, 12.0]  # b2: badly located
    given[3][2] = "c1"  # b3: swapped (truly c2)
    given.append(["d0", "0", "c0", 2.5, 2.0, 12.0, 11.5])  # duplicate of b0
    del given[8]  # image 4 loses b8, a c1: overlooked
    boxes = pl.DataFrame(given, schema=cols, orient="row")
    images = np.full((n, 40, 40, 3), 200, dtype=np.uint8)
    base = Dataset.from_arrays(images, [None] * n, classes)
    ds = Dataset(base.manifest, classes, arrays=images, annotations=boxes)
    pred = noisy_predicted_boxes(
        truth, jitter=0.0, score_range=(0.97, 1.0), false_positive_rate=0.1, seed=seed
    )
    return ScanContext(ds, predicted_boxes=pred)


def check_issue_finder(
    finder: IssueFinder | type[IssueFinder], ctx: ScanContext | None = None
) -> pl.DataFrame:
    """Check that a finder honours the IssueFinder contract; return its output.

    Checks: ``name``/``requires``/``description`` are declared; every ``__init__``
    parameter has a declared constraint and every declared constraint is enforced
    (:func:`check_parameter_constraints`); ``get_params`` round-trips through
    ``__init__``; the output has the IssueTable columns and types; sample ids are
    the dataset's; issue types are ``name`` or declared in ``reports``; severity is in
    [0, 1] and not NaN; flagged rows have a ``detail``; at most one row per (sample,
    issue type) — per (sample, issue type, box) for a box-level finder, whose
    ``annotation_id`` column is Utf8 and names the dataset's boxes (a finder requiring
    ``boxes`` is checked on :func:`make_detection_check_context` by default); running
    twice gives the same table; the context is not mutated.
    Raises ``AssertionError`` naming the first broken rule.

    Examples
    --------
    >>> from datacentric.issues import ImbalanceFinder
    >>> check_issue_finder(ImbalanceFinder).height > 0
    True
    """
    inst = finder() if isinstance(finder, type) else finder
    cls = type(inst)
    assert isinstance(inst, IssueFinder), f"{cls.__name__} does not derive from IssueFinder"
    assert cls.name and cls.name.isidentifier(), f"{cls.__name__}.name must be an identifier"
    assert cls.requires <= REQUIREMENTS, (
        f"{cls.name}: unknown requirements {cls.requires - REQUIREMENTS}"
    )
    assert cls.description, f"{cls.name}: declare a one-line description"
    check_parameter_constraints(cls, inst.get_params(), complete=True)
    params = inst.get_params()
    clone = cls(**params)
    assert clone.get_params() == params, f"{cls.name}: get_params() does not round-trip __init__"

    if ctx is None:
        ctx = make_detection_check_context() if "boxes" in cls.requires else make_check_context()
    missing = [r for r in cls.requires if ctx.available().get(r)]
    assert not missing, f"{cls.name}: the check context lacks {missing}"
    snapshot: dict[str, Any] = {
        "manifest": ctx.dataset.manifest.clone(),
        "pred_probs": None if ctx.pred_probs is None else ctx.pred_probs.copy(),
        "embeddings": None if ctx.embeddings is None else ctx.embeddings.copy(),
    }
    out = inst.find(ctx)
    assert isinstance(out, pl.DataFrame), f"{cls.name}.find must return a polars DataFrame"
    for col, dtype in ISSUE_SCHEMA.items():
        assert col in out.columns, f"{cls.name}: output lacks column {col!r}"
        assert out.schema[col] == dtype, f"{cls.name}: {col} is {out.schema[col]}, not {dtype}"
    ids = set(ctx.dataset.sample_ids)
    unknown = set(out["sample_id"].to_list()) - ids
    assert not unknown, (
        f"{cls.name}: output names samples not in the dataset: {sorted(unknown)[:5]}"
    )
    types = set(out["issue_type"].to_list())
    allowed = {cls.name, *cls.reports}
    assert types <= allowed, f"{cls.name}: undeclared issue types {sorted(types - allowed)}"
    sev = out["severity"]
    assert sev.null_count() == 0 and not sev.is_nan().any(), f"{cls.name}: severity has gaps"
    assert ((sev >= 0) & (sev <= 1)).all(), f"{cls.name}: severity outside [0, 1]"
    assert out["is_issue"].null_count() == 0, f"{cls.name}: is_issue has nulls"
    no_detail = out.filter(pl.col("is_issue") & pl.col("detail").is_null())
    assert no_detail.height == 0, f"{cls.name}: flagged rows without a detail sentence"
    row_key = ["sample_id", "issue_type"]
    if "annotation_id" in out.columns:  # a box-level finder: one row per box
        assert out.schema["annotation_id"] == pl.Utf8, f"{cls.name}: annotation_id is not Utf8"
        boxes = ctx.dataset.annotations
        given = set() if boxes is None else set(boxes["annotation_id"].to_list())
        stray = set(out["annotation_id"].drop_nulls().to_list()) - given
        assert not stray, f"{cls.name}: output names boxes not in the dataset: {sorted(stray)[:5]}"
        row_key += [c for c in ("annotation_id", "prediction_id") if c in out.columns]
    dup = out.select(row_key).is_duplicated()
    assert not dup.any(), f"{cls.name}: several rows for one ({', '.join(row_key)})"
    again = inst.find(ctx)
    assert again.equals(out), f"{cls.name}: two runs on the same input differ"
    assert ctx.dataset.manifest.equals(snapshot["manifest"]), f"{cls.name} mutated the manifest"
    for key in ("pred_probs", "embeddings"):
        before, now = snapshot[key], getattr(ctx, key)
        assert before is None or np.array_equal(before, now), f"{cls.name} mutated {key}"
    return out


def check_parameter_constraints(
    target: type | Callable[..., Any],
    params: Mapping[str, Any] | None = None,
    *,
    complete: bool = True,
) -> int:
    """Check that every declared parameter constraint is enforced; return how many
    invalid values were tried.

    ``target`` is a class with ``_parameter_constraints`` (an ``IssueFinder``, a
    dataclass such as ``FixPolicy``) or a function decorated with
    :func:`~datacentric._validation.validate_call`. For each declared parameter, each
    value that breaks its constraints (an unrelated type, out-of-range numbers, an
    unknown option; :func:`~datacentric._validation.invalid_values`) is passed with the
    other parameters valid (``params``, default: the defaults; a function's other
    arguments are ``None``, as validation runs before its body). Each call must raise
    :class:`~datacentric.exceptions.InvalidParameterError` naming the parameter and the
    owner. With ``complete``, a class must also declare a constraint for every parameter
    and nothing else. Raises ``AssertionError`` naming the first broken rule.

    Examples
    --------
    >>> from datacentric.issues import OutlierFinder
    >>> check_parameter_constraints(OutlierFinder)  # k: 3 bad values, z_threshold: 4
    7
    """
    constraints: dict[str, list[Any]] = dict(getattr(target, "_parameter_constraints", {}))
    title = (
        target.__name__
        if isinstance(target, type)
        else owner_name(target)
        if hasattr(target, "__name__")
        else repr(target)
    )
    if isinstance(target, type):
        names = param_names(target)
        if complete:
            missing = [n for n in names if n not in constraints]
            assert not missing, (
                f"{title}: parameters {missing} have no entry in _parameter_constraints"
            )
            extra = sorted(set(constraints) - set(names))
            assert not extra, f"{title}: _parameter_constraints names unknown parameters {extra}"
        base: dict[str, Any] = dict(params or {})
    else:
        assert constraints, f"{title} declares no constraints (use @validate_call)"
        sig = inspect.signature(target)
        base = {
            n: (p.default if p.default is not p.empty else None)
            for n, p in sig.parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        base.update(params or {})
    tried = 0
    for name, declared in constraints.items():
        bad_values = invalid_values(declared)
        assert bad_values, f"{title}: no invalid value could be made for {name}"
        for bad in bad_values:
            try:
                target(**{**base, name: bad})
            except InvalidParameterError as err:
                assert err.parameter == name and err.owner == title, (
                    f"{title}: {name}={bad!r} raised an error for {err.owner}.{err.parameter}"
                    f" instead: {err}"
                )
                assert f"{title}: parameter {name} " in str(err), (
                    f"{title}: the message for {name}={bad!r} does not name it: {err}"
                )
            else:
                raise AssertionError(f"{title}: {name}={bad!r} was accepted")
            tried += 1
    return tried
