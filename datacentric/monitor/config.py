"""Monitor configuration: time windows, drift and performance thresholds, alert severity.

Read from YAML (see ``slices/monitor_alerts.yaml`` and ``docs/monitor.md``)::

    window: 1d                 # polars duration: 1h, 6h, 1d, 1w ...
    min_rows: 100              # (window, slice) cells with fewer rows get statistics, no alerts
    drift:
      alpha: 0.05              # family-wise: divided by the number of tests in the window
      wasserstein: 0.1         # W1 / reference std, continuous metrics, n > 1000
      jensen_shannon: 0.1      # JS distance, categorical metrics, n > 1000
      psi: null                # set e.g. 0.25 to also alert on PSI
      metrics:                 # per-metric overrides of the above
        brightness_mean: {wasserstein: 0.15}
    performance:
      expected_accuracy_drop: 0.05   # CBPE below the same estimate on the slice's reference rows
      accuracy_drop: 0.05            # accuracy on recorded labels below the reference's
      min_labels: 30
    missing_rate: 0.05         # share of null/NaN values of a metric in a window
    critical_factor: 2.0       # critical beyond factor x threshold (p-values: alpha / 100)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from datacentric._validation import Constraint, Interval, check_params, validate_params
from datacentric._yaml import load_yaml_file
from datacentric.exceptions import InvalidParameterError, SchemaError

__all__ = ["MonitorConfig", "load_config"]

_TOP = ("window", "min_rows", "drift", "performance", "missing_rate", "critical_factor")
_DRIFT = ("alpha", "wasserstein", "jensen_shannon", "psi", "metrics")
_PERF = ("expected_accuracy_drop", "accuracy_drop", "min_labels")
#: Alert thresholds: finite numbers >= 0, or ``None`` (null in YAML) to turn one off.
_THRESHOLDS = {
    "wasserstein": "drift.wasserstein",
    "jensen_shannon": "drift.jensen_shannon",
    "psi": "drift.psi",
    "expected_accuracy_drop": "performance.expected_accuracy_drop",
    "accuracy_drop": "performance.accuracy_drop",
    "missing_rate": "missing_rate",
}


class _FixedDuration(Constraint):
    """A positive polars duration of fixed length (no months, quarters or years)."""

    def is_satisfied_by(self, value: object) -> bool:
        if not isinstance(value, str) or re.search(r"mo|q|y|i", value):
            return False
        try:
            out = pl.Series([0], dtype=pl.Datetime("us")).dt.offset_by(value)
        except Exception:
            return False
        return bool(out.dt.epoch("us")[0] > 0)

    def __str__(self) -> str:
        return (
            "a positive fixed-length polars duration such as '1h', '6h', '1d' or '1w' (not "
            "months, quarters or years, which vary in length: use '4w' or '30d')"
        )

    def invalid_values(self) -> list[object]:
        return ["1mo", "soon", "0d"]


class _OverrideShape(Constraint):
    """Per-metric overrides: a mapping from overridable statistics to thresholds."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, Mapping) and set(value) <= set(_OVERRIDABLE)

    def __str__(self) -> str:
        return f"a mapping from some of {list(_OVERRIDABLE)} to thresholds"


#: Statistics whose threshold a metric may override (``drift.metrics``).
_OVERRIDABLE = ("wasserstein", "jensen_shannon", "psi", "missing_rate")
_THRESHOLD = [Interval(Real, 0, None, closed="neither"), None]
_SHARE = [Interval(Real, 0, 1, closed="right"), None]
_KINDS = {
    "window": "str",
    "min_rows": "int",
    "alpha": "number",
    "wasserstein": "number",
    "jensen_shannon": "number",
    "psi": "number|null",
    "expected_accuracy_drop": "number|null",
    "accuracy_drop": "number|null",
    "min_labels": "int",
    "missing_rate": "number|null",
    "critical_factor": "number",
}


