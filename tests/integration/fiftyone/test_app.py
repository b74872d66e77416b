"""The FiftyOne App on 127.0.0.1 renders the worst-issues grid (headless Chromium)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datacentric.integrations.fiftyone import FiftyOneError, PushResult, launch_app
from tests.integration._chromium import dump_dom, screenshot


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            addr = str(s.getsockname()[0])
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_app_renders_the_worst_issues_grid(pushed: PushResult, tmp_path: Path) -> None:
    n = len(pushed.load().load_saved_view("worst-issues"))
    with launch_app(pushed.name) as app:
        assert app.url == (f"http://127.0.0.1:{app.port}/datasets/{pushed.name}?view=worst-issues")
        other = _non_loopback_address()
        if other is not None:  # bound to loopback only
            with pytest.raises(OSError):
                socket.create_connection((other, app.port), timeout=2).close()
        dom = dump_dom(app.url)
        png = screenshot(app.url, tmp_path / "fiftyone-app.png")
    # The grid shows the view's sample count and a tile (looker canvas) per visible sample.
    assert f'data-cy="entry-count-all">{n:,}</span>' in dom
    assert dom.count("_lookerCanvas") >= 12
    assert pushed.name in dom
    # The screenshot shows thumbnails, not a blank or error page: the grid area (right of the
    # sidebar, below the header) is full of distinct colours with high contrast.
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (900, 1400, 3)
    grid = img[150:880, 320:950].reshape(-1, 3)
    assert len(np.unique(grid, axis=0)) > 2000
    assert grid.std() > 40


def test_launch_refuses_unknown_dataset_and_view(pushed: PushResult) -> None:
    with pytest.raises(FiftyOneError, match="no FiftyOne dataset named 'nope'"):
        launch_app("nope")
    with pytest.raises(FiftyOneError, match="has no saved view 'nope'"):
        launch_app(pushed.name, view="nope")


def test_app_draws_the_boxes_of_a_box_issue_view(det_pushed: PushResult, tmp_path: Path) -> None:
    view = "issue-swapped-box"
    n = len(det_pushed.load().load_saved_view(view))
    with launch_app(det_pushed.name, view=view) as app:
        assert app.url.endswith(f"?view={view}") and n > 0
        png = screenshot(app.url, tmp_path / "fiftyone-boxes.png")
    # The scenes are near-grey digits; boxes are thin outlines in saturated label colours.
    # Thin lines: saturated pixels whose neighbours 3 px across are not (a filled label
    # badge is no thin line). The classification grid (badges, no boxes) has ~350
    # horizontal and ~1,350 vertical such pixels, this view ~4,300 and ~6,350.
    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
    grid = img[150:880, 310:960]
    sat = (grid.max(axis=-1) - grid.min(axis=-1)) > 120
    horizontal = sat[3:-3] & ~sat[:-6] & ~sat[6:]
    vertical = sat[:, 3:-3] & ~sat[:, :-6] & ~sat[:, 6:]
    assert horizontal.sum() > 2000 and vertical.sum() > 3000
