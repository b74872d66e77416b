"""Compressed export with a per-slice regression check.

:func:`compress` turns a fitted torch recipe into ONNX fp32, int8 (dynamic and static,
calibrated on a sample stratified across slices and classes), quantization-aware-trained
int8, L1-pruned and distilled (a small student trained on the model's soft predictions)
artefacts, and reports for each its size, CPU latency, accuracy overall and per slice, the
samples whose prediction changed, a gate against the uncompressed model per slice and per
class (:func:`class_check`), and what compression forgot (:func:`forgotten`: samples, slices
and classes ranked by how much their predictions changed, rare classes called out).
:func:`export_detector` does the same for a fitted ``CenterNetRecipe`` (ONNX fp32/int8, gated
per slice on mAP@0.5). See ``docs/export.md``.
"""

from datacentric.exceptions import CalibrationDataError, ExportVerificationError
from datacentric.export.class_gate import class_check
from datacentric.export.compress import (
    DEFAULT_TARGETS,
    VALID_TARGETS,
    compress,
    parse_targets,
    verify_manifest,
)
from datacentric.export.detector import (
    DETECTOR_TARGETS,
    DetectorArtefact,
    DetectorExportReport,
    OnnxDetector,
    export_detector,
    export_detector_onnx,
)
from datacentric.export.forgotten import ForgottenReport, forgotten
from datacentric.export.onnx import export_onnx, verify_onnx
from datacentric.export.prune import prune_network, sparsity
from datacentric.export.qat import QATModel, fine_tune_qat
from datacentric.export.quantize import (
    calibration_sample,
    quantize_dynamic_model,
    quantize_static_model,
)
from datacentric.export.result import ArtefactResult, CompressionReport

__all__ = [
    "DEFAULT_TARGETS",
    "DETECTOR_TARGETS",
    "VALID_TARGETS",
    "ArtefactResult",
    "CalibrationDataError",
    "CompressionReport",
    "DetectorArtefact",
    "DetectorExportReport",
    "ExportVerificationError",
    "ForgottenReport",
    "OnnxDetector",
    "QATModel",
    "calibration_sample",
    "class_check",
    "compress",
    "export_detector",
    "export_detector_onnx",
    "export_onnx",
    "fine_tune_qat",
    "forgotten",
    "parse_targets",
    "prune_network",
    "quantize_dynamic_model",
    "quantize_static_model",
    "sparsity",
    "verify_manifest",
    "verify_onnx",
]
