"""CLI cases of the "files" area: hostile YAML, crafted model files, damaged saved results.

Every invocation must exit 1 with one ``Error:`` line naming the file (``match``), before
any training starts.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.hostile._files import (
    billion_laughs,
    crafted_recipes,
    deep_nesting,
    fitted_recipe_state,
    python_tag,
    self_alias,
)
from tests.hostile.cases import CliCase, versioned_dataset

__all__ = ["CASES"]


def _base(tmp: Path) -> dict[str, str]:
    """A versioned dataset, predictions for it, and a monitor reference and batch."""
    ds = versioned_dataset(tmp / "ds")
    ids = [f"s{i:03d}" for i in range(24)]
    preds = tmp / "preds.csv"
    rows = [f"{sid},{'abc'[i % 3]},0.9" for i, sid in enumerate(ids)]
    preds.write_text("sample_id,pred,confidence\n" + "\n".join(rows) + "\n")
    reference = tmp / "reference.csv"
    reference.write_text(
        "camera,prediction,confidence,label\n"
        + "".join(f"cam{i % 2},a,0.8,{'ab'[i % 2]}\n" for i in range(40))
    )
    batch = tmp / "batch.csv"
    batch.write_text(
        "sample_id,timestamp,camera,prediction,confidence\n"
        + "".join(f"p{i},2024-05-01T00:00:{i:02d},cam{i % 2},a,0.7\n" for i in range(20))
    )
    return {
        "dataset": str(ds),
        "preds": str(preds),
        "reference": str(reference),
        "batch": str(batch),
    }


def _yaml_case(name: str, text: Callable[[], str]) -> CliCase:
    def build(tmp: Path) -> Mapping[str, str]:
        values = _base(tmp)
        (tmp / "slices.yaml").write_text(text(), encoding="utf-8")
        return values | {"yaml": str(tmp / "slices.yaml")}

    monitor = ("monitor", "ingest", "{batch}", "--store", "{out}/m.duckdb", "-r", "{reference}")
    return CliCase(
        name=name,
        build=build,
        argvs={
            "slices_evaluate": (
                "slices", "evaluate", "{dataset}", "-p", "{preds}", "-s", "{yaml}",
                "-o", "{out}/m.json",
            ),
            "loop": ("loop", "{dataset}", "--iterations", "1", "--folds", "2", "-s", "{yaml}"),
            "export": (
                "export", "{dataset}", "--out", "{out}/exp", "--targets", "onnx-fp32",
                "--slices", "{yaml}",
            ),
            "monitor_slices": (*monitor, "--slices", "{yaml}"),
        },
        match="{yaml}",
    )  # fmt: skip


def _config_case(name: str, text: Callable[[], str]) -> CliCase:
    def build(tmp: Path) -> Mapping[str, str]:
        values = _base(tmp)
        (tmp / "alerts.yaml").write_text(text(), encoding="utf-8")
        return values | {"config": str(tmp / "alerts.yaml")}

    return CliCase(
        name=name,
        build=build,
        argvs={
            "monitor_config": (
                "monitor", "ingest", "{batch}", "--store", "{out}/m.duckdb", "-r", "{reference}",
                "--config", "{config}",
            ),
        },
        match="{config}",
    )  # fmt: skip


def _marker_text() -> str:
    return python_tag(Path(tempfile.gettempdir()) / "datacentric-hostile-yaml-tag-ran")


YAML_CASES = [
    _yaml_case("files_yaml_alias_bomb", billion_laughs),
    _yaml_case("files_yaml_self_alias", self_alias),
    _yaml_case("files_yaml_deep_nesting", lambda: deep_nesting(3000)),
    _yaml_case("files_yaml_python_tag", _marker_text),
    _config_case("files_config_alias_bomb", lambda: billion_laughs(slices=False)),
    _config_case("files_config_self_alias", lambda: self_alias(slices=False)),
    _config_case("files_config_python_tag", _marker_text),
    _config_case("files_config_wrong_types", lambda: "drift: {alpha: [0.1]}\nmin_rows: x\n"),
]


# ---------------------------------------------------------------- crafted model files
@functools.lru_cache(maxsize=1)
def _state() -> dict[str, Any]:
    """One tiny fitted recipe per test process."""
    return fitted_recipe_state(Path(tempfile.mkdtemp(prefix="dc-hostile-recipe-")) / "m.pt")


def _recipe_case(kind: str) -> CliCase:
    def build(tmp: Path) -> Mapping[str, str]:
        import torch

        values = _base(tmp)
        state = _state()
        marker = tmp / "pwned"
        if kind == "width_3000":
            content: Any = {**state, "params": {**state["params"], "width": 3000}}
        else:
            content = crafted_recipes(state, marker)[kind][0]
        path = tmp / f"{kind}.pt"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        return values | {"recipe": str(path)}

    return CliCase(
        name=f"files_recipe_{kind}",
        build=build,
        argvs={
            "export": (
                "export", "{dataset}", "--out", "{out}/exp", "--targets", "onnx-fp32",
                "--weights", "{recipe}",
            ),
            "demo_production": ("demo-production", "{dataset}", "--out", "{out}/prod",
                                "--weights", "{recipe}"),
        },
        match="{recipe}",
    )  # fmt: skip


RECIPE_CASES = [
    _recipe_case(kind)
    for kind in (
        "width_3000",
        "unknown_param",
        "empty_state_dict",
        "mismatched_shape",
        "missing_keys",
        "non_tensor",
        "text_file",
        "raw_pickle",
        "torch_pickle",
    )
]


# ---------------------------------------------------------------- saved results
def _scan_case(name: str, write: Callable[[Path], None]) -> CliCase:
    def build(tmp: Path) -> Mapping[str, str]:
        values = _base(tmp)
        scan = tmp / "scan.parquet"
        write(scan)
        return values | {"scan": str(scan)}

    return CliCase(
        name=name,
        build=build,
        argvs={
            "guide": ("guide", "{dataset}", "--scan", "{scan}", "--out", "{out}/guide.md"),
            "review_push": (
                "review", "push", "{dataset}", "--project", "p", "--scan", "{scan}",
                "--url", "http://127.0.0.1:9", "--token", "t",
            ),
        },
        match="{scan}",
    )  # fmt: skip


def _scan_bad_meta(path: Path) -> None:
    import polars as pl

    frame = pl.DataFrame({"sample_id": ["s000"], "issue_type": ["label"], "is_issue": [True]})
    frame.write_parquet(path, metadata={"datacentric_scan": json.dumps({"classes": "abc"})})
    path.with_name("scan.samples.parquet").write_bytes(b"")


SCAN_CASES = [
    _scan_case("files_scan_not_parquet", lambda p: p.write_text("sample_id,issue_type\n")),
    _scan_case("files_scan_bad_metadata", _scan_bad_meta),
]


def _metrics_case(name: str, body: str) -> CliCase:
    good = {
        "format": 1,
        "meta": {},
        "rows": [
            {"slice": "overall", "n": 10, "metric": "accuracy", "support": 10, "value": 0.9,
             "ci_low": 0.6, "ci_high": 0.98, "delta_vs_overall": 0.0, "p_value": None,
             "low_support": False}
        ],
    }  # fmt: skip

    def build(tmp: Path) -> Mapping[str, str]:
        (tmp).mkdir(parents=True, exist_ok=True)
        (tmp / "bad.json").write_text(body)
        (tmp / "good.json").write_text(json.dumps(good))
        return {"bad": str(tmp / "bad.json"), "good": str(tmp / "good.json")}

    return CliCase(
        name=name,
        build=build,
        argvs={
            "check_baseline": ("slices", "check", "--baseline", "{bad}", "--current", "{good}"),
            "check_current": ("slices", "check", "--baseline", "{good}", "--current", "{bad}"),
            "report": ("slices", "report", "{bad}", "--out", "{out}/r.html"),
            "report_baseline": (
                "slices", "report", "{good}", "--baseline", "{bad}", "--out", "{out}/r.md",
            ),
        },
        match="{bad}",
    )  # fmt: skip


METRICS_CASES = [
    _metrics_case("files_metrics_truncated", '{"format": 1, "rows": [{"slice": "overall"'),
    _metrics_case("files_metrics_wrong_types", '{"rows": [{"slice": 1}]}'),
    _metrics_case("files_metrics_not_json", "\x00\x01 binary"),
    _metrics_case("files_metrics_deep", "[" * 50_000),
]


def _log_case(name: str, line: str) -> CliCase:
    def build(tmp: Path) -> Mapping[str, str]:
        values = _base(tmp)
        log = Path(values["dataset"]) / ".datacentric" / "experiments" / "log.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(line + "\n")
        return values | {"log": str(log)}

    return CliCase(
        name=name,
        build=build,
        argvs={
            "loop": ("loop", "{dataset}", "--iterations", "1", "--folds", "2"),
            "export": ("export", "{dataset}", "--out", "{out}/exp", "--targets", "onnx-fp32"),
            "demo_production": ("demo-production", "{dataset}", "--out", "{out}/prod"),
        },
        match="{log}",
    )


LOG_CASES = [
    _log_case("files_log_not_json", "{iteration: 0"),
    _log_case(
        "files_log_model_escape",
        json.dumps(
            {"iteration": 0, "version": 1, "accuracy": 0.5, "accuracy_ci": [0.4, 0.6],
             "worst_slice_accuracy": None, "model": "../../../../../etc/passwd"}
        ),
    ),
]  # fmt: skip

CASES: list[CliCase] = [*YAML_CASES, *RECIPE_CASES, *SCAN_CASES, *METRICS_CASES, *LOG_CASES]
