"""`compress`: export a fitted recipe to ONNX fp32/int8 and pruned forms, measure each,
gate every form's accuracy by slice against the uncompressed model, write a manifest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._io import ensure_writable, os_errors_as
from datacentric._read import check_fields, read_json
from datacentric._validation import Constraint, Interval, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import (
    CalibrationDataError,
    InvalidDatasetError,
    InvalidParameterError,
    SchemaError,
)
from datacentric.export.class_gate import class_check
from datacentric.export.forgotten import forgotten, slice_masks
from datacentric.export.latency import measure_many, onnx_runner, torch_runner
from datacentric.export.onnx import (
    FittedNet,
    export_onnx,
    fitted_net,
    normalised_inputs,
    onnx_logits,
    open_session,
    softmax,
    torch_logits,
    verify_onnx,
)
from datacentric.export.prune import prune_network, sparsity
from datacentric.export.quantize import (
    calibration_sample,
    quantize_dynamic_model,
    quantize_static_model,
)
from datacentric.export.result import ArtefactResult, CompressionReport, sha256_file

__all__ = ["DEFAULT_TARGETS", "VALID_TARGETS", "compress", "parse_targets", "verify_manifest"]

_ARTEFACT = {"file": "str", "sha256": "str"}

DEFAULT_TARGETS = ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static", "pruned-50")
VALID_TARGETS = (
    "onnx-fp32",
    "onnx-int8-dynamic",
    "onnx-int8-static",
    "qat-int8",
    "pruned-<percent>",
    "distilled-small_cnn[-w<width>][-e<epochs>][-int8]",
)
_FIXED = VALID_TARGETS[:4]
_PRUNED = re.compile(r"^pruned-(\d{1,2})$")
#: ``distilled-<student>``: the student recipe, optionally its width and training epochs,
#: optionally int8.
_DISTILLED = re.compile(r"^distilled-(small_cnn)(?:-w(\d{1,3}))?(?:-e(\d{1,3}))?(-int8)?$")
#: A distilled student's default width (``SmallCNNRecipe``'s) and training epochs.
STUDENT_WIDTH, STUDENT_EPOCHS = 16, 30
_VERIFY_ROWS = 64


def _target_items(value: object) -> list[str] | None:
    """The target names of a list or a comma-separated string; None for another kind."""
    if isinstance(value, str):
        items = [t.strip() for t in value.split(",")]
    elif isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        items = list(value)
    else:
        return None
    return [t for t in items if t]


def _valid_target(name: str) -> bool:
    pruned, distilled = _PRUNED.match(name), _DISTILLED.match(name)
    if distilled is not None:
        return all(int(g) > 0 for g in distilled.group(2, 3) if g is not None)
    return (
        name in _FIXED or (pruned is not None and int(pruned.group(1)) > 0) or distilled is not None
    )


class _Targets(Constraint):
    """Export target names: at least one, each known, none repeated."""

    def is_satisfied_by(self, value: object) -> bool:
        items = _target_items(value)
        return (
            bool(items)
            and all(_valid_target(t) for t in items or [])
            and len(set(items or [])) == len(items or [])
        )

    def __str__(self) -> str:
        return (
            "a list or a comma-separated string of export targets, each one of "
            f"{', '.join(VALID_TARGETS)} (percent of weights pruned, 1-99, e.g. 'pruned-50'; "
            "a distilled student's width and epochs, e.g. 'distilled-small_cnn-w8-e20-int8'), "
            "none repeated"
        )

    def invalid_values(self) -> list[object]:
        return [
            "onnx-int4",
            ["pruned-0"],
            "pruned-100",
            "onnx-fp32,onnx-fp32",
            " , ",
            "distilled-resnet50",
            "distilled-small_cnn-w0",
        ]


#: What ``targets`` accepts (``compress``, ``parse_targets``, the CLI's ``--targets``).
TARGETS = [_Targets()]


@validate_call({"targets": TARGETS})
def parse_targets(targets: str | Sequence[str]) -> list[str]:
    """Validate target names (a list or a comma-separated string); keep their order.

    Examples
    --------
    >>> parse_targets("onnx-fp32, pruned-30")
    ['onnx-fp32', 'pruned-30']
    >>> parse_targets("onnx-int4")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: parse_targets: parameter targets must be a ...
    """
    return _target_items(targets) or []


def _eval_rows(eval_ds: Dataset, split: str) -> Dataset:
    test = eval_ds.filter(pl.col("split") == split, pl.col("label").is_not_null())
    if len(test) == 0:
        splits = sorted(set(eval_ds.manifest["split"].to_list()))
        raise InvalidDatasetError(
            f"compress: the evaluation dataset has no labeled rows in split {split!r} "
            f"(received {len(eval_ds)} rows in splits {splits}). Pass eval_ds with a labeled "
            f"{split!r} split, or choose another split with eval_split=."
        )
    return test


def _pred_frame(ids: list[str], probs: np.ndarray, classes: list[str]) -> pl.DataFrame:
    arg = probs.argmax(axis=1)
    return pl.DataFrame(
        {
            "sample_id": ids,
            "pred": [classes[i] for i in arg],
            "confidence": probs[np.arange(len(ids)), arg],
        }
    )


def _changed(test: Dataset, before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    meta = [c for c in test.metadata_columns if c != "annotator"]
    joined = (
        test.manifest.select("sample_id", "label", *meta)
        .join(before.select("sample_id", pl.col("pred").alias("before")), on="sample_id")
        .join(after.select("sample_id", pl.col("pred").alias("after")), on="sample_id")
    )
    return joined.filter(pl.col("before") != pl.col("after")).select(
        "sample_id", "label", "before", "after", *meta
    )


def _torch_size(net: Any) -> int:
    return int(
        sum(p.numel() * p.element_size() for p in net.parameters())
        + sum(b.numel() * b.element_size() for b in net.buffers())
    )


@validate_call(
    {
        "calib_ds": [Dataset, None],
        "eval_ds": [Dataset, None],
        "train_ds": [Dataset, None],
        "targets": TARGETS,
        "out_dir": [str, Path],
        "max_drop": [Interval(Real, 0, 1, closed="both")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "calib_size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "eval_split": [str],
        "latency_repeats": [Interval(Integral, 1, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left")],
        "atol": [Interval(Real, 0, None, closed="left")],
    }
)
def compress(
    recipe: Any,
    calib_ds: Dataset | None,
    eval_ds: Dataset | None = None,
    *,
    train_ds: Dataset | None = None,
    targets: str | Sequence[str] = DEFAULT_TARGETS,
    slices: Any = None,
    out_dir: str | Path = "export",
    max_drop: float = 0.01,
    min_n: int = 30,
    calib_size: int = 256,
    seed: int = 0,
    eval_split: str = "test",
    latency_repeats: int = 20,
    threads: int = 1,
    atol: float = 1e-4,
) -> CompressionReport:
    """Export, compress, measure and gate a fitted torch recipe.

    For every target: write the artefact under ``out_dir``, measure its size (and ratio to
    the fp32 ONNX file), CPU latency (p50/p95 at batch 1 and 64, warm-up excluded) and
    accuracy overall and per slice on ``eval_ds``'s test split, list the test samples whose
    predicted class changed, and gate it against the uncompressed torch model with
    :func:`datacentric.slices.check` (fail when any slice with at least ``min_n`` rows drops
    more than ``max_drop``) and per class with
    :func:`~datacentric.export.class_gate.class_check` (fail when any class with at least
    ``min_n`` rows loses more than ``max_drop`` recall), and rank the samples, slices and
    classes whose predictions it changed most, rare classes called out
    (:func:`~datacentric.export.forgotten.forgotten`, from the per-sample probabilities of
    both models). Writes ``export.json`` (manifest), ``export.md``, ``export.html``,
    ``changed_predictions.parquet`` and ``forgotten_samples.parquet`` next to the artefacts.

    Parameters
    ----------
    recipe : TorchRecipe
        A fitted ``SmallCNNRecipe``/``ResNetRecipe``.
    calib_ds : Dataset or None
        Rows to draw the static-quantization calibration sample from (see
        :func:`~datacentric.export.quantize.calibration_sample`). When ``eval_ds`` is None,
        ``calib_ds`` is also the evaluation dataset and its ``eval_split`` rows are left
        out of calibration. Only needed for ``onnx-int8-static``.
    eval_ds : Dataset, optional
        Dataset whose ``eval_split`` split is evaluated (default: ``calib_ds``).
    train_ds : Dataset, optional
        The labeled rows ``qat-int8`` fine-tunes on and a ``distilled-*`` student learns from
        (default: the calibration rows, i.e. ``calib_ds`` less its ``eval_split`` rows when
        ``eval_ds`` is None). Use the model's own training rows.
    targets : list of str or comma-separated str
        Any of ``onnx-fp32``, ``onnx-int8-dynamic``, ``onnx-int8-static``, ``qat-int8``
        (quantization-aware fine-tuning, then static int8: :mod:`datacentric.export.qat`),
        ``pruned-<pct>``, ``distilled-small_cnn[-w<width>][-e<epochs>][-int8]`` (a
        ``SmallCNNRecipe`` student of that width, default 16, trained for that many epochs,
        default 30, on the model's soft predictions with
        :func:`datacentric.train.distill`, at the model's input size and normalisation;
        ``-int8``: then static int8).
    slices : YAML path/text, list of Slice/SliceSpec, or None
        As for :func:`datacentric.slices.evaluate`.
    max_drop, min_n : float, int
        Gate bound (absolute accuracy of a slice, recall of a class; 0.01 = 1 point) and
        minimum support of a gated slice or class.
    calib_size, seed : int
        Calibration sample size and seed.
    latency_repeats, threads : int
        Timed calls per batch size; CPU threads for onnxruntime and torch.
    atol : float
        Maximum allowed absolute difference of fp32 ONNX vs torch probabilities.

    Raises
    ------
    InvalidParameterError
        Unknown target, unfitted recipe, bad numbers.
    CalibrationDataError
        ``onnx-int8-static`` requested without calibration rows.
    InvalidDatasetError
        No labeled rows in the evaluation split.
    ExportVerificationError
        The ONNX export does not reproduce torch within ``atol``.
    """
    from datacentric.slices import check, evaluate, load_slices

    names = parse_targets(targets)
    if isinstance(slices, (str, Path)):  # a bad slice file fails before any work
        slices = load_slices(slices)
    fn = fitted_net(recipe)
    ensure_writable(out_dir, "the export folder", folder=True)  # before minutes of work
    pool: Dataset | None
    if eval_ds is None:
        if calib_ds is None:
            raise CalibrationDataError(
                "compress: received neither calib_ds nor eval_ds; pass the dataset to "
                "evaluate on (eval_ds) and, for onnx-int8-static, calibration rows (calib_ds)."
            )
        eval_ds = calib_ds
        pool = calib_ds.filter(pl.col("split") != eval_split)
    else:
        pool = calib_ds
    if list(eval_ds.classes) != fn.classes:
        raise InvalidDatasetError(
            f"compress: the evaluation dataset's classes {eval_ds.classes!r} differ from the "
            f"model's {fn.classes!r}. Evaluate on a dataset with the same ordered classes."
        )
    calib_ids: list[str] = []
    if any(_static(t) for t in names):
        calib_ids = calibration_sample(pool, slices, size=calib_size, seed=seed)
    if train_ds is None:
        train_ds = pool
    trains = [t for t in names if _trains(t)]
    if trains and train_ds is None:
        raise CalibrationDataError(
            "compress: qat-int8 and distilled-* targets train on labeled rows; received no "
            "calib_ds and no train_ds. Pass the model's training rows as train_ds."
        )
    if trains and train_ds is not None:
        _check_train_rows(train_ds, fn.classes, trains)
    for spec in {s for t in names if (s := _student_spec(t)) is not None}:
        _student(fn, *spec)  # a width over the max_recipe_width setting fails before any work
    test = _eval_rows(eval_ds, eval_split)
    out = Path(out_dir)
    with os_errors_as(out, "create the export folder"):
        out.mkdir(parents=True, exist_ok=True)

    ids = test.sample_ids
    x = normalised_inputs(fn, test)
    bench_x = x[:64]

    def metrics_for(probs: np.ndarray, model: str) -> tuple[Any, pl.DataFrame]:
        frame = _pred_frame(ids, probs, fn.classes)
        return evaluate(
            eval_ds, frame, slices, split=eval_split, min_n=min_n, seed=seed, model=model
        ), frame

    base_probs = softmax(torch_logits(fn.net, x))
    base_metrics, base_frame = metrics_for(base_probs, "torch")
    fp32_path = export_onnx(fn.net, out / "model-fp32.onnx", x[:2])
    verify_onnx(fp32_path, fn.net, x[:_VERIFY_ROWS], atol=atol, threads=threads)
    fp32_size = fp32_path.stat().st_size
    baseline = ArtefactResult(
        target="torch",
        path=None,
        size_bytes=_torch_size(fn.net),
        size_ratio=_torch_size(fn.net) / fp32_size,
        latency_ms={},
        metrics=base_metrics,
    )
    runners = {"torch": torch_runner(fn.net, threads)}
    forgot = _forgotten_inputs(test, eval_ds, slices, eval_split)

    results: list[ArtefactResult] = []
    build = _Builder(
        recipe, fn, names, fp32_path, out, calib_ids, pool, train_ds, x, atol, threads, seed
    )
    for name in names:
        path, extra = build(name)
        session = open_session(path, threads)
        probs = softmax(onnx_logits(session, x))
        metrics, frame = metrics_for(probs, name)
        extra["max_abs_diff_vs_torch"] = float(np.abs(probs - base_probs).max())
        gate = check(base_metrics, metrics, max_drop=float(max_drop), min_n=min_n)
        class_gate = class_check(base_metrics, metrics, max_drop=float(max_drop), min_n=min_n)
        lost = forgotten(
            **forgot, before=base_probs, after=probs, slice_gate=gate, class_gate=class_gate
        )
        results.append(
            ArtefactResult(
                target=name,
                path=path,
                size_bytes=path.stat().st_size,
                size_ratio=path.stat().st_size / fp32_size,
                latency_ms={},
                metrics=metrics,
                gate=gate,
                changed=_changed(test, base_frame, frame),
                extra=extra,
                class_gate=class_gate,
                forgotten=lost,
            )
        )
        runners[name] = onnx_runner(session)
    # all models timed together, interleaved: ratios stay fair on a shared, noisy machine
    latency = measure_many(runners, bench_x, repeats=latency_repeats)
    for a in [baseline, *results]:
        a.latency_ms = latency[a.target]
    if "onnx-fp32" not in names:
        fp32_path.unlink()
    report = CompressionReport(baseline, results, {}, out)
    report.manifest = _manifest(report, recipe, fn, eval_ds, pool, calib_ids, names, locals())
    report.write(eval_ds)
    return report


def _forgotten_inputs(test: Dataset, eval_ds: Dataset, slices: Any, split: str) -> dict[str, Any]:
    """What :func:`~datacentric.export.forgotten.forgotten` needs besides the probabilities:
    labels, ids, slice masks (the gate's slices), metadata, and the training rows per class
    (the rare rule's support) when ``eval_ds`` has a labeled train split other than ``split``."""
    from datacentric.slices.evaluate import resolve_slices

    m = test.manifest
    meta = [c for c in test.metadata_columns if c != "annotator"]
    train = eval_ds.manifest.filter(
        (pl.col("split") == "train") & (pl.col("split") != split) & pl.col("label").is_not_null()
    )
    support = dict(train.group_by("label").len().iter_rows()) if train.height else None
    return {
        "labels": m["label"].to_list(),
        "classes": list(eval_ds.classes),
        "sample_ids": m["sample_id"].to_list(),
        "slices": slice_masks(m, resolve_slices(slices, m, meta)),
        "metadata": m.select(meta),
        "class_support": support,
    }


def _static(name: str) -> bool:
    """Whether the target quantizes statically (needs the calibration sample)."""
    return name in ("onnx-int8-static", "qat-int8") or name.endswith("-int8")


def _check_train_rows(train_ds: Dataset, classes: list[str], targets: list[str]) -> None:
    """The training rows of QAT and distillation: labeled, with the model's classes."""
    n_labeled = int((train_ds.label_indices() >= 0).sum())
    if n_labeled == 0 or list(train_ds.classes) != classes:
        raise InvalidDatasetError(
            f"compress: {', '.join(targets)}: these targets train on labeled rows with the "
            f"model's classes {classes!r}; received {len(train_ds)} rows, {n_labeled} labeled, "
            f"classes {list(train_ds.classes)!r}. Pass the model's training rows as train_ds."
        )


def _student(fn: FittedNet, width: int, epochs: int) -> Any:
    """The untrained student of a ``distilled-small_cnn-w<width>-e<epochs>`` target: the
    teacher's input size and colour mode, so the two take the same input."""
    from datacentric.train.small_cnn import SmallCNNRecipe

    return SmallCNNRecipe(
        image_size=fn.image_size,
        channels="L" if fn.mode == "L" else "RGB",
        width=width,
        epochs=epochs,
        num_threads=fn.num_threads,
    )


def _student_spec(name: str) -> tuple[int, int] | None:
    """(width, epochs) of a distilled target's student; None for another target."""
    m = _DISTILLED.match(name)
    if m is None:
        return None
    return int(m.group(2) or STUDENT_WIDTH), int(m.group(3) or STUDENT_EPOCHS)


def _trains(name: str) -> bool:
    """Whether the target trains a model (needs training rows)."""
    return name == "qat-int8" or name.startswith("distilled-")


class _Builder:
    """Writes the artefact of one target (``self(name)``): its path and target-specific facts.

    A distilled student is trained once per width and shared by its fp32 and int8 targets.
    """

    def __init__(
        self,
        recipe: Any,
        fn: FittedNet,
        names: list[str],
        fp32_path: Path,
        out: Path,
        calib_ids: list[str],
        pool: Dataset | None,
        train_ds: Dataset | None,
        x: np.ndarray,
        atol: float,
        threads: int,
        seed: int,
    ) -> None:
        self.recipe, self.fn, self.fp32_path, self.out = recipe, fn, fp32_path, out
        self.calib_ids, self.pool, self.train_ds = calib_ids, pool, train_ds
        self.x, self.atol, self.threads, self.seed = x, atol, threads, seed
        self.names = names  # every target of the run: an int8 student keeps its fp32 file or not
        self._students: dict[tuple[int, int], Any] = {}
        self._calib: np.ndarray | None = None

    def _calib_x(self) -> np.ndarray:
        """The calibration sample's network inputs, decoded once for every static target."""
        if self._calib is None:
            assert self.pool is not None  # calibration_sample raised otherwise
            self._calib = normalised_inputs(self.fn, self.pool, self.calib_ids)
        return self._calib

    def _onnx(self, net: Any, path: Path) -> Path:
        export_onnx(net, path, self.x[:2])
        verify_onnx(path, net, self.x[:_VERIFY_ROWS], atol=self.atol, threads=self.threads)
        return path

    def __call__(self, name: str) -> tuple[Path, dict[str, Any]]:
        out = self.out
        if name == "onnx-fp32":
            return self.fp32_path, {}
        if name == "onnx-int8-dynamic":
            return quantize_dynamic_model(self.fp32_path, out / "model-int8-dynamic.onnx"), {}
        if name == "onnx-int8-static":
            path = quantize_static_model(
                self.fp32_path, out / "model-int8-static.onnx", self._calib_x()
            )
            return path, {"n_calibration": len(self.calib_ids)}
        if name == "qat-int8":
            return self._qat()
        spec = _student_spec(name)
        if spec is not None:
            return self._distilled(name, spec, name.endswith("-int8"))
        amount = int(name.split("-")[1]) / 100.0
        pruned = prune_network(self.fn.net, amount)
        path = self._onnx(pruned, out / f"model-{name}.onnx")
        return path, {"sparsity": sparsity(pruned), "requested_sparsity": amount}

    def _qat(self) -> tuple[Path, dict[str, Any]]:
        from datacentric.export.qat import fine_tune_qat

        assert self.train_ds is not None  # compress raised otherwise
        qat = fine_tune_qat(self.recipe, self.train_ds, seed=self.seed)
        float_path = self._onnx(qat.float, self.out / "model-qat-float.onnx")
        path = quantize_static_model(float_path, self.out / "model-qat-int8.onnx", self._calib_x())
        float_path.unlink()
        # the int8 model vs the fake-quant model it was trained as
        fq = softmax(torch_logits(qat.fake_quant, self.x))
        int8 = softmax(onnx_logits(open_session(path, self.threads), self.x))
        return path, {
            "qat_epochs": qat.epochs,
            "qat_lr": qat.lr,
            "qat_objective": qat.objective,
            "n_train": qat.n_train,
            "n_fake_quantized_layers": qat.n_quantized,
            "n_calibration": len(self.calib_ids),
            "agreement_with_fake_quant": float((fq.argmax(1) == int8.argmax(1)).mean()),
            "max_abs_diff_vs_fake_quant": float(np.abs(fq - int8).max()),
        }

    def _distilled(
        self, name: str, spec: tuple[int, int], int8: bool
    ) -> tuple[Path, dict[str, Any]]:
        from datacentric.train.distill import ALPHA, TEMPERATURE, distill

        assert self.train_ds is not None  # compress raised otherwise
        student = self._students.get(spec)
        if student is None:
            student = _student(self.fn, *spec)
            student = distill(student, self.recipe, self.train_ds, seed=self.seed)
            self._students[spec] = student
        net = fitted_net(student).net
        fp32 = self.out / f"model-{name.removesuffix('-int8')}.onnx"
        if not fp32.exists():
            self._onnx(net, fp32)
        extra: dict[str, Any] = {
            "student": {"recipe": student.name, "params": student.get_params()},
            "student_parameters": int(sum(int(p.numel()) for p in net.parameters())),
            "teacher_parameters": int(sum(int(p.numel()) for p in self.fn.net.parameters())),
            "temperature": TEMPERATURE,
            "alpha": ALPHA,
        }
        if not int8:
            return fp32, extra
        path = quantize_static_model(fp32, self.out / f"model-{name}.onnx", self._calib_x())
        if name.removesuffix("-int8") not in self.names:
            fp32.unlink()  # only the int8 form was asked for
        return path, {**extra, "n_calibration": len(self.calib_ids)}


def _manifest(
    report: CompressionReport,
    recipe: Any,
    fn: FittedNet,
    eval_ds: Dataset,
    pool: Dataset | None,
    calib_ids: list[str],
    names: list[str],
    args: dict[str, Any],
) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    import datacentric

    metrics = report.baseline.metrics
    return {
        "format": "datacentric.export",
        "format_version": 1,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "datacentric_version": datacentric.__version__,
        "runtime": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "dataset": {
            "root": str(eval_ds.root) if eval_ds.root else None,
            "version": eval_ds.version,
            "eval_split": args["eval_split"],
            "n_eval": int(metrics.meta.get("n_rows", 0)),
            "calibration_root": str(pool.root) if pool is not None and pool.root else None,
            "calibration_version": pool.version if pool is not None else None,
            "n_calibration": len(calib_ids),
            "calibration_ids_sha256": hashlib.sha256("\n".join(calib_ids).encode()).hexdigest(),
        },
        "recipe": {
            "name": getattr(recipe, "name", type(recipe).__name__),
            "class": type(recipe).__name__,
            "params": recipe.get_params() if hasattr(recipe, "get_params") else {},
            "classes": fn.classes,
            "input": {
                "name": "input",
                "layout": "NCHW float32, scaled to [0, 1] then (x - mean) / std",
                "mean": fn.mean.tolist(),
                "std": fn.std.tolist(),
                "image_size": fn.image_size,
                "mode": fn.mode,
            },
            "output": {"name": "logits", "meaning": "class scores before softmax"},
        },
        "settings": {
            "targets": names,
            "max_drop": float(args["max_drop"]),
            "min_n": args["min_n"],
            "calib_size": args["calib_size"],
            "seed": args["seed"],
            "threads": args["threads"],
            "latency_repeats": args["latency_repeats"],
            "slices": metrics.meta.get("slices", {}),
        },
        "baseline": report.baseline.summary(),
        "artefacts": [a.summary() for a in report.artefacts],
        "gate": {"passed": report.passed, "failed_targets": report.failed_targets},
        "forgotten": {
            a.target: a.forgotten.to_dict() for a in report.artefacts if a.forgotten is not None
        },
    }


def verify_manifest(out_dir: str | Path) -> list[str]:
    """Artefacts of ``out_dir/export.json`` whose file is missing or whose hash differs.

    Raises
    ------
    InvalidParameterError
        When ``out_dir`` has no ``export.json``.
    SchemaError
        When ``export.json`` is not an export manifest (not JSON, truncated, artefacts
        without ``file``/``sha256``, or a file outside ``out_dir``).
    """
    out = Path(out_dir)
    path = out / "export.json"
    if not path.is_file():
        raise InvalidParameterError(
            f"{out} has no export.json; export a model there first (`datacentric export DIR "
            f"--out {out}`)."
        )
    what = "an export manifest written by `datacentric export`"
    fix = "Export the model again to rewrite it."
    manifest = check_fields(
        read_json(path, what=what, fix=fix),
        {"artefacts": "list"},
        str(path),
        what=what,
        fix=fix,
        required=["artefacts"],
    )
    bad = []
    for i, a in enumerate(manifest["artefacts"]):
        src = f"{path} (artefact {i})"
        check_fields(a, _ARTEFACT, src, what=what, fix=fix, required=list(_ARTEFACT))
        name = Path(a["file"])
        if name.is_absolute() or ".." in name.parts or not name.parts:
            raise SchemaError(
                f"{src}: file {a['file']!r} is not a path inside {out}; an export names its "
                f"artefacts relative to its folder. {fix}"
            )
        p = out / name
        if not p.is_file() or sha256_file(p) != a["sha256"]:
            bad.append(a["file"])
    return bad
