"""Label Studio pieces that need no server: config, results, journal, item tables, errors.

The calls against a real server are in tests/integration/labelstudio/.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.integrations.guide import AnnotationGuide
from datacentric.integrations.labelstudio import (
    LabelStudioClient,
    ProjectState,
    ServerUnavailableError,
    annotations_frame,
    choice_result,
    instructions_html,
    label_config,
    pull_annotations,
    push_review,
    result_label,
    review_items,
)
from datacentric.integrations.labelstudio.push import ensure_project
from datacentric.testing import check_parameter_constraints

REPO = Path(__file__).resolve().parents[3]
SECRET = "0123456789secret0123456789secret01234567"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_label_config_and_results() -> None:
    xml = label_config(["a&b", "c"])
    assert '<Choice value="a&amp;b"/>' in xml and "$sample_id" in xml and "$detail" in xml
    assert result_label(choice_result("c")) == "c"
    assert (
        result_label([{"from_name": "other", "type": "choices", "value": {"choices": ["x"]}}])
        is None
    )
    with pytest.raises(InvalidParameterError, match="all distinct"):
        label_config(["a", "a"])


def test_instructions_need_every_class_in_the_guide() -> None:
    guide = AnnotationGuide.load(REPO / "annotation_guides" / "digits.md")
    assert "1 vs 7" in instructions_html(guide, [str(d) for d in range(10)])
    with pytest.raises(InvalidParameterError, match=r"does not define the classes \['x'\]"):
        instructions_html(guide, ["0", "x"])


def test_client_needs_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(InvalidParameterError, match=r"\$LABEL_STUDIO_URL"):
        LabelStudioClient()
    with pytest.raises(InvalidParameterError, match=r"\$LABEL_STUDIO_API_KEY"):
        LabelStudioClient("http://127.0.0.1:1")
    with pytest.raises(
        InvalidParameterError,
        match=r"^LabelStudioClient: parameter url must be an http:// or https:// URL .*; "
        r"received 'localhost:8080' \(str\)",
    ):
        LabelStudioClient("localhost:8080", "t")
    for kwargs, match in [
        ({"retries": -1}, r"retries must be an integer >= 0; received -1"),
        ({"timeout": 0}, r"timeout must be a number > 0; received 0"),
        ({"backoff": "x"}, r"backoff must be a number >= 0; received 'x'"),
    ]:
        with pytest.raises(InvalidParameterError, match="^LabelStudioClient: parameter " + match):
            LabelStudioClient("http://127.0.0.1:1", SECRET, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError) as bad_url:  # the token is never shown
        LabelStudioClient(3, SECRET)  # type: ignore[arg-type]
    assert SECRET not in str(bad_url.value) and "parameter url must be" in str(bad_url.value)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:2/")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", SECRET)
    c = LabelStudioClient()
    assert (
        c.url == "http://127.0.0.1:2"
        and SECRET not in repr(c)
        and SECRET not in str(vars(c).get("url"))
    )


def test_unreachable_server_retries_then_names_the_call_not_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{_closed_port()}"
    client = LabelStudioClient(url, SECRET, retries=2, backoff=0.01)
    with pytest.raises(ServerUnavailableError) as info:
        client.whoami()
    msg = str(info.value)
    assert msg.startswith(f"Label Studio at {url}: check the API token (whoami) failed after 3")
    assert "cannot connect" in msg and info.value.status_code is None
    assert caplog.text.count("retry") == 2
    assert SECRET not in msg and SECRET not in caplog.text and SECRET not in repr(info.value)


def test_review_items_one_row_per_sample_worst_first() -> None:
    ds = Dataset.from_arrays(np.zeros((3, 4, 4)), ["a", "b", "a"], classes=["a", "b"])
    t = pl.DataFrame(
        {
            "sample_id": ["0", "1", "1", "2"],
            "issue_type": ["dark", "label", "dark", "label"],
            "is_issue": [True, True, True, False],
            "severity": [0.3, 0.6, 0.9, 1.0],
            "detail": ["dark", "mislabelled", "dark", "fine"],
            "suggested_label": [None, "a", None, None],
        }
    )
    out = review_items(t, None, ds)
    assert out.select("sample_id", "issue_type", "severity", "suggested_label").rows() == [
        ("1", "dark, label", 0.9, "a"),
        ("0", "dark", 0.3, None),
    ]
    only_dark = review_items(t, None, ds, issue_types=["dark"])
    assert only_dark.select("sample_id", "issue_type").rows() == [("1", "dark"), ("0", "dark")]
    with pytest.raises(
        InvalidParameterError, match=r"\['blurry'\] are not among .* \['dark', 'label'\]"
    ):
        review_items(t, None, ds, issue_types=["blurry"])
    with pytest.raises(InvalidDatasetError, match=r"not in the dataset: 'zz'"):
        review_items(pl.DataFrame({"sample_id": ["zz"]}), None, ds)
    with pytest.raises(InvalidParameterError, match="'sample_id' column"):
        review_items(pl.DataFrame({"id": ["0"]}), None, ds)
    with pytest.raises(InvalidParameterError, match="no review queue"):
        review_items(None, Path("/nonexistent"), ds)


def test_review_items_of_a_ranked_queue_keep_its_order() -> None:
    """The loop's queue (rank_review_queue: one row per sample, issue_types a list) is pushed
    in its priority order, not by severity; --issue-type matches any of a sample's types."""
    from datacentric.loop.review_queue import rank_review_queue

    ds = Dataset.from_arrays(np.zeros((3, 4, 4)), ["a", "b", "a"], classes=["a", "b"])
    t = pl.DataFrame(
        {
            "sample_id": ["0", "1", "1", "2"],
            "issue_type": ["label", "dark", "outlier", "dark"],
            "severity": [0.4, 1.0, 1.0, 0.9],
            "label_quality": [0.1, None, None, None],
            "suggested_label": ["b", None, None, None],
        }
    )
    queue = rank_review_queue(t, budget="all")  # p_wrong: 0 .9, 1 .51, 2 .27
    out = review_items(queue, None, ds)
    assert out.select("sample_id", "issue_type", "severity", "suggested_label").rows() == [
        ("0", "label", 0.4, "b"),
        ("1", "dark, outlier", 1.0, None),
        ("2", "dark", 0.9, None),
    ]
    only = review_items(queue, None, ds, issue_types=["outlier"])
    assert only.select("sample_id", "issue_type").rows() == [("1", "outlier")]


