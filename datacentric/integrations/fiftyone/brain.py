"""FiftyOne Brain offline: uniqueness from our embeddings, mistakenness from our predictions.

Neither call downloads a model: ``compute_uniqueness`` gets the embeddings array the
datacentric model produced, ``compute_mistakenness`` reads the ``predictions`` and
``ground_truth`` classifications already in the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from datacentric.integrations.fiftyone._env import import_brain
from datacentric.integrations.fiftyone.records import Records

__all__ = ["compute_brain"]


def compute_brain(fds: Any, records: Records, touched: Sequence[str] | None = None) -> list[str]:
    """Compute ``uniqueness`` on every sample with an embedding, and ``mistakenness`` on
    the ``touched`` sample ids (all when ``None``) that have a label and a prediction.

    Returns the Brain fields computed.
    """
    fob = import_brain()
    from fiftyone import ViewField as F

    done: list[str] = []
    if records.embeddings is not None:
        with_emb = fds.exists("embedding")
        ids = with_emb.values("sample_id")
        if len(ids) >= 2:
            row = {s: i for i, s in enumerate(records.frame["sample_id"].to_list())}
            emb = records.embeddings[np.array([row[s] for s in ids], dtype=np.int64)]
            fob.compute_uniqueness(with_emb, embeddings=emb, progress=False)
            done.append("uniqueness")
    base = fds.exists("ground_truth").exists("predictions")
    if touched is not None:
        base = base.match(F("sample_id").is_in(list(touched)))
    if len(base):
        fob.compute_mistakenness(base, "predictions", label_field="ground_truth", progress=False)
        done.append("mistakenness")
    return done
