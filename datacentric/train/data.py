"""Images for training and prediction, decoded on the fly: memory holds a few batches.

:class:`ManifestImages` is a map-style torch dataset over a :class:`~datacentric.Dataset`'s
manifest (``torch.utils.data.DataLoader`` takes it as is): item ``i`` is the decoded image of
its ``i``-th sample, read with the dataset's hardening limits (inside the root, links
resolved at the read, at most ``max_image_pixels`` pixels). :meth:`ManifestImages.batches`
yields the batches of a given order, decoding the next batch in a background thread while
the current one trains; with ``cache_bytes`` the decoded images are kept in memory when they
fit, so a second pass (the next epoch) reads no file. :func:`channel_stats` computes the
per-channel normalisation in one streaming pass, exactly (integer pixel histograms).

torch is not imported here: the items are numpy arrays.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = ["ManifestImages", "channel_stats"]

_DONE = object()


class ManifestImages:
    """The images of some samples of a dataset, decoded when asked for (a torch dataset).

    Parameters
    ----------
    ds : Dataset
        The dataset.
    sample_ids : sequence of str, optional
        Which samples, in this order (default: all, manifest order). Unknown ids raise
        :class:`~datacentric.exceptions.InvalidDatasetError` here, before any decoding.
    size : (height, width), optional
        Resize every image to this size.
    mode : {"L", "RGB"}, optional
        Convert every image to grayscale or RGB.
    cache_bytes : int, default 0
        Keep the decoded images in memory after their first decoding when all of them fit
        in this many bytes (known up front only with both ``size`` and ``mode``); later
        passes then read the cache. ``0``: no cache, every pass decodes the files. The
        arrays are the same either way.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> ds = Dataset.from_arrays(np.arange(48, dtype=np.uint8).reshape(3, 4, 4), [0] * 3, ["a"])
    >>> images = ManifestImages(ds, ["2", "0"], mode="RGB")
    >>> len(images), images[0].shape, images[0][0, 0, 0]
    (2, (4, 4, 3), np.uint8(32))
    >>> [b.shape for b in images.batches([1, 0, 1], batch_size=2)]
    [(2, 4, 4, 3), (1, 4, 4, 3)]
    >>> cached = ManifestImages(ds, size=(4, 4), mode="L", cache_bytes=1024)
    >>> cached.caching, cached.n_cached
    (True, 0)
    >>> _ = list(cached.batches(batch_size=2)); cached.n_cached
    3
    """

    def __init__(
        self,
        ds: Dataset,
        sample_ids: Sequence[str] | None = None,
        *,
        size: tuple[int, int] | None = None,
        mode: str | None = None,
        cache_bytes: int = 0,
    ) -> None:
        self.ds = ds
        self.sample_ids = ds.sample_ids if sample_ids is None else [str(s) for s in sample_ids]
        self._paths = ds._paths_for(sample_ids)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.mode = mode
        self._cache: np.ndarray | None = None
        self._filled: np.ndarray | None = None
        if self.size is not None and mode in ("L", "RGB") and len(self.sample_ids):
            shape = (len(self.sample_ids), *self.size, 1 if mode == "L" else 3)
            if math.prod(shape) <= cache_bytes:
                self._cache = np.empty(shape, dtype=np.uint8)  # pages touched when filled
                self._filled = np.zeros(len(self.sample_ids), dtype=bool)

    @property
    def caching(self) -> bool:
        """Whether the decoded images are kept in memory (they fit in ``cache_bytes``)."""
        return self._cache is not None

    @property
    def n_cached(self) -> int:
        """How many images are in the cache now."""
        return 0 if self._filled is None else int(self._filled.sum())

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, index: int) -> np.ndarray:
        """The decoded image ``index``: ``uint8`` (H, W, C)."""
        i = int(index)
        return self._decode([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Several images at once (torch's ``DataLoader`` fetches a batch with this)."""
        return list(self._decode([int(i) for i in indices]))

    def _decode(self, rows: Sequence[int]) -> np.ndarray:
        if self._cache is None or self._filled is None:
            return self._read(rows)
        idx = np.asarray(rows, dtype=np.int64)
        todo = idx[~self._filled[idx]]
        if len(todo):
            # each row is written once, before it is marked filled; rows are distinct
            # within a pass, so the decoding thread and the reader never share a row
            self._cache[todo] = self._read(todo.tolist())
            self._filled[todo] = True
        return self._cache[idx]

    def _read(self, rows: Sequence[int]) -> np.ndarray:
        ids = [self.sample_ids[i] for i in rows]
        paths = [self._paths[i] for i in rows]
        return self.ds._decode_batch(ids, paths, self.size, self.mode)

    def batches(
        self, order: Sequence[int] | np.ndarray | None = None, *, batch_size: int, prefetch: int = 1
    ) -> Iterator[np.ndarray]:
        """Yield the images of ``order`` (default: every row in turn) in batches.

        Batch ``j`` holds rows ``order[j * batch_size : (j + 1) * batch_size]``, the same
        arrays as ``np.stack([self[i] for i in rows])``. With ``prefetch`` > 0 a background
        thread decodes up to that many batches ahead (decoding is deterministic: the batches
        do not depend on it); an error decoding a batch is raised when that batch is reached.
        """
        rows = np.arange(len(self)) if order is None else np.asarray(order, dtype=np.int64)
        chunks = [rows[s : s + batch_size] for s in range(0, len(rows), batch_size)]
        cached = self._filled is not None and bool(self._filled.all())
        if prefetch <= 0 or len(chunks) <= 1 or cached:
            for chunk in chunks:
                yield self._decode(chunk.tolist())
            return
        yield from _prefetched(self, chunks, prefetch)


