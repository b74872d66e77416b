"""The alert config: YAML file, defaults, overrides and clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.monitor import MonitorConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_round_trips() -> None:
    cfg = load_config(ROOT / "slices" / "monitor_alerts.yaml")
    assert cfg.window == "1d" and cfg.window_duration == dt.timedelta(days=1)
    assert cfg.threshold("blurriness", "wasserstein") == 0.15
    assert cfg.threshold("contrast", "wasserstein") == 0.1
    assert cfg.threshold("contrast", "psi") is None
    assert MonitorConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"windw": "1d"}, r"unknown key\(s\) \['windw'\] in top level"),
        ({"drift": {"wasserstain": 0.1}}, r"unknown key\(s\) \['wasserstain'\] in drift"),
        ({"drift": {"metrics": {"x": {"ks": 0.1}}}}, r"unknown key\(s\) \['ks'\] in x"),
        ({"drift": {"metrics": ["x"]}}, "maps a metric name"),
    ],
)
def test_schema_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        load_config(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"window": "1mo"}, "fixed duration"),
        ({"window": "soon"}, "polars duration"),
        ({"min_rows": 0}, "min_rows must be a positive integer"),
        ({"drift": {"alpha": 1.5}}, r"alpha must be in \(0, 1\)"),
    ],
)
def test_parameter_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        load_config(doc)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("window: [1d\n")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
