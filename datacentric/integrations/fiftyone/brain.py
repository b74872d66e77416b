"""FiftyOne Brain offline: uniqueness from our embeddings, mistakenness from our predictions.

Neither call downloads a model: ``compute_uniqueness`` gets the embeddings array the
datacentric model produced, ``compute_mistakenness`` reads the ``predictions`` and
``ground_truth`` classifications already in the dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from datacentric.integrations.fiftyone._env import import_brain
from datacentric.integrations.fiftyone.records import Records

__all__ = ["compute_brain", "embeddings_digest"]


def embeddings_digest(records: Records) -> str | None:
    """A digest of the sample ids and embeddings: uniqueness only changes when it does.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> rec = Records(pl.DataFrame({"sample_id": ["a", "b"]}), np.eye(2, dtype=np.float32),
    ...               [], [], {})
    >>> d = embeddings_digest(rec)
    >>> rec.embeddings[0, 0] = 2.0
    >>> embeddings_digest(rec) != d
    True
    """
    if records.embeddings is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update("\n".join(records.frame["sample_id"].to_list()).encode())
    h.update(np.ascontiguousarray(records.embeddings).tobytes())
    return h.hexdigest()


def compute_brain(
    fds: Any,
    records: Records,
    touched: Sequence[str] | None = None,
    *,
    uniqueness: bool = True,
) -> list[str]:
    """Compute ``uniqueness`` on every sample with an embedding (when ``uniqueness``), and
    ``mistakenness`` on the ``touched`` sample ids (all when ``None``) that have a label and
    a prediction.

    Returns the Brain fields computed.
    """
    fob = import_brain()
    from fiftyone import ViewField as F

    done: list[str] = []
    if uniqueness and records.embeddings is not None:
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
