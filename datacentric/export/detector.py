"""Export a fitted :class:`~datacentric.train.CenterNetRecipe` to ONNX fp32 and int8, gated
per slice on mAP@0.5 against the torch model.

What is in the graph and what is not: the ONNX file holds the **network only**. It takes
``input`` (float32 ``(batch, C, H, W)``, scaled to [0, 1] and normalised with the recipe's
per-channel mean and std) and returns ``heatmap`` (per-class centre logits, ``(batch, K,
H/4, W/4)``), ``box`` (log width, log height, x and y offset of the centre in cells,
``(batch, 4, H/4, W/4)``) and ``embedding`` (``(batch, 8*width)``). The peak decode (3x3
maxima, top ``max_boxes``, ``min_score``) and the scaling of boxes back to each image's
pixels run **outside the graph**, in the recipe's own Python code
(:meth:`~datacentric.train.CenterNetRecipe.predict_with`), for the ONNX models and the torch
model alike — so a change of boxes comes from the network, never from a second decoder.

The gate (:func:`export_detector`): every artefact's boxes on the test images are compared
with the torch model's by :func:`~datacentric.slices.detection_seed_verdict` (one model per
side: a paired bootstrap over images), metric mAP@0.5; an artefact fails when a slice with at
least ``min_n`` images loses more than ``max_drop`` (absolute; 0.01 = 1 point).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._format import format_bytes
from datacentric._io import atomic_write_text, ensure_writable, os_errors_as
from datacentric._markdown import md_escape
from datacentric._validation import Constraint, Interval, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import (
    ExportVerificationError,
    InvalidDatasetError,
    InvalidParameterError,
)
from datacentric.export.latency import measure_many
from datacentric.export.onnx import OPSET, open_session
from datacentric.export.quantize import (
    calibration_sample,
    quantize_dynamic_model,
    quantize_static_model,
)
from datacentric.export.result import sha256_file

if TYPE_CHECKING:
    import onnxruntime
    import torch

    from datacentric.train import BoxPredictions, CenterNetRecipe

__all__ = [
    "DEFAULT_DETECTOR_TARGETS",
    "DETECTOR_TARGETS",
    "DetectorArtefact",
    "DetectorExportReport",
    "OnnxDetector",
    "export_detector",
    "export_detector_onnx",
]

INPUT = "input"
OUTPUTS = ("heatmap", "box", "embedding")
DETECTOR_TARGETS = ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static")
MANIFEST = "export.json"
SUMMARY = "export.md"
HTML_REPORT = "export.html"
_TOLERANCE = 1e-9  # a drop of exactly max_drop is allowed, despite float rounding


def _fitted(recipe: Any) -> Any:
    """The recipe's network, after checking it is a fitted CenterNetRecipe."""
    from datacentric.train import CenterNetRecipe

    if not isinstance(recipe, CenterNetRecipe) or recipe._net is None:
        got = type(recipe).__name__
        state = "an unfitted" if isinstance(recipe, CenterNetRecipe) else "a"
        raise InvalidParameterError(
            f"export_detector: parameter recipe must be a fitted CenterNetRecipe; received "
            f"{state} {got}. Fit one (CenterNetRecipe().fit(ds)) or load it "
            "(CenterNetRecipe.load(path)); classification models go through compress()."
        )
    return recipe._net


