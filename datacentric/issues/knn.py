"""k-nearest neighbours by cosine similarity, without an N×N matrix and without loading N×D.

Three backends, all from faiss:

- ``"exact"``: ``IndexFlatIP`` — blocked BLAS products with a fused top-k heap; exact.
  The index holds the N×D float32 vectors.
- ``"hnsw"``: ``IndexHNSWFlat`` (M=32, efConstruction=80, efSearch=64) — approximate,
  recall@10 ≈ 0.99 on 100k × 128 clustered vectors. Building it is sequential work
  (≈ 4k vectors/s on one core here), and it holds the vectors plus a graph.
- ``"ivf"``: ``IndexIVFPQFastScan`` (``nlist ≈ 2√N`` lists, HNSW coarse quantizer, 4-bit
  PQ with D/4 sub-quantizers = D/8 bytes per vector, ``nprobe=32``) proposes
  :data:`RERANK_FACTOR` × (k+1) candidates per query, which are then re-ranked by their
  exact cosine similarity read from ``base``. The index holds only the codes (16 bytes
  per 128-d vector: 160 MB at 10 M), so ``base`` may be a memory-mapped ``.npy``
  (``np.load(path, mmap_mode="r")``) larger than RAM. Recall@10 vs exact: ≈ 0.98 at
  200k, 0.80 at 1 M and 0.43 at 10 M clustered 128-d rows (the share of the lists probed
  limits it, not the PQ codes; ``tests/issues/test_knn.py`` asserts ≥ 0.9 on a generated
  set, ``benchmarks/bench_scale_knn.py`` measures it on a sample).

``method="auto"`` (default) is exact up to :data:`EXACT_MAX` base rows (results identical
to earlier releases), HNSW up to :data:`HNSW_MAX` and IVF above (on this project's 2-core
benchmark machine HNSW builds 200k vectors in ~55 s, IVF-PQ trains and adds 300k in ~45 s
and answers ~8k queries/s).

Memory: the index plus one chunk of :data:`QUERY_CHUNK` query rows (normalised float32)
and its results; the (N, k) result arrays themselves (12 bytes × k per row). Base rows are
read chunk by chunk; pages of a read-only memory map (``mmap_mode="r"``) are released
from the process after each chunk (:func:`datacentric._arrays.release_pages`; they stay in
the OS page cache), and the scattered rows of the re-rank are gathered in steps that each
span a few MB of the file (:func:`datacentric._arrays.take_rows`), so resident memory does
not grow with the file.
faiss uses every core the process may run on.

Sharded search (``engine=``, IVF only): the index is built once in the caller and
serialised; the queries are split into shards of whole :data:`QUERY_CHUNK` chunks (up to
:data:`SHARD_CHUNKS`, fewer when there are fewer chunks than that per worker), one task per
shard on the engine (:mod:`datacentric.engine`: local worker processes or
a Ray cluster). Each task loads the index (once per worker process), searches and re-ranks
its rows with one thread, and the caller writes the shards' results in order: the same bits
as ``engine=None``. ``base`` reaches the workers as the *path* of its ``.npy`` when it is a
read-only memory map of the whole file (every node must see that file at the same path, as
for the dataset), or pickled with each task when it is at most
:data:`MAX_SHIPPED_BYTES`; the serialised index is written next to that ``.npy`` (and
removed after), or pickled with each task when the base is in memory or that folder is
read-only.

Vectors are L2-normalised float32, so inner product = cosine similarity and
``distance = 1 - similarity`` (in [0, 2]).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import mmap
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from datacentric._arrays import iter_rows, read_only_map, take_rows
from datacentric._validation import Interval, Options, validate_call
from datacentric.engine import Engine, get_engine
from datacentric.exceptions import InvalidParameterError, SchemaError

log = logging.getLogger(__name__)

__all__ = [
    "EXACT_MAX",
    "HNSW_MAX",
    "MAX_SHIPPED_BYTES",
    "QUERY_CHUNK",
    "RERANK_FACTOR",
    "SHARD_CHUNKS",
    "KnnGraph",
    "knn",
    "normalize_rows",
    "row_chunks",
    "search_shard",
    "shippable",
]

EXACT_MAX = 30_000
HNSW_MAX = 200_000
#: Query (and base) rows handled per faiss call.
QUERY_CHUNK = 65_536
#: Candidates proposed by the IVF-PQ index per wanted neighbour, re-ranked exactly.
RERANK_FACTOR = 8
#: Query chunks per task of a sharded search (``engine=``).
SHARD_CHUNKS = 4
#: The largest in-memory ``base`` (or ``query``) a sharded search pickles with its tasks;
#: larger ones must be a read-only memory map of a ``.npy`` (sent as its path).
MAX_SHIPPED_BYTES = 64 * 2**20
_RERANK_ROWS = 1_024
#: Rows gathered from ``base`` per step of a re-rank block (a step of a memory map also spans
#: at most :data:`datacentric._arrays.STEP_BYTES` of its file, released after the step).
_GATHER_ROWS = 2_048
_IVF_NPROBE = 32
_IVF_TRAIN_PER_LIST = 40
_METHODS = ("auto", "exact", "hnsw", "ivf")


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows as float32 (zero rows stay zero).

    Examples
    --------
    >>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def row_chunks(
    x: np.ndarray, size: int | None = None, *, normalized: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, rows)`` for consecutive chunks of ``x`` as contiguous (normalised) float32.

    Only one chunk is in memory at a time; a read-only memory map's pages are released
    after each (see :func:`datacentric._arrays.release_pages`).
    """
    for start, part in iter_rows(x, size or QUERY_CHUNK):
        yield (
            start,
            (np.ascontiguousarray(part, np.float32) if normalized else normalize_rows(part)),
        )


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class KnnGraph:
    """Neighbours of every query row: ``indices`` and cosine ``distances`` (ascending), (N, k)."""

    indices: np.ndarray
    distances: np.ndarray

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])


