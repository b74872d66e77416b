"""The alert config: YAML file, defaults, overrides and clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.monitor import MonitorConfig, load_config
from datacentric.testing import check_parameter_constraints

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
        ({"missing_rate": "5%"}, r"missing_rate must be a number or null, received .5%."),
    ],
)
def test_schema_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        load_config(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"window": "1mo"}, r"window must be a positive fixed-length .*months.*received '1mo'"),
        ({"window": "1q"}, r"window must be a positive fixed-length .*received '1q'"),
        ({"window": "soon"}, r"window must be .*polars duration .*received 'soon'"),
        ({"min_rows": 0}, r"min_rows must be an integer >= 1; received 0"),
        ({"drift": {"alpha": 1.5}}, r"alpha must be a number in \(0, 1\); received 1\.5"),
        ({"drift": {"psi": -0.1}}, r"psi must be a number > 0 or None; received -0\.1"),
        (
            {"drift": {"metrics": {"blurriness": {"wasserstein": 0}}}},
            r"metric_overrides\['blurriness'\]\['wasserstein'\] must be a number > 0.*"
            r"drift\.metrics\.blurriness",
        ),
        ({"performance": {"accuracy_drop": 2}}, r"accuracy_drop must be a number in \[0, 1\]"),
        ({"missing_rate": 1.5}, r"missing_rate must be a number in \(0, 1\] or None"),
    ],
)
def test_parameter_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        load_config(doc)


def test_every_config_parameter_is_checked() -> None:
    assert check_parameter_constraints(MonitorConfig) >= 2 * len(MonitorConfig.__dataclass_fields__)
    with pytest.raises(InvalidParameterError, match=r"metric_overrides\['x'\] must be a mapping"):
        MonitorConfig(metric_overrides={"x": {"ks": 0.1}})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("window: [1d\n")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