def _prefetched(
    images: ManifestImages, chunks: list[np.ndarray], depth: int
) -> Iterator[np.ndarray]:
    """Decode ``chunks`` in one background thread, at most ``depth`` batches ahead."""
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                if not put(images._decode(chunk.tolist())):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
            return
        put((_DONE, None))

    thread = threading.Thread(target=work, name="datacentric-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if isinstance(item, tuple) and item and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        thread.join()


def channel_stats(
    images: ManifestImages, *, batch_size: int = 256, std_floor: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the images scaled to [0, 1], exactly.

    One streaming pass: a 256-bin histogram per channel of the ``uint8`` pixels, so the
    sums are exact integers whatever the number of pixels (a float32 running sum stops
    growing at 2**24 and gets the mean of millions of images wrong), and the result does
    not depend on the order or the batching. The population standard deviation is raised
    to at least ``std_floor``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``float32`` mean and std, one value per channel.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> ds = Dataset.from_arrays(np.array([[[0, 255]], [[255, 255]]], np.uint8), [0, 0], ["a"])
    >>> mean, std = channel_stats(ManifestImages(ds))
    >>> mean.tolist(), std.tolist()
    ([0.75], [0.4330126941204071])
    """
    counts: np.ndarray | None = None
    for batch in images.batches(batch_size=batch_size, prefetch=0):
        channels = batch.shape[-1]
        if counts is None:
            counts = np.zeros((channels, 256), dtype=np.int64)
        for c in range(channels):
            counts[c] += np.bincount(batch[..., c].ravel(), minlength=256)
    if counts is None:
        return np.zeros(0, np.float32), np.ones(0, np.float32)
    values = list(range(256))
    means, stds = [], []
    for row in counts.tolist():
        n = sum(row)
        s1 = sum(k * v for k, v in zip(row, values, strict=True))
        s2 = sum(k * v * v for k, v in zip(row, values, strict=True))
        means.append(s1 / (n * 255))
        # n² var = n s2 - s1², an exact integer: no cancellation
        stds.append(math.sqrt((n * s2 - s1 * s1) / (n * n)) / 255)
    std = np.maximum(np.asarray(stds, dtype=np.float32), np.float32(std_floor))
    return np.asarray(means, dtype=np.float32), std
