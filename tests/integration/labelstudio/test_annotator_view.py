"""The project renders for an annotator: logged in through the real login form, headless
Chromium shows the task's digit image, the issue header and one choice per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.integrations.labelstudio import LabelStudioClient, push_review
from datacentric.issues import scan
from tests.integration.labelstudio._annotator_view import capture_task
from tests.integration.labelstudio._server import ADMIN_EMAIL, ADMIN_PASSWORD, LabelStudioServer
from tests.integration.labelstudio.conftest import simulated_predictions


def test_labeling_page_renders(
    ls_server: LabelStudioServer, demo_dir: Path, tmp_path: Path
) -> None:
    preds = simulated_predictions(demo_dir)
    ds = Dataset.open(demo_dir)
    result = scan(ds, predictions=preds, finders=["label"], cross_validate=False)
    client = LabelStudioClient(ls_server.url, ls_server.token)
    pushed = push_review(
        ds,
        result,
        project="Digits view",
        client=client,
        predictions=preds,
        document_root=ls_server.document_root,
        limit=5,
    )
    sid, tid = min(pushed.task_ids.items(), key=lambda kv: kv[1])
    out = tmp_path / "annotator.png"
    seen = capture_task(ls_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, pushed.project_id, tid, out)
    assert f"Sample {sid}" in seen["text"] and "issue: label" in seen["text"]
    shown = [c.split("[")[0] for c in seen["choices"] if c]
    assert shown == ds.classes
    assert [32, 32] in seen["images"]  # the task's 32x32 digit, served by local-files storage
    with Image.open(out) as img:
        assert img.size == (1400, 900)
        gray = np.asarray(img.convert("L").resize((64, 64)))
        assert len(np.unique(gray)) > 20  # not a blank page