def _ivf_params(n: int, dim: int) -> tuple[int, int]:
    """``(nlist, pq_m)`` for ``n`` base rows of dimension ``dim``."""
    nlist = int(min(65_536, max(1, round(2 * math.sqrt(n)))))
    nlist = min(nlist, max(1, n // _IVF_TRAIN_PER_LIST))
    divisors = [m for m in range(1, dim + 1) if dim % m == 0 and m <= max(1, dim // 4)]
    return nlist, max(divisors)


def _build(base: np.ndarray, method: str, normalized: bool, seed: int) -> Any:
    import faiss

    faiss.omp_set_num_threads(_threads())
    n, dim = base.shape
    index: Any
    if method == "exact":
        index = faiss.IndexFlatIP(dim)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        nlist, pq_m = _ivf_params(n, dim)
        quantizer = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        quantizer.hnsw.efSearch = max(64, 2 * _IVF_NPROBE)
        index = faiss.IndexIVFPQFastScan(quantizer, dim, nlist, pq_m, 4, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = _IVF_NPROBE
        index.cp.niter = 10
        index.cp.seed = seed
        index.pq.cp.seed = seed
        rows = np.random.default_rng(seed).choice(
            n, size=min(n, _IVF_TRAIN_PER_LIST * nlist), replace=False
        )
        sample = take_rows(base, np.sort(rows))
        index.train(
            np.ascontiguousarray(sample, np.float32) if normalized else normalize_rows(sample)
        )
    for _, rows_ in row_chunks(base, normalized=normalized):
        index.add(rows_)
    return index


def _indexed(base: np.ndarray) -> bool:
    """Whether the re-rank reads ``base`` in place: float32 rows in C order, in memory."""
    return (
        base.ndim == 2
        and base.dtype == np.float32
        and bool(base.flags.c_contiguous)
        and read_only_map(base) is None
        and not isinstance(base, np.memmap)
    )


def _cosines(vec: np.ndarray, q: np.ndarray, pos: np.ndarray, normalized: bool) -> np.ndarray:
    """``cos(q[i], vec[pos[i, j]])`` as float32 (0 against a zero row), shape ``pos.shape``.

    Each product is ``faiss.pairwise_indexed_inner_product`` of the two float32 rows (one
    kernel, whatever array the rows sit in: the same bits from a gathered copy as from the
    whole base); a candidate's norm is its product with itself.
    """
    import faiss as _faiss

    faiss: Any = _faiss  # faiss's stubs leave out pairwise_indexed_inner_product
    nq, c = pos.shape
    d = int(vec.shape[1])
    iy = np.ascontiguousarray(pos.ravel(), np.int64)
    ix = np.repeat(np.arange(nq, dtype=np.int64), c)
    q = np.ascontiguousarray(q, np.float32)
    dots = np.empty(iy.size, np.float32)
    faiss.pairwise_indexed_inner_product(
        d, iy.size, faiss.swig_ptr(q), faiss.swig_ptr(ix), faiss.swig_ptr(vec),
        faiss.swig_ptr(iy), faiss.swig_ptr(dots),
    )  # fmt: skip
    if normalized:
        return dots.reshape(nq, c)
    sq = np.empty(iy.size, np.float32)
    faiss.pairwise_indexed_inner_product(
        d, iy.size, faiss.swig_ptr(vec), faiss.swig_ptr(iy), faiss.swig_ptr(vec),
        faiss.swig_ptr(iy), faiss.swig_ptr(sq),
    )  # fmt: skip
    norms = np.sqrt(sq)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0).reshape(nq, c)


def _rerank(
    base: np.ndarray,
    q: np.ndarray,
    cand: np.ndarray,
    want: int,
    normalized: bool,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``want`` most similar of each query's candidates, by exact cosine similarity.

    An in-memory float32 ``base`` is read where it is; any other (a memory map, another
    dtype) has each block's distinct candidate rows gathered first, in steps whose pages
    are released (:func:`datacentric._arrays.take_rows`: reading scattered rows of a map
    in place would map up to 64 KiB around each, most of the file). Both compute the same
    products (:func:`_cosines`), so the bits do not depend on where ``base`` is. Blocks of
    :data:`_RERANK_ROWS` queries are independent: they run on every core (numpy and faiss
    release the GIL), each writing its own rows.
    """
    nq, c = cand.shape
    valid = cand >= 0
    safe = np.where(valid, cand, 0).astype(np.int64)
    sims = np.empty((nq, c), np.float32)
    in_place = _indexed(base)

    def block(a: int) -> None:
        rows = safe[a : a + _RERANK_ROWS]
        if in_place:
            vec, pos = base, rows
        else:
            uniq, inv = np.unique(rows, return_inverse=True)
            vec = np.ascontiguousarray(take_rows(base, uniq, size=_GATHER_ROWS), np.float32)
            pos = inv.reshape(rows.shape)
        sims[a : a + rows.shape[0]] = _cosines(vec, q[a : a + rows.shape[0]], pos, normalized)

    starts = range(0, nq, _RERANK_ROWS)
    threads = min(threads or _threads(), len(starts))
    if threads <= 1:
        for a in starts:
            block(a)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(block, starts))  # list(): re-raise a block's error here
    sims[~valid] = -np.inf
    # stable order: similarity descending, then index ascending (deterministic ties)
    order = np.lexsort((safe, -sims), axis=1)[:, :want]
    return (
        np.take_along_axis(sims, order, axis=1),
        np.take_along_axis(np.where(valid, cand, -1), order, axis=1),
    )


def _search_chunk(
    index: Any,
    base: np.ndarray,
    q: np.ndarray,
    ids: np.ndarray,
    *,
    method: str,
    k_eff: int,
    self_query: bool,
    normalized: bool,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, distances)`` of the query rows ``q``, whose row numbers are ``ids``."""
    n_base = base.shape[0]
    want = k_eff + (1 if self_query else 0)
    if method == "ivf":
        _, cand = index.search(q, min(n_base, RERANK_FACTOR * want))
        sims, idx = _rerank(base, q, cand, want, normalized, threads)
    else:
        sims, idx = index.search(q, want)
    rows = q.shape[0]
    if self_query:
        # drop each row's own index wherever it landed (exact copies tie with it),
        # else the last candidate
        is_self = idx == ids[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k_eff)
        keep = np.ones_like(idx, dtype=bool)
        keep[np.arange(rows), drop] = False
        idx = idx[keep].reshape(rows, k_eff)
        sims = sims[keep].reshape(rows, k_eff)
    missing = idx < 0  # approximate indexes may return fewer than asked for
    dist = np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32)
    dist[missing] = 2.0
    return np.where(missing, 0, idx), dist


def _list_order(index: Any) -> np.ndarray:
    """Base rows grouped by their IVF list (each row's nearest coarse centroid), stably.

    Searched in this order, the queries of a chunk probe the same few lists and share their
    re-rank candidates: the scan finds its lists in cache and a memory-mapped base has far
    fewer pages to map per chunk than in row order (where a chunk's candidates are spread
    over the whole file).
    """
    import faiss

    ivf = faiss.extract_index_ivf(index)
    lists = np.empty(int(ivf.ntotal), np.int64)
    inv: Any = ivf.invlists  # faiss's stubs leave out release_ids
    for no in range(int(ivf.nlist)):
        size = int(inv.list_size(no))
        if size:
            ptr = inv.get_ids(no)
            lists[faiss.rev_swig_ptr(ptr, size)] = no
            inv.release_ids(no, ptr)
    return np.argsort(lists, kind="stable")


def _query_batches(
    x: np.ndarray, order: np.ndarray | None, normalized: bool, size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ids, rows)``: the query rows ``ids`` (chunks of ``size``) as normalised float32.

    Consecutive chunks of ``x`` when ``order`` is ``None``, else chunks of ``order``, each
    gathered in ascending row order (:func:`datacentric._arrays.take_rows`).
    """
    if order is None:
        for start, rows in row_chunks(x, size, normalized=normalized):
            yield np.arange(start, start + rows.shape[0], dtype=np.int64), rows
        return
    for a in range(0, order.shape[0], size):
        ids = order[a : a + size]
        by_row = np.argsort(ids, kind="stable")
        part = take_rows(x, ids[by_row])
        out = np.empty((ids.shape[0], *x.shape[1:]), np.float32)
        out[by_row] = np.asarray(part, np.float32) if normalized else normalize_rows(part)
        yield ids, out


# ---------------------------------------------------------------- sharded search (engine=)
@dataclass(frozen=True)
class _NpyFile:
    """A whole ``.npy`` file, re-opened read-only memory-mapped by each worker."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    #: The file's modification time (ns) seen by the caller: a file rewritten since a
    #: worker opened it is a new key, so the worker does not read a stale map.
    mtime_ns: int = 0


@dataclass(frozen=True)
class _IndexFile:
    """A serialised faiss index written to a file every worker can read."""

    path: str


@dataclass(frozen=True, eq=False)
class _Shard:
    """One task of a sharded search: query rows ``start:stop`` against the whole base.

    ``key`` is the index's content hash (the workers' cache key); ``index`` its serialised
    bytes (uint8) or the file holding them; ``query`` is ``None`` when the queries are the
    base itself. ``chunk`` is the caller's :data:`QUERY_CHUNK`, so that a task makes the same
    faiss calls as the in-process loop.
    """

    key: str
    index: np.ndarray | _IndexFile
    base: np.ndarray | _NpyFile
    query: np.ndarray | _NpyFile | None
    start: int
    stop: int
    chunk: int
    method: str
    k_eff: int
    normalized: bool
    #: The query rows of this shard in search order (positions ``start:stop`` of the
    #: caller's order), or ``None`` for rows ``start:stop`` themselves.
    rows: np.ndarray | None = None


#: Per worker process: the last index loaded (content hash → index) and the arrays opened.
_WORKER_INDEX: dict[str, Any] = {}
_WORKER_ARRAYS: dict[_NpyFile, np.ndarray] = {}


def _npy_file(x: np.ndarray) -> _NpyFile | None:
    """``x`` as the ``.npy`` file it maps, when it is a read-only memory map of a whole file
    (``np.load(path, mmap_mode="r")`` or a plain view of all of it), else ``None``."""
    root: Any = x
    for _ in range(64):
        if isinstance(root, np.memmap) and isinstance(getattr(root, "base", None), mmap.mmap):
            break
        root = getattr(root, "base", None)
        if root is None:
            return None
    else:
        return None
    filename = getattr(root, "filename", None)
    same = (
        getattr(root, "mode", None) == "r"
        and filename is not None
        and str(filename).endswith(".npy")
        and x.shape == root.shape
        and x.dtype == root.dtype
        and x.strides == root.strides
        and x.ctypes.data == root.ctypes.data
    )
    if not same:
        return None
    try:
        mtime = os.stat(str(filename)).st_mtime_ns
    except OSError:  # the file was removed after it was mapped: not shareable by path
        return None
    return _NpyFile(str(filename), tuple(x.shape), x.dtype.str, mtime)


def shippable(x: np.ndarray) -> bool:
    """Whether a sharded search (``knn(..., engine=)``) can send ``x`` to its workers: a
    read-only memory map of a whole ``.npy`` file, or at most :data:`MAX_SHIPPED_BYTES`.

    Examples
    --------
    >>> shippable(np.zeros((10, 4), np.float32))
    True
    """
    return _npy_file(x) is not None or x.nbytes <= MAX_SHIPPED_BYTES


def _shippable(x: np.ndarray, name: str) -> np.ndarray | _NpyFile:
    """What a task receives for ``x``: its file, or the array itself when small enough."""
    ref = _npy_file(x)
    if ref is not None:
        return ref
    size = int(x.shape[0]) * int(np.prod(x.shape[1:])) * x.dtype.itemsize
    if size > MAX_SHIPPED_BYTES:
        raise InvalidParameterError(
            f"knn: a sharded search (engine=) sends an in-memory {name} with every task, up to "
            f"{MAX_SHIPPED_BYTES / 2**20:g} MiB; received {x.shape[0]} x {x.shape[1]} "
            f"{x.dtype} ({size / 2**20:.1f} MiB). Save it with np.save and pass "
            f"np.load(path, mmap_mode='r') (the workers memory-map the file), or engine=None.",
            parameter=name,
            owner="knn",
        )
    return np.asarray(x)


def _worker_array(ref: np.ndarray | _NpyFile) -> np.ndarray:
    if isinstance(ref, np.ndarray):
        return ref
    if ref not in _WORKER_ARRAYS:
        x = np.load(ref.path, mmap_mode="r")
        if tuple(x.shape) != ref.shape or x.dtype.str != ref.dtype:
            raise SchemaError(
                f"knn: {ref.path} on this worker holds a {x.shape} {x.dtype} array, not the "
                f"{ref.shape} {np.dtype(ref.dtype)} of the caller. Every node must see the same "
                "file at the same path (a shared filesystem)."
            )
        _WORKER_ARRAYS.clear()  # one search at a time: keep the last file only
        _WORKER_ARRAYS[ref] = x
    return _WORKER_ARRAYS[ref]


def _worker_index(key: str, source: np.ndarray | _IndexFile) -> Any:
    """The index with content hash ``key``, deserialised once per worker process."""
    if key not in _WORKER_INDEX:
        import faiss

        data = source if isinstance(source, np.ndarray) else np.fromfile(source.path, np.uint8)
        _WORKER_INDEX.clear()
        _WORKER_INDEX[key] = faiss.deserialize_index(data)
    return _WORKER_INDEX[key]


def search_shard(shard: _Shard) -> tuple[np.ndarray, np.ndarray]:
    """The task of a sharded search: ``(indices, distances)`` of rows ``start:stop``.

    Runs with one faiss thread and one re-rank thread (a worker is one core); the bits are
    those of the in-process search, which makes the same calls on the same chunks.
    """
    import faiss

    faiss.omp_set_num_threads(1)
    index = _worker_index(shard.key, shard.index)
    base = _worker_array(shard.base)
    queries = base if shard.query is None else _worker_array(shard.query)
    rows = shard.stop - shard.start
    indices = np.empty((rows, shard.k_eff), np.int64)
    distances = np.empty((rows, shard.k_eff), np.float32)
    order = np.arange(shard.start, shard.stop, dtype=np.int64) if shard.rows is None else shard.rows
    a = 0
    for ids, q in _query_batches(queries, order, shard.normalized, shard.chunk):
        idx, dist = _search_chunk(
            index,
            base,
            q,
            ids,
            method=shard.method,
            k_eff=shard.k_eff,
            self_query=shard.query is None,
            normalized=shard.normalized,
            threads=1,
        )
        indices[a : a + q.shape[0]] = idx
        distances[a : a + q.shape[0]] = dist
        a += q.shape[0]
    return indices, distances


@contextlib.contextmanager
def _index_source(index: Any, base_ref: np.ndarray | _NpyFile) -> Iterator[tuple[str, Any]]:
    """``(key, source)`` of the serialised index for the tasks: a file next to the base's
    ``.npy`` (removed after), or the bytes themselves when the base is in memory or that
    folder cannot be written."""
    import faiss

    data = faiss.serialize_index(index)
    key = hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()
    if not isinstance(base_ref, _NpyFile):
        yield key, data
        return
    name = f".{Path(base_ref.path).name}.knn-{key}-{os.getpid()}.faiss"
    path = Path(base_ref.path).with_name(name)
    try:
        data.tofile(path)
    except OSError as exc:
        log.warning(
            "knn: cannot write the index next to %s (%s); sent with every task instead",
            base_ref.path,
            exc,
        )
        yield key, data
        return
    try:
        yield key, _IndexFile(str(path))
    finally:
        path.unlink(missing_ok=True)


def _sharded(
    index: Any,
    base: np.ndarray,
    query: np.ndarray | None,
    eng: Engine,
    *,
    method: str,
    k_eff: int,
    normalized: bool,
    order: np.ndarray | None,
    indices: np.ndarray,
    distances: np.ndarray,
) -> None:
    """Search the queries as tasks on ``eng`` (in ``order`` when given, see
    :func:`_list_order`), writing the results into ``indices`` and ``distances``."""
    base_ref = _shippable(base, "base")
    query_ref = None if query is None else _shippable(query, "query")
    m = base.shape[0] if query is None else query.shape[0]
    # whole query chunks per shard (the faiss calls of the in-process loop), up to
    # SHARD_CHUNKS, fewer when that leaves a worker without a shard
    chunks = -(-m // QUERY_CHUNK)
    step = QUERY_CHUNK * max(1, min(SHARD_CHUNKS, -(-chunks // max(1, eng.workers))))
    with _index_source(index, base_ref) as (key, source):
        shards = [
            _Shard(
                key,
                source,
                base_ref,
                query_ref,
                a,
                min(m, a + step),
                QUERY_CHUNK,
                method,
                k_eff,
                normalized,
                None if order is None else order[a : min(m, a + step)],
            )
            for a in range(0, m, step)
        ]
        results = eng.map(search_shard, shards, desc="kNN search")
    for shard, (idx, dist) in zip(shards, results, strict=True):
        rows = slice(shard.start, shard.stop) if shard.rows is None else shard.rows
        indices[rows] = idx
        distances[rows] = dist


@validate_call(
    {
        "k": [Interval(Integral, 1, None, closed="left")],
        "method": [Options(str, _METHODS)],
        "normalized": ["boolean"],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def knn(
    base: np.ndarray,
    k: int,
    query: np.ndarray | None = None,
    *,
    method: str = "auto",
    normalized: bool = False,
    seed: int = 0,
    engine: str | Engine | None = None,
) -> KnnGraph:
    """The ``k`` nearest rows of ``base`` for every row of ``query`` (default: ``base``).

    When ``query`` is ``base`` itself, each row's own index is excluded.

    Parameters
    ----------
    base : array (N, D)
        May be a read-only memory map (``np.load(path, mmap_mode="r")``); it is read in
        chunks and never copied whole (except into an ``"exact"``/``"hnsw"`` index).
    k : int
        Neighbours per query row (capped at the number of candidates).
    query : array (M, D), optional
    method : {"auto", "exact", "hnsw", "ivf"}
        See the module docstring.
    normalized : bool
        Whether rows are already L2-normalised.
    seed : int
        Seed of the IVF training sample and k-means (``"ivf"`` only).
    engine : {"local", "sequential", "ray"} or Engine, optional
        Search the queries as tasks on this engine (:func:`datacentric.engine.get_engine`;
        an engine object passed in is not closed): the IVF index is built here, then shards
        of up to :data:`SHARD_CHUNKS` × :data:`QUERY_CHUNK` query rows run on the workers. The
        result is the same bits as ``engine=None`` (the default: every core of this
        process). Only the ``"ivf"`` method is sharded; ``"exact"`` and ``"hnsw"`` run here.
        ``base`` (and ``query``) must be a read-only memory map of a whole ``.npy`` file
        that every worker sees at the same path, or at most :data:`MAX_SHIPPED_BYTES` in
        memory.

    Raises
    ------
    InvalidParameterError
        With an engine, for an in-memory ``base``/``query`` over :data:`MAX_SHIPPED_BYTES`
        on the ``"ivf"`` path.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn(x, 1).indices.ravel().tolist()
    [1, 0, 1]
    """
    self_query = query is None
    q_src = base if query is None else query
    n_base, m = base.shape[0], q_src.shape[0]
    k_eff = max(0, min(k, n_base - 1 if self_query else n_base))
    if k_eff == 0 or m == 0:
        return KnnGraph(np.zeros((m, k_eff), np.int64), np.zeros((m, k_eff), np.float32))
    chosen = method
    if method == "auto":
        chosen = "exact" if n_base <= EXACT_MAX else "hnsw" if n_base <= HNSW_MAX else "ivf"
    sharded = engine is not None and chosen == "ivf"
    if sharded:  # refuse an in-memory base too large to ship before building the index
        _shippable(base, "base")
        if query is not None:
            _shippable(query, "query")
    eng = get_engine(engine) if sharded else None
    indices = np.empty((m, k_eff), np.int64)
    distances = np.empty((m, k_eff), np.float32)
    try:
        index = _build(base, chosen, normalized, seed)
        # the IVF path searches its own rows list by list (the same bits in any order)
        order = _list_order(index) if chosen == "ivf" and self_query else None
        if eng is not None:
            _sharded(
                index,
                base,
                query,
                eng,
                method=chosen,
                k_eff=k_eff,
                normalized=normalized,
                order=order,
                indices=indices,
                distances=distances,
            )
            return KnnGraph(indices, distances)
    finally:
        if eng is not None and eng is not engine:
            eng.close()
    for ids, q in _query_batches(q_src, order, normalized, QUERY_CHUNK):
        idx, dist = _search_chunk(
            index,
            base,
            q,
            ids,
            method=chosen,
            k_eff=k_eff,
            self_query=self_query,
            normalized=normalized,
        )
        indices[ids] = idx
        distances[ids] = dist
    return KnnGraph(indices, distances)
