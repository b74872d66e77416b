"""Dataset fixtures with hostile image files, for the CLI matrix (see ``__init__``).

- ``symlink_outside``: a committed dataset whose image ``images/003.png`` was replaced by a
  symbolic link to a file outside the dataset: every dataset verb refuses it, naming the
  sample (``Error: ... s003 -> images/003.png ...``), since the containment check runs
  whenever a dataset is opened (even by ``history``/``diff``).
- ``bomb_after_commit``: ``images/005.png`` replaced, after the commit, by a 140 KB PNG of
  12000 x 12000 pixels: verbs that read no pixel are unaffected, ``scan`` reports it as an
  ``unreadable_image`` issue and leaves it out of the model, ``loop`` and ``export`` leave it
  out with a count: all exit 0.
- ``truncated_image``: the same with a truncated PNG.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.hostile._images import truncated_png, write_big_png
from tests.hostile.cases import DATASET_VERBS, CliCase, versioned_dataset


def _symlink_outside(tmp: Path) -> Mapping[str, str]:
    root = versioned_dataset(tmp / "data")
    secret = tmp / "outside" / "secret.png"
    secret.parent.mkdir(parents=True)
    (root / "images" / "003.png").rename(secret)
    (root / "images" / "003.png").symlink_to(secret)
    return {"dataset": str(root)}


def _bomb_after_commit(tmp: Path) -> Mapping[str, str]:
    root = versioned_dataset(tmp / "data")
    write_big_png(root / "images" / "005.png")
    return {"dataset": str(root)}


def _truncated(tmp: Path) -> Mapping[str, str]:
    root = versioned_dataset(tmp / "data")
    (root / "images" / "005.png").write_bytes(truncated_png())
    return {"dataset": str(root)}


CASES: list[CliCase] = [
    CliCase(
        name="symlink_outside",
        build=_symlink_outside,
        argvs=DATASET_VERBS,
        match="s003 -> images/003.png",
    ),
    CliCase(
        name="bomb_after_commit",
        build=_bomb_after_commit,
        argvs=DATASET_VERBS,
        default="ok",
    ),
    CliCase(
        name="truncated_image",
        build=_truncated,
        argvs=DATASET_VERBS,
        default="ok",
    ),
]
