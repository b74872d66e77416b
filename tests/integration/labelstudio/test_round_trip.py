"""The full round trip against a real Label Studio server: push 200 flagged demo samples with
predictions and a guide, annotate as two users (one disagreeing), pull, check the new version."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.datasets import load_ground_truth
from datacentric.exceptions import InvalidParameterError
from datacentric.integrations import review
from datacentric.integrations.guide import AnnotationGuide
from datacentric.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioError,
    ProjectState,
    PullResult,
    PushResult,
    choice_result,
    label_config,
    pull_annotations,
    push_review,
)
from datacentric.issues import scan
from datacentric.issues.agreement import cohens_kappa
from tests.integration.labelstudio._server import LabelStudioServer
from tests.integration.labelstudio.conftest import simulated_predictions

REPO = Path(__file__).resolve().parents[3]
N = 200


def _scan(root: Path):  # type: ignore[no-untyped-def]
    preds = simulated_predictions(root)
    ds = Dataset.open(root)
    result = scan(ds, predictions=preds, finders=["label", "image_quality"], cross_validate=False)
    return ds, result, preds


def test_round_trip_two_annotators(
    ls_server: LabelStudioServer, demo_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ds, result, preds = _scan(demo_dir)
    assert result.flagged()["sample_id"].n_unique() >= N
    client = LabelStudioClient(ls_server.url, ls_server.token)
    guide = AnnotationGuide.load(REPO / "annotation_guides" / "digits.md")
    pushed = push_review(
        ds,
        result,
        project="Digits round trip",
        client=client,
        guide=guide,
        predictions=preds,
        model_version="sim-0.8",
        limit=N,
        chunk_size=64,
        document_root=ls_server.document_root,
    )
    assert (pushed.n_items, pushed.created, pushed.existing) == (N, N, 0)
    pid = pushed.project_id

    # the project: guide as instructions, one choice per class
    proj = client.sdk.projects.get(pid)
    assert guide.title in proj.expert_instruction and proj.show_instruction
    assert all(f'<Choice value="{c}"/>' in proj.label_config for c in ds.classes)

    # tasks: one per sample, worst first, with image, issue detail and a scored prediction
    tasks = list(client.iter_tasks(pid, fields="all"))
    assert len(tasks) == N
    by_id = sorted(tasks, key=lambda t: t["id"])
    sev = [t["data"]["severity"] for t in by_id]
    assert sev == sorted(sev, reverse=True)
    first = by_id[0]
    assert {"image", "sample_id", "issue_type", "detail", "severity"} <= set(first["data"])
    pred = first["predictions"][0]
    truth = dict(load_ground_truth(demo_dir).select("sample_id", "true_label").rows())
    sid0 = first["data"]["sample_id"]
    assert pred["model_version"] == "sim-0.8" and pred["score"] == pytest.approx(0.8)
    assert pred["result"][0]["value"]["choices"] == [truth[sid0]]
    img = httpx.get(
        ls_server.url + first["data"]["image"],
        headers={"Authorization": f"Token {ls_server.token}"},
    )
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"

    # annotate: admin labels 40 tasks with the true digit; a second user labels 10 of them,
    # agreeing on 5 and choosing another digit on 5
    other = client.sdk.users.create(email="second@datacentric.invalid", username="second")
    admin = client.whoami()["id"]
    state = ProjectState.load(demo_dir, client.url, "Digits round trip")
    items = [(s, state.tasks[s]) for s in pushed.task_ids][:40]
    for sid, tid in items:
        client.sdk.annotations.create(id=tid, result=choice_result(truth[sid]), completed_by=admin)
    disagree = {sid for sid, _ in items[:5]}
    for sid, tid in items[:10]:
        lab = str((int(truth[sid]) + 1) % 10) if sid in disagree else truth[sid]
        client.sdk.annotations.create(id=tid, result=choice_result(lab), completed_by=other.id)
    cancelled = items[40 - 1]
    client.sdk.annotations.create(
        id=cancelled[1], result=[], completed_by=other.id, was_cancelled=True
    )

    before = Dataset.open(demo_dir)
    old = dict(before.manifest.select("sample_id", "label").rows())
    pulled = pull_annotations(demo_dir, project="Digits round trip", client=client)
    assert pulled.version == before.version + 1
    assert pulled.annotations.height == 50
    dec = {r["sample_id"]: r for r in pulled.decisions.iter_rows(named=True)}
    assert set(dec) == {s for s, _ in items}
    assert {s for s, r in dec.items() if r["status"] == "tie"} == disagree
    decided = {s for s, _ in items} - disagree
    want_relabel = {s for s in decided if truth[s] != old[s]}
    assert set(pulled.relabeled["sample_id"]) == want_relabel and want_relabel

    after = Dataset.open(demo_dir)
    new = dict(after.manifest.select("sample_id", "label").rows())
    for s in decided:
        assert new[s] == truth[s]
    for s in disagree:  # ties keep the current label
        assert new[s] == old[s]
    changes = after.changes()
    assert set(changes["sample_id"]) == want_relabel
    for r in changes.iter_rows(named=True):
        assert r["field"] == "label" and r["old"] == old[r["sample_id"]]
        assert r["source"].startswith("labelstudio:admin@datacentric.invalid")
        assert f"task {state.tasks[r['sample_id']]}" in r["reason"]
        assert f"user ids {admin}" in r["reason"]
    both_agree = [s for s, _ in items[5:10] if s in want_relabel]
    for s in both_agree:
        row = changes.filter(pl.col("sample_id") == s).row(0, named=True)
        assert row["source"] == "labelstudio:admin@datacentric.invalid,second@datacentric.invalid"
        assert "2 of 2" in row["reason"]

    # agreement: the two annotators share 10 items and agree on 5
    pair = pulled.agreement["pairwise"][0]
    a_labels = [truth[s] for s, _ in items[:10]]
    b_labels = [str((int(truth[s]) + 1) % 10) if s in disagree else truth[s] for s, _ in items[:10]]
    assert pair["n_shared"] == 10
    assert pair["cohens_kappa"] == pytest.approx(cohens_kappa(a_labels, b_labels), abs=1e-6)
    per = {a["annotator"]: a for a in pulled.agreement["annotators"]}
    assert per["admin@datacentric.invalid"]["n_labeled"] == 40
    assert per["second@datacentric.invalid"]["n_labeled"] == 10
    meta_pull = after.history().filter(pl.col("version") == after.version)
    assert meta_pull.height == 1

    assert (pulled.applied, pulled.already_applied) == (len(want_relabel), 0)

    assert (pulled.incremental, pulled.tasks_read, pulled.tasks_listed) == (False, 40, 0)

    # pulling again (through the review-backend protocol) reads no task: nothing was updated
    again = review.pull(demo_dir, backend="labelstudio", target="Digits round trip", client=client)
    assert isinstance(again, PullResult) and again.backend == "labelstudio"
    assert again.incremental and again.tasks_read == 0 and again.tasks_listed <= 40
    assert again.version is None and again.decisions.height == 0 and again.applied == 0
    # a full re-read finds every annotation already applied: nothing is applied twice
    full = review.pull(
        demo_dir, backend="labelstudio", target="Digits round trip", client=client, full=True
    )
    assert (full.incremental, full.tasks_read, full.applied) == (False, 40, 0)
    assert full.n_already_applied == full.already_applied == 40 and full.version is None
    assert Dataset.open(demo_dir).version == after.version

    # a third opinion on a tied task is new: the majority now decides it
    sid, tid = items[0]
    third = client.sdk.users.create(email="third@datacentric.invalid", username="third")
    client.sdk.annotations.create(id=tid, result=choice_result(truth[sid]), completed_by=third.id)
    third_pull = pull_annotations(demo_dir, project="Digits round trip", client=client)
    assert third_pull.incremental and third_pull.tasks_read == 1
    assert third_pull.decisions["sample_id"].to_list() == [sid]
    assert third_pull.decisions["decided"].to_list() == [truth[sid]]
    assert (
        Dataset.open(demo_dir).manifest.filter(pl.col("sample_id") == sid)["label"].item()
        == truth[sid]
    )

    assert ls_server.token not in caplog.text


def test_duplicate_push_creates_nothing(ls_server: LabelStudioServer, demo_dir: Path) -> None:
    ds, result, preds = _scan(demo_dir)
    client = LabelStudioClient(ls_server.url, ls_server.token)
    kw = {
        "backend": "labelstudio",
        "target": "Digits duplicates",
        "client": client,
        "predictions": preds,
        "images": "data-uri",
    }
    first = review.push(ds, result, limit=50, **kw)  # the review-backend protocol
    assert isinstance(first, PushResult) and first.url == first.project_url
    assert (first.created, first.updated, first.unchanged) == (50, 0, 0)
    assert first.task_ids and all(
        v.startswith("data:image/png;base64,")
        for v in [t["data"]["image"] for t in client.iter_tasks(first.project_id)]
    )
    again = review.push(ds, result, limit=50, **kw)
    assert (again.created, again.unchanged, again.existing) == (0, 50, 50)
    assert again.task_ids == first.task_ids
    # the journal lost: the server is still asked by sample_id, so still no duplicate
    ProjectState.load(demo_dir, client.url, "Digits duplicates").path.unlink()
    more = review.push(ds, result, limit=80, **kw)
    assert (more.created, more.existing) == (30, 50)
    ids = [t["data"]["sample_id"] for t in client.iter_tasks(first.project_id)]
    assert len(ids) == 80 == len(set(ids))


def test_errors_name_the_failure_and_never_the_token(
    ls_server: LabelStudioServer, demo_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-token-" + "x" * 28
    bad = LabelStudioClient(ls_server.url, secret, retries=0)
    with pytest.raises(LabelStudioError) as info:
        push_review(
            demo_dir,
            pl.DataFrame({"sample_id": ["d0000"]}),
            project="Nope",
            client=bad,
            images="data-uri",
        )
    msg = str(info.value)
    assert info.value.status_code == 401 and "HTTP 401" in msg and ls_server.url in msg
    assert "This push created no task yet" in msg
    assert secret not in msg and secret not in repr(bad) and secret not in caplog.text
    with pytest.raises(InvalidParameterError, match=r"no project titled 'Missing project'"):
        pull_annotations(
            demo_dir,
            project="Missing project",
            client=LabelStudioClient(ls_server.url, ls_server.token),
        )


def test_existing_project_must_offer_every_class(
    ls_server: LabelStudioServer, demo_dir: Path
) -> None:
    client = LabelStudioClient(ls_server.url, ls_server.token)
    client.sdk.projects.create(title="Cats and dogs", label_config=label_config(["cat", "dog"]))
    with pytest.raises(InvalidParameterError, match=r"no choice for \['0', '1'"):
        push_review(
            demo_dir,
            pl.DataFrame({"sample_id": ["d0000"]}),
            project="Cats and dogs",
            client=client,
            images="data-uri",
        )
