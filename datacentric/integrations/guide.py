"""Annotation guides: what annotators read before they label, as Markdown with a fixed shape.

A guide has a title, the task, one definition per class, numbered decision rules, and the
ambiguous cases the team has decided (each with example sample ids and images). It renders
to Markdown (the file in ``annotation_guides/``), parses back from it, and renders to HTML for
Label Studio's project instructions. :func:`draft_guide` writes a first draft from the data:
the classes, the class pairs the model confuses most, and near-duplicates labelled
differently, as the cases a person has to decide.

The Markdown layout::

    # <title>

    ## Task
    <free text>

    ## Classes
    - **<class>**: <definition>

    ## Decision rules
    1. <rule>

    ## Ambiguous cases
    ### <case title>
    <decision text>

    Examples: <sample id>, <sample id>

    ![<sample id>](<image path>)
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacentric._io import atomic_write_text
from datacentric._validation import Interval, validate_call
from datacentric.dataset.images import resolve_image_path
from datacentric.exceptions import InvalidParameterError, SchemaError

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.issues.result import ScanResult
    from datacentric.train.recipe import Predictions

__all__ = ["AmbiguousCase", "AnnotationGuide", "ClassDefinition", "draft_guide"]

TODO = "TODO: define"
_SECTIONS = ("task", "classes", "decision rules", "ambiguous cases")
_CLASS_LINE = re.compile(r"^[-*]\s+\*\*(?P<name>.+?)\*\*\s*:?\s*(?P<definition>.*)$")
_RULE_LINE = re.compile(r"^(?:\d+[.)]|[-*])\s+(?P<rule>.+)$")
_IMAGE_LINE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)")
_EXAMPLES = re.compile(r"^examples?\s*:\s*(?P<ids>.*)$", re.IGNORECASE)


@dataclass
class ClassDefinition:
    """One class and what belongs in it."""

    name: str
    definition: str = TODO


@dataclass
class AmbiguousCase:
    """A case annotators disagree on, and what to do about it.

    Attributes
    ----------
    title : str
        E.g. ``"1 vs 7"``.
    decision : str
        The rule for the case (free text; a draft says what to decide).
    sample_ids : list of str
        Example samples.
    images : list of str
        Image paths (relative to the guide file or URLs) of the examples.
    """

    title: str
    decision: str = ""
    sample_ids: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


@dataclass
class AnnotationGuide:
    """An annotation guide (see the module docstring for the Markdown layout).

    Examples
    --------
    >>> g = AnnotationGuide("Digits", "Label the digit.",
    ...                     [ClassDefinition("1", "one stroke"), ClassDefinition("7")],
    ...                     ["Label what is written, not what was meant."],
    ...                     [AmbiguousCase("1 vs 7", "A bar on top makes it a 7.", ["d1"])])
    >>> AnnotationGuide.from_markdown(g.to_markdown()) == g
    True
    >>> g.class_names
    ['1', '7']
    >>> "<h2>Classes</h2>" in g.to_html()
    True
    """

    title: str
    task: str
    classes: list[ClassDefinition]
    rules: list[str] = field(default_factory=list)
    ambiguous: list[AmbiguousCase] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        """The class names, in guide order."""
        return [c.name for c in self.classes]

    # ------------------------------------------------------------------ render
    def to_markdown(self) -> str:
        """The guide as Markdown (the layout in the module docstring)."""
        out = [f"# {self.title}", "", "## Task", "", self.task.strip(), "", "## Classes", ""]
        out += [f"- **{c.name}**: {c.definition}" for c in self.classes]
        out += ["", "## Decision rules", ""]
        out += [f"{i}. {r}" for i, r in enumerate(self.rules, 1)]
        out += ["", "## Ambiguous cases", ""]
        for case in self.ambiguous:
            out += [f"### {case.title}", ""]
            if case.decision.strip():
                out += [case.decision.strip(), ""]
            if case.sample_ids:
                out += [f"Examples: {', '.join(case.sample_ids)}", ""]
            if case.images:
                out += [" ".join(f"![{Path(p).stem}]({p})" for p in case.images), ""]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self, image_base: str | None = None) -> str:
        """The guide as an HTML fragment (Label Studio shows it as the project instructions).

        Parameters
        ----------
        image_base : str, optional
            Prefix for relative image paths (e.g. a URL); images are left out without one,
            because Label Studio cannot read files next to the guide.
        """
        e = html.escape
        out = [f"<h1>{e(self.title)}</h1>", "<h2>Task</h2>", f"<p>{e(self.task.strip())}</p>"]
        out.append("<h2>Classes</h2><ul>")
        out += [f"<li><b>{e(c.name)}</b>: {e(c.definition)}</li>" for c in self.classes]
        out.append("</ul><h2>Decision rules</h2><ol>")
        out += [f"<li>{e(r)}</li>" for r in self.rules]
        out.append("</ol><h2>Ambiguous cases</h2>")
        for case in self.ambiguous:
            out.append(f"<h3>{e(case.title)}</h3><p>{e(case.decision.strip())}</p>")
            if case.sample_ids:
                out.append(f"<p>Examples: {e(', '.join(case.sample_ids))}</p>")
            if image_base is not None:
                for p in case.images:
                    src = p if "://" in p else f"{image_base.rstrip('/')}/{p}"
                    out.append(f'<img src="{e(src)}" alt="{e(Path(p).stem)}" width="64"/>')
        return "".join(out)

    # ------------------------------------------------------------------ parse / io
    @classmethod
    def from_markdown(cls, text: str, *, source: str = "guide") -> AnnotationGuide:
        """Parse a guide written by :meth:`to_markdown` (or by hand in the same layout)."""
        title = ""
        sections: dict[str, list[str]] = {}
        current: str | None = None
        for line in text.splitlines():
            if line.startswith("# ") and not title:
                title = line[2:].strip()
            elif line.startswith("## "):
                current = line[3:].strip().lower()
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
        missing = [s for s in ("task", "classes") if s not in sections]
        if not title or missing:
            raise SchemaError(
                f"{source}: not an annotation guide; it needs a '# Title' line and the sections "
                f"'## Task' and '## Classes' (missing: {missing or ['# Title']}). Found sections "
                f"{sorted(sections)}; see docs/annotation-guides.md for the layout."
            )
        classes = []
        for line in sections["classes"]:
            m = _CLASS_LINE.match(line.strip())
            if m:
                classes.append(ClassDefinition(m["name"].strip(), m["definition"].strip()))
        if not classes:
            raise SchemaError(
                f"{source}: the '## Classes' section lists no class; write one line per class "
                "as '- **name**: definition'."
            )
        rules = []
        for line in sections.get("decision rules", []):
            m = _RULE_LINE.match(line.strip())
            if m:
                rules.append(m["rule"].strip())
        return cls(
            title=title,
            task="\n".join(sections["task"]).strip(),
            classes=classes,
            rules=rules,
            ambiguous=_parse_cases(sections.get("ambiguous cases", [])),
        )

    def save(self, path: str | Path) -> Path:
        """Write the Markdown to ``path`` (atomically)."""
        return atomic_write_text(Path(path), self.to_markdown())

    @classmethod
    def load(cls, path: str | Path) -> AnnotationGuide:
        """Read a guide from a Markdown file."""
        path = Path(path)
        if not path.is_file():
            raise InvalidParameterError(
                f"no annotation guide at {str(path)!r}; draft one with `datacentric guide DIR "
                f"--out {path}`."
            )
        return cls.from_markdown(path.read_text(encoding="utf-8"), source=str(path))


def _parse_cases(lines: list[str]) -> list[AmbiguousCase]:
    cases: list[AmbiguousCase] = []
    text: list[str] = []

    def close() -> None:
        if cases:
            cases[-1].decision = "\n".join(text).strip()
        text.clear()

    for line in lines:
        s = line.strip()
        if s.startswith("### "):
            close()
            cases.append(AmbiguousCase(s[4:].strip()))
        elif not cases:
            continue
        elif (m := _EXAMPLES.match(s)) is not None:
            cases[-1].sample_ids += [x.strip() for x in m["ids"].split(",") if x.strip()]
        elif _IMAGE_LINE.search(s):
            cases[-1].images += [m["src"] for m in _IMAGE_LINE.finditer(s)]
        else:
            text.append(line)
    close()
    return cases


# ---------------------------------------------------------------------- drafting
def _confused_pairs(
    ds: Dataset, scan: ScanResult | None, predictions: Predictions | None, top: int
) -> list[tuple[tuple[str, str], list[str]]]:
    """Unordered (given, predicted) class pairs, most frequent first, with example ids."""
    pairs: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = {}
    rows: list[tuple[str, Any, Any]] = []
    if predictions is not None:
        labels = dict(ds.manifest.select("sample_id", "label").rows())
        pred = predictions.to_polars().select("sample_id", "pred_label", "confidence")
        pred = pred.sort("confidence", descending=True)
        rows = [(s, labels.get(s), p) for s, p, _ in pred.rows()]
    elif scan is not None and "label" in scan.issue_types:
        flagged = scan.flagged("label")
        col = "predicted_label" if "predicted_label" in flagged.columns else "suggested_label"
        rows = flagged.select("sample_id", "label", col).rows()
    for sid, given, predicted in rows:
        if given is None or predicted is None or given == predicted:
            continue
        key = tuple(sorted((str(given), str(predicted))))
        pair = (key[0], key[1])
        pairs[pair] += 1
        examples.setdefault(pair, []).append(str(sid))
    return [(p, examples[p][:4]) for p, _ in pairs.most_common(top)]


def _inconsistent_duplicates(scan: ScanResult | None, top: int) -> list[tuple[str, str, str, str]]:
    """(sample, its label, neighbour, neighbour's label) of near-duplicates labelled apart.

    From ``label_inconsistency`` issues (a sample and its differently labelled neighbour) and
    from ``near_duplicate`` / ``exact_duplicate`` clusters holding more than one label.
    """
    if scan is None:
        return []
    out: list[tuple[str, str, str, str]] = []
    seen: set[frozenset[str]] = set()

    def add(a: Any, la: Any, b: Any, lb: Any) -> None:
        if a is None or b is None or frozenset((a, b)) in seen:
            return
        seen.add(frozenset((a, b)))
        out.append((str(a), str(la), str(b), str(lb)))

    types = scan.issue_types
    if "label_inconsistency" in types:
        t = scan.flagged("label_inconsistency")
        if {"conflict_with", "conflict_label"} <= set(t.columns):
            for row in t.select("sample_id", "label", "conflict_with", "conflict_label").rows():
                add(*row)
    for kind in ("near_duplicate", "exact_duplicate"):
        if kind not in types:
            continue
        t = scan.flagged(kind)
        if "cluster_id" not in t.columns or "label" not in t.columns:
            continue
        for (_cluster,), group in t.drop_nulls(["cluster_id", "label"]).group_by(
            "cluster_id", maintain_order=True
        ):
            rows = group.select("sample_id", "label").rows()
            first = rows[0]
            for other in rows[1:]:
                if other[1] != first[1]:
                    add(first[0], first[1], other[0], other[1])
    return out[:top]


@validate_call({"title": [str, None], "top": [Interval(Integral, 0, None, closed="left")]})
def draft_guide(
    ds: Dataset,
    scan: ScanResult | None = None,
    predictions: Predictions | None = None,
    *,
    title: str | None = None,
    top: int = 5,
    relative_to: str | Path | None = None,
) -> AnnotationGuide:
    """Draft a guide from the data: classes, most-confused pairs, inconsistent near-duplicates.

    Parameters
    ----------
    ds : Dataset
        The dataset; its classes become the class list (definitions left as TODO).
    scan : ScanResult, optional
        A scan of ``ds``: its ``label`` issues give the confused pairs (given vs predicted
        label); its ``label_inconsistency`` issues and its near/exact-duplicate clusters that
        hold more than one label give the near-duplicates labelled apart.
    predictions : Predictions, optional
        Out-of-sample predictions; when given, confused pairs come from every sample whose
        prediction differs from its label (instead of the scan's flagged label errors).
    title : str, optional
        Default ``"Annotation guide: <dataset folder name>"``.
    top : int
        At most this many cases of each kind.
    relative_to : str or Path, optional
        Write example image paths relative to this folder (where the guide will be saved);
        absolute paths otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> from datacentric.train.recipe import Predictions
    >>> ds = Dataset.from_arrays(np.zeros((3, 4, 4)), ["1", "7", "1"], classes=["1", "7"])
    >>> p = Predictions(["0", "1", "2"], np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]]),
    ...                 np.zeros((3, 2)), classes=["1", "7"])
    >>> g = draft_guide(ds, predictions=p, title="Digits")
    >>> g.class_names, [(c.title, c.sample_ids) for c in g.ambiguous]
    (['1', '7'], [('1 vs 7', ['0'])])
    """
    if predictions is not None:  # matched by sample id and class name, values checked
        from datacentric.train.recipe import Predictions as _Predictions

        predictions = _Predictions.coerce(predictions, ds, allow_missing=True, allow_extra=True)
    images = dict(ds.manifest.select("sample_id", "image").rows()) if ds.root is not None else {}

    def pics(ids: list[str]) -> list[str]:
        if ds.root is None:
            return []
        found = [
            resolve_image_path(Path(ds.root), images[s], sample_id=s).resolve()
            for s in ids
            if s in images
        ]
        if relative_to is None:
            return [str(f) for f in found]
        return [os.path.relpath(f, Path(relative_to).resolve()) for f in found]

    cases: list[AmbiguousCase] = []
    for (a, b), ids in _confused_pairs(ds, scan, predictions, top):
        cases.append(
            AmbiguousCase(
                f"{a} vs {b}",
                f"TODO: decide. The model confuses '{a}' and '{b}' on these samples; write what "
                f"tells them apart.",
                ids,
                pics(ids),
            )
        )
    for sid, lab, other, other_lab in _inconsistent_duplicates(scan, top):
        cases.append(
            AmbiguousCase(
                f"near-duplicates {sid} ({lab}) and {other} ({other_lab})",
                "TODO: decide. These two images are near-identical but labelled differently; "
                "decide the label and the rule behind it.",
                [sid, other],
                pics([sid, other]),
            )
        )
    name = Path(ds.root).resolve().name if ds.root is not None else "dataset"
    return AnnotationGuide(
        title=title or f"Annotation guide: {name}",
        task=(
            f"Choose the one class that shows in each image, out of {len(ds.classes)} classes. "
            "The suggested label is a model's guess: check it, do not trust it."
        ),
        classes=[ClassDefinition(c) for c in ds.classes],
        rules=[
            "Label what the image shows, not what the file name or the suggestion says.",
            "If no class fits or the image is unreadable, skip the task and leave a comment.",
        ],
        ambiguous=cases,
    )