@dataclass(frozen=True)
class MonitorConfig:
    """Thresholds that turn window statistics into alerts (defaults in the module docstring).

    Examples
    --------
    >>> cfg = MonitorConfig.from_dict({"window": "1h", "drift": {"wasserstein": 0.2}})
    >>> cfg.window, cfg.threshold("brightness", "wasserstein"), cfg.window_duration
    ('1h', 0.2, datetime.timedelta(seconds=3600))
    """

    window: str = "1d"
    min_rows: int = 100
    alpha: float = 0.05
    wasserstein: float = 0.1
    jensen_shannon: float = 0.1
    psi: float | None = None
    metric_overrides: dict[str, dict[str, float | None]] = field(default_factory=dict)
    expected_accuracy_drop: float | None = 0.05
    accuracy_drop: float | None = 0.05
    min_labels: int = 30
    missing_rate: float | None = 0.05
    critical_factor: float = 2.0

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [_FixedDuration()],
        "min_rows": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "wasserstein": _THRESHOLD,
        "jensen_shannon": _SHARE,
        "psi": _THRESHOLD,
        "metric_overrides": [dict],
        "expected_accuracy_drop": [Interval(Real, 0, 1, closed="both"), None],
        "accuracy_drop": [Interval(Real, 0, 1, closed="both"), None],
        "min_labels": [Interval(Integral, 1, None, closed="left")],
        "missing_rate": _SHARE,
        "critical_factor": [Interval(Real, 1, None, closed="left")],
    }

    def __post_init__(self) -> None:
        validate_params(self)
        per_metric = {k: self._parameter_constraints[k] for k in _OVERRIDABLE}
        for metric, values in self.metric_overrides.items():
            where = f"metric_overrides[{metric!r}]"
            fix = (
                f"Fix drift.metrics.{metric} in the config file (e.g. {{wasserstein: 0.15}}), "
                f"or {where} in Python."
            )
            check_params("MonitorConfig", {where: values}, {where: [_OverrideShape()]}, fix=fix)
            check_params(
                "MonitorConfig",
                {f"{where}[{stat!r}]": v for stat, v in values.items()},
                {f"{where}[{stat!r}]": per_metric[stat] for stat in values},
                fix=fix,
            )

    @property
    def window_duration(self) -> dt.timedelta:
        """The window length as a :class:`datetime.timedelta`."""
        out = pl.Series([0], dtype=pl.Datetime("us")).dt.offset_by(self.window)
        return dt.timedelta(microseconds=int(out.dt.epoch("us")[0]))

    def threshold(self, metric: str, statistic: str) -> float | None:
        """The alert threshold of ``statistic`` for ``metric`` (per-metric override first)."""
        override = self.metric_overrides.get(metric, {})
        if statistic in override:
            return override[statistic]
        value = getattr(self, statistic, None)
        return None if value is None else float(value)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any] | None, *, source: str = "<dict>") -> MonitorConfig:
        """Build from the YAML structure (unknown keys are errors naming the valid ones)."""
        if doc is not None and not isinstance(doc, Mapping):
            raise SchemaError(
                f"{source}: the monitor config must be a mapping (window:, drift:, ...), "
                f"received {_short(doc)}. See slices/monitor_alerts.yaml for an example."
            )
        doc = dict(doc or {})
        _check_keys(doc, _TOP, source, "top level")
        drift = _section(doc.pop("drift", None), source, "drift")
        perf = _section(doc.pop("performance", None), source, "performance")
        _check_keys(drift, _DRIFT, source, "drift")
        _check_keys(perf, _PERF, source, "performance")
        overrides = drift.pop("metrics", None) or {}
        if not isinstance(overrides, Mapping):
            raise SchemaError(
                f"{source}: drift.metrics maps a metric name to thresholds, e.g. "
                f"{{brightness_mean: {{wasserstein: 0.15}}}}; received {_short(overrides)}."
            )
        for metric, values in overrides.items():
            if not isinstance(values, Mapping):
                raise SchemaError(
                    f"{source}: drift.metrics.{metric} must map statistics to thresholds, "
                    f"received {_short(values)}."
                )
            _check_keys(dict(values), (*_DRIFT[1:4], "missing_rate"), source, str(metric))
            for key, value in values.items():
                _check_type(f"drift.metrics.{metric}.{key}", value, "number|null", source)
        for section, values in (("", doc), ("drift.", drift), ("performance.", perf)):
            for key, value in values.items():
                _check_type(f"{section}{key}", value, _KINDS[key], source)
        kwargs: dict[str, Any] = {**doc, **drift, **perf}
        kwargs["metric_overrides"] = {str(k): dict(v) for k, v in overrides.items()}
        try:
            return cls(**kwargs)
        except InvalidParameterError as exc:
            if source == "<dict>":
                raise
            raise InvalidParameterError(f"{source}: {exc}") from None
        except TypeError as exc:  # pragma: no cover - keys are checked above
            raise SchemaError(f"{source}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure that :meth:`from_dict` reads back to an equal config."""
        flat = asdict(self)
        return {
            "window": flat["window"],
            "min_rows": flat["min_rows"],
            "drift": {
                "alpha": flat["alpha"],
                "wasserstein": flat["wasserstein"],
                "jensen_shannon": flat["jensen_shannon"],
                "psi": flat["psi"],
                "metrics": flat["metric_overrides"],
            },
            "performance": {k: flat[k] for k in _PERF},
            "missing_rate": flat["missing_rate"],
            "critical_factor": flat["critical_factor"],
        }

    def with_window(self, window: str) -> MonitorConfig:
        """A copy with another window length."""
        return replace(self, window=window)


def _check_keys(doc: Mapping[str, Any], valid: tuple[str, ...], source: str, where: str) -> None:
    unknown = [str(k)[:60] for k in doc if k not in valid]
    if unknown:
        raise SchemaError(
            f"{source}: unknown key(s) {unknown[:10]} in {where} of the monitor config. Valid "
            f"keys: {list(valid)}. Fix the spelling or remove them."
        )


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else None
    if text is None:
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _section(value: Any, source: str, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SchemaError(
            f"{source}: {name} of the monitor config must be a mapping of settings, received "
            f"{_short(value)}. See slices/monitor_alerts.yaml for an example."
        )
    return dict(value)


def _check_type(name: str, value: Any, kinds: str, source: str) -> None:
    """A setting of the expected type: ``"int"``, ``"number"``, ``"str"`` (``|null``)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {
        "null": value is None,
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": number,  # finiteness and ranges: the declared constraints (one form)
        "str": isinstance(value, str),
    }
    if not any(ok[k] for k in kinds.split("|")):
        expected = " or ".join(
            {"int": "an integer", "number": "a number", "str": "text", "null": "null"}[k]
            for k in kinds.split("|")
        )
        raise SchemaError(
            f"{source}: {name} must be {expected}, received {_short(value)}. Fix the monitor "
            "config (see slices/monitor_alerts.yaml)."
        )


def load_config(
    path_or_dict: str | Path | Mapping[str, Any] | MonitorConfig | None,
) -> MonitorConfig:
    """Read a monitor config from a YAML file, a mapping, or ``None`` (the defaults).

    Examples
    --------
    >>> load_config(None).window
    '1d'
    >>> load_config({"drift": {"wasserstain": 0.1}})
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: <dict>: unknown key(s) ['wasserstain'] in drift ...
    """
    if path_or_dict is None:
        return MonitorConfig()
    if isinstance(path_or_dict, MonitorConfig):
        return path_or_dict
    if isinstance(path_or_dict, Mapping):
        return MonitorConfig.from_dict(path_or_dict)
    path = Path(path_or_dict)
    if not path.is_file():
        raise InvalidParameterError(
            f"monitor config file {str(path)!r} does not exist. Pass the path of a YAML file "
            "such as slices/monitor_alerts.yaml, or a dict."
        )
    doc = load_yaml_file(path, what="the monitor config")
    return MonitorConfig.from_dict(doc, source=str(path))
