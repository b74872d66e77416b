"""One Markdown escaper (``datacentric._markdown.md_escape``) for every Markdown datacentric
writes: reports, the CI gate summary and the export summary. User data (slice names, labels,
sample ids, details) cannot inject HTML, break a table, open a code span or start a block.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import datacentric
from datacentric._markdown import md_escape
from datacentric.slices.gate import check
from datacentric.slices.metrics import METRICS_SCHEMA
from datacentric.slices.result import SliceMetrics
from tests.report.test_loop_report import root  # noqa: F401  (the fixture of a loop log)

HOSTILE = "<script>|x"
ESCAPED = "&lt;script&gt;\\|x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>|x", "&lt;script&gt;\\|x"),
        ("a & b", "a &amp; b"),
        ("line\nbreak\r\nend", "line break end"),
        ("`code`", "\\`code\\`"),
        ("[link](http://x)", "\\[link\\](http://x)"),
        ("![img](x.png)", "!\\[img\\](x.png)"),
        ("*em* ~~s~~", "\\*em\\* \\~\\~s\\~\\~"),
        ("_em_", "\\_em\\_"),
        ("snake_case_name", "snake_case_name"),
        ("# heading", "\\# heading"),
        ("## h2", "\\## h2"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("---", "\\---"),
        ("=", "\\="),
        ("1. first", "1\\. first"),
        ("2) second", "2\\) second"),
        ("-0.05", "-0.05"),
        ("+0.0123", "+0.0123"),
        ("#5", "#5"),
        ("back\\slash", "back\\\\slash"),
        (None, ""),
        (3, "3"),
    ],
)
def test_md_escape(text: object, expected: str) -> None:
    assert md_escape(text) == expected


def test_one_escaper_everywhere() -> None:
    import datacentric.export.result as export_result
    import datacentric.report.markdown as report_markdown
    import datacentric.slices.gate as gate

    assert report_markdown.md_escape is md_escape
    assert gate.md_escape is md_escape
    assert export_result.md_escape is md_escape
    assert report_markdown.md_text(HOSTILE) == md_escape(HOSTILE)


def test_no_module_has_its_own_markdown_escaping() -> None:
    """The signature of a hand-rolled Markdown escaper is escaping the pipe."""
    package = Path(datacentric.__file__).parent
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name != "_markdown.py" and '"\\\\|"' in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def _metrics(values: dict[str, float]) -> SliceMetrics:
    rows = [
        {"slice": s, "n": 500, "metric": "accuracy", "support": 500, "value": v,
         "ci_low": v - 0.02, "ci_high": v + 0.02, "delta_vs_overall": v - 0.9,
         "p_value": 0.01, "low_support": False}
        for s, v in values.items()
    ]  # fmt: skip
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))


def test_gate_markdown_escapes_slice_names(tmp_path: Path) -> None:
    name = f"site={HOSTILE}"
    result = check(
        _metrics({"overall": 0.9, name: 0.9, "# - 1. `x`": 0.9}),
        _metrics({"overall": 0.9, name: 0.5, "# - 1. `x`": 0.9}),
    )
    md = result.to_markdown()
    assert "<script>" not in md and f"site={ESCAPED}" in md
    assert "\\# - 1. \\`x\\`" in md
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    header = table[0].count("|")
    assert all(ln.count("|") - ln.count("\\|") == header for ln in table)
    assert f"- site={ESCAPED}:" in md  # the failure list
    result.write(markdown=tmp_path / "g.md")
    assert (tmp_path / "g.md").read_text(encoding="utf-8") == md


def test_slices_report_markdown_uses_the_escaper() -> None:
    from datacentric.report.slices import render_slices_markdown

    md = render_slices_markdown(_metrics({"overall": 0.9, f"site={HOSTILE}": 0.7}))
    assert "<script>" not in md.split("```")[0] and f"site={ESCAPED}" in md


def test_scan_report_markdown_uses_the_escaper() -> None:
    from datacentric.issues.result import ScanResult
    from datacentric.report import render_scan_markdown

    ids = ["a", HOSTILE, "c"]
    issues = pl.DataFrame(
        {
            "sample_id": ids,
            "issue_type": ["label"] * 3,
            "is_issue": [False, True, False],
            "severity": [0.0, 0.9, 0.0],
            "suggested_label": [None, "# dog", None],
            "detail": [None, "detail `x` | [y](z)", None],
        }
    )
    samples = pl.DataFrame(
        {"sample_id": ids, "label": ["cat", "- cat", "cat"], "split": ["train"] * 3}
    )
    classes = ["cat", "- cat", "# dog"]
    md = render_scan_markdown(ScanResult(issues=issues, samples=samples, classes=classes))
    assert "<script>" not in md and ESCAPED in md
    assert "detail \\`x\\` \\| \\[y\\](z)" in md
    row = next(ln for ln in md.splitlines() if ESCAPED in ln and ln.startswith("|"))
    header = next(ln for ln in md.splitlines() if ln.startswith("| sample_id"))
    assert row.count("|") - row.count("\\|") == header.count("|")


def test_monitor_markdown_uses_the_escaper(tmp_path: Path) -> None:
    from datacentric.monitor import Monitor
    from tests.monitor._data import reference, rows

    ref = reference(3000).with_columns(
        pl.when(pl.col("site") == "north").then(pl.lit(HOSTILE)).otherwise(pl.col("site"))
        .alias("site")
    )  # fmt: skip
    batch = rows(600, seed=1).with_columns(
        pl.when(pl.col("site") == "north").then(pl.lit(HOSTILE)).otherwise(pl.col("site"))
        .alias("site")
    )  # fmt: skip
    with Monitor(tmp_path / "m.duckdb", reference=ref, slices="slices: [{by: site}]") as mon:
        mon.ingest(batch, batch_id="b1")
        md = mon.report(tmp_path / "m.md").read_text(encoding="utf-8")
    assert "<script>" not in md and f"site={ESCAPED}" in md


def test_loop_markdown_uses_the_escaper(root: Path) -> None:  # noqa: F811 (the fixture)
    from datacentric.report.loop import render_loop_markdown

    md = render_loop_markdown(root)  # sample id "<b>s1</b>", a detail "... <dark>"
    assert "<b>s1</b>" not in md and "&lt;b&gt;s1&lt;/b&gt;" in md
    assert "&lt;dark&gt;" in md