def _outputs_module(net: Any) -> torch.nn.Module:
    import torch

    from datacentric.train import _centernet as cn

    class _Outputs(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            heat, box, c8 = cn.forward(self.inner, x)
            return heat, box, cn.pooled(c8)

    return _Outputs(net).eval()


def _torch_run(net: Any, threads: int = 1) -> Callable[[np.ndarray], tuple[np.ndarray, ...]]:
    """``run(x)`` of the torch network on CPU: heatmap logits, boxes, embeddings."""
    import torch

    mod = _outputs_module(net)

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        prev = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                # the layout predict feeds (the network is trained in channels-last memory)
                t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
                return tuple(o.float().numpy() for o in mod(t))
        finally:
            torch.set_num_threads(prev)

    return run


def export_detector_onnx(recipe: CenterNetRecipe, path: str | Path, example: np.ndarray) -> Path:
    """Write the fitted detector's network to ``path`` as ONNX (dynamic batch axis).

    The graph maps ``input`` to ``heatmap``, ``box`` and ``embedding`` (see the module's
    note); decoding stays outside. TorchScript exporter (``dynamo=False``), opset 17.

    Parameters
    ----------
    recipe : CenterNetRecipe
        A fitted detector.
    path : path
        Output file.
    example : numpy.ndarray
        A float32 ``(N, C, H, W)`` normalised batch (>= 1 row) to trace with.
    """
    import torch

    net = _fitted(recipe)
    if example.ndim != 4 or len(example) == 0:
        raise InvalidParameterError(
            f"export_detector_onnx: example must be a non-empty float32 (N, C, H, W) batch, "
            f"received shape {example.shape}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _outputs_module(net),
            (torch.from_numpy(np.ascontiguousarray(example[:2], dtype=np.float32)),),
            str(path),
            dynamo=False,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={name: {0: "batch"} for name in (INPUT, *OUTPUTS)},
            opset_version=OPSET,
        )
    return path


class OnnxDetector:
    """An exported detector with the recipe's decoding: :meth:`predict` returns the same
    :class:`~datacentric.train.BoxPredictions` as ``recipe.predict``.

    Parameters
    ----------
    recipe : CenterNetRecipe
        The fitted recipe the file was exported from (its normalisation, classes,
        ``max_boxes``, ``min_score`` and decoding are used).
    path : path
        The ONNX file (fp32 or int8).
    threads : int
        onnxruntime intra-op threads.
    """

    def __init__(self, recipe: CenterNetRecipe, path: str | Path, threads: int = 1) -> None:
        _fitted(recipe)
        self.recipe = recipe
        self.path = Path(path)
        self.session: onnxruntime.InferenceSession = open_session(self.path, threads)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network's outputs (heatmap logits, boxes, embeddings) for normalised ``x``."""
        heat, box, emb = self.session.run(list(OUTPUTS), {INPUT: x})
        return np.asarray(heat), np.asarray(box), np.asarray(emb)

    def predict(self, ds: Dataset, *, batch_size: int = 64) -> BoxPredictions:
        """Boxes and embeddings of every image of ``ds``, decoded by the recipe."""
        return self.recipe.predict_with(ds, self.run, batch_size=batch_size)

    def __repr__(self) -> str:
        return f"OnnxDetector({str(self.path)!r})"


@dataclass
class DetectorArtefact:
    """One form of the detector: the torch baseline (``target="torch"``) or an ONNX file.

    Attributes
    ----------
    target : str
        ``"torch"``, ``"onnx-fp32"``, ``"onnx-int8-dynamic"`` or ``"onnx-int8-static"``.
    path : Path or None
        The artefact (None for the in-memory torch model).
    size_bytes, size_ratio : int, float
        File size (torch: bytes of float32 parameters and buffers) and its ratio to the
        fp32 ONNX file.
    latency_ms : dict
        ``p50@1, p95@1, p50@16, p95@16`` (milliseconds per network call, decode excluded).
    map50 : float
        mAP@0.5 over the test images.
    verdict : polars.DataFrame or None
        :func:`~datacentric.slices.detection_seed_verdict` of torch (before) vs this form
        (after), metric ``map50``: per slice ``before, after, diff, ci_low, ci_high,
        p_value, verdict, low_support`` (None for the baseline).
    passed : bool or None
        The gate (None for the baseline).
    boxes : polars.DataFrame
        The predicted boxes on the test images.
    extra : dict
        ``max_abs_box_diff_px`` (largest coordinate difference of the boxes vs torch, when
        the boxes match one for one), ``n_calibration``.
    """

    target: str
    path: Path | None
    size_bytes: int
    size_ratio: float
    latency_ms: dict[str, float]
    map50: float
    verdict: pl.DataFrame | None = None
    passed: bool | None = None
    boxes: pl.DataFrame = field(default_factory=pl.DataFrame)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failing_slices(self) -> list[str]:
        """The gated slices whose mAP@0.5 dropped by more than the bound."""
        return (
            []
            if self.verdict is None
            else self.verdict.filter(pl.col("gate") == "fail")["slice"].to_list()
        )

    @property
    def worst_slice(self) -> tuple[str | None, float | None]:
        """The gated slice with the largest mAP@0.5 drop vs torch, and its change."""
        if self.verdict is None:
            return None, None
        t = self.verdict.filter((pl.col("gate") != "skip") & pl.col("diff").is_not_null())
        if t.height == 0:
            return None, None
        row = t.sort("diff").row(0, named=True)
        return str(row["slice"]), float(row["diff"])

    def summary(self) -> dict[str, Any]:
        """The JSON-able facts of this form for the manifest."""
        worst, delta = self.worst_slice
        return {
            "target": self.target,
            "file": self.path.name if self.path is not None else None,
            "sha256": sha256_file(self.path) if self.path is not None else None,
            "size_bytes": self.size_bytes,
            "size_ratio": self.size_ratio,
            "latency_ms": self.latency_ms,
            "map50": self.map50,
            "worst_slice": worst,
            "worst_slice_change": delta,
            "passed": self.passed,
            "failing_slices": self.failing_slices,
            "slices": None if self.verdict is None else self.verdict.to_dicts(),
            **self.extra,
        }


@dataclass
class DetectorExportReport:
    """What :func:`export_detector` produced: the torch baseline, the gated ONNX forms and
    the manifest (``export.json``).

    Plain data: :func:`datacentric.report.write` renders it (``.html``, ``.md``, ``.json``).
    """

    baseline: DetectorArtefact
    artefacts: list[DetectorArtefact]
    manifest: dict[str, Any]
    out_dir: Path

    @property
    def passed(self) -> bool:
        """Whether every artefact passed the slice gate."""
        return all(a.passed is not False for a in self.artefacts)

    @property
    def failed_targets(self) -> list[str]:
        """The targets whose gate failed."""
        return [a.target for a in self.artefacts if a.passed is False]

    def __getitem__(self, target: str) -> DetectorArtefact:
        for a in [self.baseline, *self.artefacts]:
            if a.target == target:
                return a
        raise KeyError(target)

    def to_json(self) -> str:
        """The manifest as JSON text."""
        return json.dumps(self.manifest, indent=1, default=str)

    def to_markdown(self) -> str:
        """The forms table and, per form, the mAP@0.5 change of every slice with its
        interval."""
        s = self.manifest.get("settings", {})
        n_eval = self.manifest.get("dataset", {}).get("n_eval")
        failed = md_escape(", ".join(self.failed_targets))
        head = (
            "✅ **Detector export gate passed**"
            if self.passed
            else f"❌ **Detector export gate failed** for {failed}"
        )
        lines = [
            "# Detector export",
            "",
            f"{head} — metric mAP@0.5, max slice drop {_num(s.get('max_drop'), '.3f')} vs the "
            f"torch model (slices with at least {s.get('min_n')} images), {n_eval} test images. "
            "Decoding runs outside the ONNX graph (the recipe's own).",
            "",
            "| target | size | ratio | p50@1 ms | p95@1 ms | p50@16 ms | p95@16 ms | mAP@0.5 "
            "| worst slice | change | gate |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        for a in [self.baseline, *self.artefacts]:
            worst, delta = a.worst_slice
            lat = a.latency_ms
            gate = "" if a.passed is None else ("pass" if a.passed else "**FAIL**")
            lines.append(
                f"| {md_escape(a.target)} | {format_bytes(a.size_bytes)} | "
                f"{_num(a.size_ratio, '.2f')} | "
                + " | ".join(
                    _num(lat.get(k), ".2f") for k in ("p50@1", "p95@1", "p50@16", "p95@16")
                )
                + f" | {_num(a.map50, '.4f')} | {md_escape(worst)} | "
                f"{_num(delta, '+.4f')} | {gate} |"
            )
        for a in self.artefacts:
            if a.verdict is None:  # a form built by hand without a gate
                continue
            lines += [
                "",
                f"## {md_escape(a.target)}: mAP@0.5 change by slice (95 % interval, paired "
                "bootstrap over images)",
                "",
                "| slice | n | torch | this | change | interval | gate |",
                "| --- | ---: | ---: | ---: | ---: | --- | --- |",
            ]
            for r in a.verdict.iter_rows(named=True):
                ci = (
                    f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
                    if _num(r["ci_low"], "") and _num(r["ci_high"], "")
                    else ""
                )
                cells = [
                    _num(r["before"], ".4f"),
                    _num(r["after"], ".4f"),
                    _num(r["diff"], "+.4f"),
                    ci,
                ]
                lines.append(
                    f"| {md_escape(r['slice'])} | {r['n']} | " + " | ".join(cells) + f" | "
                    f"{'**FAIL**' if r['gate'] == 'fail' else r['gate']} |"
                )
        return "\n".join(lines) + "\n"

    def report(self, path: str | Path) -> Path:
        """Render to ``path`` by its suffix: ``.html`` (self-contained), ``.md`` or ``.json``;
        see :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path)

    def write(self) -> None:
        """Write ``export.json``, ``export.md`` and ``export.html`` into ``out_dir``."""
        atomic_write_text(self.out_dir / MANIFEST, self.to_json())
        atomic_write_text(self.out_dir / SUMMARY, self.to_markdown())
        self.report(self.out_dir / HTML_REPORT)


def _num(v: Any, fmt: str) -> str:
    """``v`` formatted, or an empty string for a missing or NaN number."""
    if not isinstance(v, Real) or math.isnan(float(v)):
        return ""
    return format(v, fmt)


class _DetectorTargets(Constraint):
    """Detector export target names: at least one, each known, none repeated."""

    def is_satisfied_by(self, value: object) -> bool:
        if isinstance(value, str):
            items = [t.strip() for t in value.split(",") if t.strip()]
        elif isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
            items = list(value)
        else:
            return False
        return bool(items) and set(items) <= set(DETECTOR_TARGETS) and len(set(items)) == len(items)

    def __str__(self) -> str:
        return (
            "a list or a comma-separated string of detector export targets, each one of "
            f"{', '.join(DETECTOR_TARGETS)}, none repeated"
        )

    def invalid_values(self) -> list[object]:
        return ["pruned-50", "onnx-int4", "onnx-fp32,onnx-fp32", " , ", 3]


#: What ``targets`` of :func:`export_detector` accepts (and ``datacentric export --targets``
#: on a detection dataset).
TARGETS = [_DetectorTargets()]
#: The targets exported when none are named.
DEFAULT_DETECTOR_TARGETS = ("onnx-fp32", "onnx-int8-static")


def _targets(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return list(value)


def _gate(verdict: pl.DataFrame, max_drop: float) -> pl.DataFrame:
    """The verdict with a ``gate`` column: ``skip`` (low support or empty), ``fail`` (a drop
    of more than ``max_drop``) or ``pass``."""
    status = [
        "skip"
        if r["low_support"] or r["diff"] is None
        else ("fail" if r["diff"] < -max_drop - _TOLERANCE else "pass")
        for r in verdict.iter_rows(named=True)
    ]
    return verdict.with_columns(pl.Series("gate", status, dtype=pl.Utf8))


def _box_diff(before: pl.DataFrame, after: pl.DataFrame) -> float | None:
    """Largest coordinate difference (pixels) when both tables list the same boxes in the
    same order (same images and classes); None otherwise."""
    if before.height != after.height or not before.height:
        return None if before.height != after.height else 0.0
    if before["sample_id"].to_list() != after["sample_id"].to_list():
        return None
    if before["label"].to_list() != after["label"].to_list():
        return None
    a = before.select("x", "y", "w", "h").to_numpy()
    b = after.select("x", "y", "w", "h").to_numpy()
    return float(np.abs(a - b).max())


def _torch_size(net: Any) -> int:
    return int(
        sum(p.numel() * p.element_size() for p in net.parameters())
        + sum(b.numel() * b.element_size() for b in net.buffers())
    )


def _map50(ds: Dataset, boxes: pl.DataFrame, split: str, min_n: int) -> float:
    from datacentric.slices import evaluate_detection

    m = evaluate_detection(ds, boxes, [], split=split, n_boot=0, min_n=min_n, box_slices=False)
    t = m.metric("map50").filter(pl.col("slice") == "overall")
    v = t["value"][0]
    return math.nan if v is None else float(v)


@validate_call(
    {
        "ds": [Dataset],
        "targets": TARGETS,
        "out_dir": [str, Path],
        "split": [str],
        "max_drop": [Interval(Real, 0, 1, closed="both")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "calib_size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "latency_repeats": [Interval(Integral, 1, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left")],
        "atol": [Interval(Real, 0, None, closed="left")],
    }
)
def export_detector(
    recipe: CenterNetRecipe,
    ds: Dataset,
    *,
    targets: str | Sequence[str] = DEFAULT_DETECTOR_TARGETS,
    slices: Any = None,
    out_dir: str | Path = "export",
    split: str = "test",
    max_drop: float = 0.01,
    min_n: int = 30,
    n_boot: int = 200,
    calib_size: int = 128,
    seed: int = 0,
    latency_repeats: int = 20,
    threads: int = 1,
    atol: float = 1e-4,
) -> DetectorExportReport:
    """Export a fitted detector to ONNX fp32/int8, measure each form, gate mAP@0.5 by slice.

    For every target: write the artefact under ``out_dir``; measure its size (and ratio to
    the fp32 file) and CPU latency of the network (p50/p95 at batch 1 and 16, all forms
    timed interleaved with :func:`~datacentric.export.latency.measure_many`, decoding
    excluded); predict the ``split`` images with :class:`OnnxDetector` (the recipe's own
    decoding); compare its boxes with the torch model's by
    :func:`~datacentric.slices.detection_seed_verdict` (metric ``map50``, paired bootstrap
    over images, ``n_boot`` draws) and fail the form when a slice with at least ``min_n``
    images drops by more than ``max_drop``. The fp32 file is verified first: its boxes must
    match torch's within ``atol`` pixels, else :class:`ExportVerificationError`. Writes
    ``export.json``, ``export.md`` and ``export.html`` (the report, as for :func:`compress`).

    Parameters
    ----------
    recipe : CenterNetRecipe
        A fitted detector.
    ds : Dataset
        A detection dataset; its ``split`` images are evaluated, the other images are the
        calibration pool of ``onnx-int8-static``.
    targets : list of str or comma-separated str
        Any of ``onnx-fp32``, ``onnx-int8-dynamic``, ``onnx-int8-static``.
    slices : YAML path/text, list of Slice/SliceSpec, or None
        Image slices, as for :func:`~datacentric.slices.evaluate_detection` (box slices
        ``box_area=...`` and ``box_class=...`` are always added).
    max_drop, min_n : float, int
        Gate bound (absolute mAP@0.5) and smallest gated slice (images).
    n_boot, seed : int
        Bootstrap draws and seed of the intervals; seed of the calibration sample.
    calib_size : int
        Calibration images of ``onnx-int8-static`` (drawn across slices).
    latency_repeats, threads : int
        Timed calls per batch size; CPU threads of onnxruntime and torch.
    atol : float
        Largest allowed box coordinate difference (pixels) of fp32 ONNX vs torch.

    Raises
    ------
    InvalidParameterError
        Unknown target, a recipe that is not a fitted CenterNetRecipe, bad numbers.
    InvalidDatasetError
        ``ds`` is not a detection dataset with the model's classes, or has no ``split``
        images.
    CalibrationDataError
        ``onnx-int8-static`` without images outside ``split``.
    ExportVerificationError
        The fp32 ONNX boxes differ from torch's by more than ``atol`` pixels.

    Examples
    --------
    >>> import tempfile
    >>> from datacentric.datasets import load_detection_demo
    >>> from datacentric.train import CenterNetRecipe
    >>> tmp = Path(tempfile.mkdtemp())
    >>> ds = load_detection_demo(tmp / "det", n_scenes=16, size=48, commit=False)
    >>> recipe = CenterNetRecipe(image_size=48, width=4, epochs=1).fit(ds.split("train"))
    >>> report = export_detector(recipe, ds, targets="onnx-fp32,onnx-int8-dynamic",
    ...                          out_dir=tmp / "x", slices=[], n_boot=100, latency_repeats=1)
    >>> report["onnx-fp32"].passed, report["onnx-fp32"].extra["max_abs_box_diff_px"] < 1e-4
    (True, True)
    >>> [a.target for a in report.artefacts], sorted(report["onnx-fp32"].latency_ms)
    (['onnx-fp32', 'onnx-int8-dynamic'], ['p50@1', 'p50@16', 'p95@1', 'p95@16'])
    """
    from datacentric.slices import detection_seed_verdict, load_slices

    names = _targets(targets)
    net = _fitted(recipe)
    if isinstance(slices, (str, Path)):
        slices = load_slices(slices)
    if ds.task != "detection" or list(ds.classes) != list(recipe.classes_ or []):
        raise InvalidDatasetError(
            f"export_detector: ds must be a detection dataset with the model's classes "
            f"{recipe.classes_!r}; received a {ds.task} dataset with classes {ds.classes!r}. "
            "Evaluate on the dataset the detector was trained for."
        )
    test = ds.filter(pl.col("split") == split)
    if len(test) == 0:
        splits = sorted(set(ds.manifest["split"].drop_nulls().to_list()))
        raise InvalidDatasetError(
            f"export_detector: the dataset has no images in split {split!r} (received "
            f"{len(ds)} images in splits {splits}). Pass a dataset with a {split!r} split, or "
            "choose another with split=."
        )
    ensure_writable(out_dir, "the export folder", folder=True)
    pool = ds.filter(pl.col("split") != split)
    calib_ids: list[str] = []
    if "onnx-int8-static" in names:
        calib_ids = calibration_sample(pool, slices, size=calib_size, seed=seed)
    out = Path(out_dir)
    with os_errors_as(out, "create the export folder"):
        out.mkdir(parents=True, exist_ok=True)

    side = recipe.image_size
    x = _inputs(recipe, test, side)
    base = recipe.predict(test)
    baseline = DetectorArtefact(
        target="torch",
        path=None,
        size_bytes=_torch_size(net),
        size_ratio=math.nan,
        latency_ms={},
        map50=_map50(ds, base.boxes, split, min_n),
        boxes=base.boxes,
    )
    fp32 = export_detector_onnx(recipe, out / "model-fp32.onnx", x[:2])
    fp32_size = fp32.stat().st_size
    baseline.size_ratio = baseline.size_bytes / fp32_size
    runners: dict[str, Callable[[np.ndarray], Any]] = {"torch": _torch_run(net, threads)}
    results: list[DetectorArtefact] = []
    for name in names:
        extra: dict[str, Any] = {}
        if name == "onnx-fp32":
            path = fp32
        elif name == "onnx-int8-dynamic":
            path = quantize_dynamic_model(fp32, out / "model-int8-dynamic.onnx")
        else:
            calib_x = _inputs(recipe, pool.filter(pl.col("sample_id").is_in(calib_ids)), side)
            path = quantize_static_model(fp32, out / "model-int8-static.onnx", calib_x)
            extra["n_calibration"] = len(calib_ids)
        model = OnnxDetector(recipe, path, threads)
        boxes = model.predict(test).boxes
        diff = _box_diff(base.boxes, boxes)
        extra["max_abs_box_diff_px"] = diff
        if name == "onnx-fp32" and (diff is None or diff > atol):
            what = "a different set of boxes" if diff is None else f"{diff:.3g} px"
            raise ExportVerificationError(
                f"export_detector: the ONNX model {str(path)!r} does not match torch: on "
                f"{len(test)} image(s) it gives {what}, tolerance {atol:g} px. Check the "
                "network for ops the exporter does not support, or raise atol.",
                max_abs_diff=math.inf if diff is None else diff,
                tolerance=atol,
            )
        verdict = detection_seed_verdict(
            ds, base.boxes, boxes, slices, split=split, metric="map50", n_boot=n_boot,
            min_n=min_n, seed=seed,
        )  # fmt: skip
        verdict = _gate(verdict, float(max_drop))
        results.append(
            DetectorArtefact(
                target=name,
                path=path,
                size_bytes=path.stat().st_size,
                size_ratio=path.stat().st_size / fp32_size,
                latency_ms={},
                map50=_map50(ds, boxes, split, min_n),
                verdict=verdict,
                passed=not (verdict["gate"] == "fail").any(),
                boxes=boxes,
                extra=extra,
            )
        )
        runners[name] = model.run
    latency = measure_many(runners, x[:16], batch_sizes=(1, 16), repeats=latency_repeats)
    for a in [baseline, *results]:
        a.latency_ms = latency[a.target]
    if "onnx-fp32" not in names:
        fp32.unlink()
    report = DetectorExportReport(baseline, results, {}, out)
    report.manifest = _manifest(report, recipe, ds, len(test), calib_ids, names, locals())
    report.write()
    return report


def _inputs(recipe: CenterNetRecipe, ds: Dataset, side: int) -> np.ndarray:
    """Normalised float32 NCHW network inputs of ``ds``'s images, as predict feeds them."""
    mean = np.asarray(recipe._mean, dtype=np.float32)
    std = np.asarray(recipe._std, dtype=np.float32)
    batch = ds.load_images(None, size=(side, side), mode=recipe.channels)
    x = (batch.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def _manifest(
    report: DetectorExportReport,
    recipe: CenterNetRecipe,
    ds: Dataset,
    n_eval: int,
    calib_ids: list[str],
    names: list[str],
    args: dict[str, Any],
) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    import datacentric

    return {
        "format": "datacentric.export.detector",
        "format_version": 1,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "datacentric_version": datacentric.__version__,
        "runtime": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "dataset": {
            "root": str(ds.root) if ds.root else None,
            "version": ds.version,
            "eval_split": args["split"],
            "n_eval": n_eval,
            "n_calibration": len(calib_ids),
        },
        "recipe": {
            "name": recipe.name,
            "class": type(recipe).__name__,
            "params": recipe.get_params(),
            "classes": list(recipe.classes_ or []),
            "input": {
                "name": INPUT,
                "layout": "NCHW float32, scaled to [0, 1] then (x - mean) / std",
                "mean": np.asarray(recipe._mean).tolist(),
                "std": np.asarray(recipe._std).tolist(),
                "image_size": recipe.image_size,
                "mode": recipe.channels,
            },
            "output": {
                "heatmap": "per-class centre logits (batch, K, H/4, W/4)",
                "box": "log w, log h (cells), x and y centre offsets (batch, 4, H/4, W/4)",
                "embedding": "image embedding (batch, 8*width)",
                "post_processing": "outside the graph: CenterNetRecipe.predict_with (3x3 "
                "peaks, top max_boxes, min_score, boxes scaled to each image)",
            },
        },
        "settings": {
            "targets": names,
            "metric": "map50",
            "max_drop": float(args["max_drop"]),
            "min_n": args["min_n"],
            "n_boot": args["n_boot"],
            "calib_size": args["calib_size"],
            "seed": args["seed"],
            "threads": args["threads"],
            "latency_repeats": args["latency_repeats"],
        },
        "baseline": report.baseline.summary(),
        "artefacts": [a.summary() for a in report.artefacts],
        "gate": {"passed": report.passed, "failed_targets": report.failed_targets},
    }