def test_push_checks_inputs_before_contacting_the_server(tmp_path: Path) -> None:
    client = LabelStudioClient(f"http://127.0.0.1:{_closed_port()}", SECRET, retries=0)
    mem = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"])
    with pytest.raises(InvalidParameterError, match="folder-backed"):
        push_review(mem, pl.DataFrame({"sample_id": ["0"]}), project="abc", client=client)
    disk = mem.to_folder(tmp_path / "ds")
    with pytest.raises(
        InvalidParameterError,
        match=r"^push_review: parameter chunk_size must be an integer >= 1; received 0 \(int\)",
    ):
        push_review(disk, None, project="abc", client=client, chunk_size=0)
    with pytest.raises(
        InvalidParameterError,
        match=r"^push_review: parameter images must be one of 'auto', 'local-files', 'data-uri'; "
        r"received 's3' \(str\)",
    ):
        push_review(disk, None, project="abc", client=client, images="s3")  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError,
        match=r"^push_review: parameter project must be a project title of at least 3 "
        r"characters; received 'ab' \(str\)",
    ):
        push_review(disk, None, project="ab", client=client)
    with pytest.raises(InvalidParameterError, match=r"^push_review: parameter issue_types .*'x'"):
        push_review(disk, None, project="abc", client=client, issue_types="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"^push_review: parameter limit .*-1"):
        push_review(disk, None, project="abc", client=client, limit=-1)
    with pytest.raises(InvalidParameterError, match=r"^pull_annotations: parameter page_size"):
        pull_annotations(disk, project="abc", client=client, page_size=0)
    with pytest.raises(InvalidParameterError, match=r"^pull_annotations: parameter project .*''"):
        pull_annotations(disk, project="", client=client)
    valid = {"project": "abc"}
    # another type for each, plus: project 'ab'; issue_types a bare string and [object()];
    # images an unknown option; chunk_size 0, 1.5; limit -1, 0.5
    assert check_parameter_constraints(push_review, valid) == 7 + 1 + 2 + 1 + 2 + 2
    # project ''; commit 'yes', 1; page_size 0, 1.5; iou_threshold -0.001, 0, 1.001, nan;
    # max_regions 0, 1.5; full another type, 'yes', 1
    assert check_parameter_constraints(pull_annotations, valid) == 6 + 1 + 2 + 2 + 4 + 2 + 3
    assert check_parameter_constraints(ensure_project) == 2
    with pytest.raises(InvalidParameterError, match="needs the server's document root"):
        push_review(
            disk,
            pl.DataFrame({"sample_id": ["0"]}),
            project="abc",
            client=client,
            images="local-files",
        )


def test_annotations_frame_and_journal(tmp_path: Path) -> None:
    tasks = [
        {
            "id": 1,
            "data": {"sample_id": "s1"},
            "annotations": [
                {"id": 10, "completed_by": 3, "result": choice_result("a"), "updated_at": "t1"},
                {
                    "id": 11,
                    "completed_by": {"id": 4},
                    "result": choice_result("b"),
                    "updated_at": "t2",
                },
            ],
        },
        {"id": 2, "data": {"other": 1}, "annotations": [{"id": 12, "result": choice_result("a")}]},
    ]
    f = annotations_frame(tasks, {3: "x@a"})
    assert f.select("annotation_id", "annotator", "annotator_id", "label").rows() == [
        (10, "x@a", 3, "a"),
        (11, "user:4", 4, "b"),
    ]
    st = ProjectState.load(tmp_path, "http://h:8080", "My project")
    assert st.tasks == {} and st.project_id is None
    st.project_id, st.tasks, st.applied = 5, {"s1": 1}, {"10": "t1"}
    st.save()
    again = ProjectState.load(tmp_path, "http://h:8080", "My project")
    assert (again.project_id, again.tasks, again.applied) == (5, {"s1": 1}, {"10": "t1"})
    again.path.write_text("{broken")
    with pytest.raises(Exception, match="Delete it: the next push rebuilds it"):
        ProjectState.load(tmp_path, "http://h:8080", "My project")


def test_default_items_are_the_last_review_queue(tmp_path: Path) -> None:
    ds = Dataset.from_arrays(np.zeros((3, 4, 4)), ["a", "b", "a"], classes=["a", "b"])
    ds = ds.to_folder(tmp_path / "ds")
    assert ds.root is not None
    exp = ds.root / ".datacentric" / "experiments"
    for it, ids in ((1, ["0", "1"]), (2, ["2"])):
        (exp / f"iter_{it:03d}").mkdir(parents=True)
        pl.DataFrame(
            {"sample_id": ids, "issue_type": ["dark"] * len(ids), "severity": [0.5] * len(ids)}
        ).write_parquet(exp / f"iter_{it:03d}" / "review.parquet")
    assert review_items(None, ds.root, ds)["sample_id"].to_list() == ["2"]


def test_importing_the_integration_does_not_import_the_sdk() -> None:
    code = (
        "import sys, datacentric.integrations.labelstudio, datacentric.integrations.guide\n"
        "print('label_studio_sdk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
