"""Label Studio project configuration: the labeling XML from the classes, instructions from a guide.

The labeling interface shows the image, a read-only line with the sample id, issue type and
the scan's detail, and one choice per class (single choice, required). Prediction and
annotation results refer to the controls by the names in :data:`FROM_NAME` / :data:`TO_NAME`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from datacentric.exceptions import InvalidParameterError

__all__ = [
    "FROM_NAME",
    "TO_NAME",
    "choice_result",
    "instructions_html",
    "label_config",
    "result_label",
]

FROM_NAME = "label"
"""Name of the ``<Choices>`` control in the labeling config."""
TO_NAME = "image"
"""Name of the ``<Image>`` object the choices label."""


def label_config(classes: Sequence[str]) -> str:
    """The labeling-interface XML for single-choice image classification over ``classes``.

    Examples
    --------
    >>> xml = label_config(["cat", "dog"])
    >>> '<Choice value="cat"/>' in xml and 'name="label" toName="image"' in xml
    True
    >>> label_config([])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: label_config: needs at least 2 classes ...
    """
    names = [str(c) for c in classes]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"label_config: needs at least 2 classes, all distinct; received {names!r}. Pass the "
            "dataset's classes (ds.classes)."
        )
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in names)
    return (
        "<View>\n"
        '  <Header value="Sample $sample_id · issue: $issue_type"/>\n'
        '  <Text name="detail" value="$detail"/>\n'
        f'  <Image name="{TO_NAME}" value="$image" zoom="true" maxWidth="360px"'
        ' smoothing="false"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" required="true"'
        ' showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>"
    )


def choice_result(label: str) -> list[dict[str, Any]]:
    """A prediction/annotation ``result`` choosing ``label``.

    Examples
    --------
    >>> choice_result("7")[0]["value"]
    {'choices': ['7']}
    """
    return [
        {
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


def result_label(result: Sequence[dict[str, Any]] | None) -> str | None:
    """The chosen class of an annotation ``result`` (``None`` when nothing was chosen).

    Examples
    --------
    >>> result_label(choice_result("7")), result_label([])
    ('7', None)
    """
    for item in result or ():
        if item.get("from_name") == FROM_NAME and item.get("type") == "choices":
            chosen = (item.get("value") or {}).get("choices") or []
            if chosen:
                return str(chosen[0])
    return None


def instructions_html(
    guide: Any | None, classes: Sequence[str], task: str = "classification"
) -> str:
    """Project instructions: the guide as HTML, or a short default naming the classes.

    ``guide`` is an :class:`~datacentric.integrations.guide.AnnotationGuide` or ``None``;
    ``task`` the dataset's (``"detection"``: the default text is about boxes).

    Examples
    --------
    >>> instructions_html(None, ["a", "b"])
    '<p>Choose the class of each image: a, b. The suggested label is a model guess.</p>'
    >>> instructions_html(None, ["a", "b"], "detection")[:60]
    '<p>Check every box: move or resize it to fit its object, cha'
    """
    if guide is None and task == "detection":
        return (
            "<p>Check every box: move or resize it to fit its object, change its class, "
            "delete it if there is no object, and draw a box for every object without one. "
            f"Classes: {escape(', '.join(classes))}. The grey, locked boxes with a score are "
            "a detector's guesses, for comparison only: to accept one, draw the box.</p>"
        )
    if guide is None:
        return (
            f"<p>Choose the class of each image: {', '.join(classes)}. "
            "The suggested label is a model guess.</p>"
        )
    missing = sorted(set(classes) - set(guide.class_names))
    if missing:
        raise InvalidParameterError(
            f"the annotation guide {guide.title!r} does not define the classes {missing} of the "
            f"dataset (it defines {guide.class_names}). Add them to its '## Classes' section."
        )
    return str(guide.to_html())
