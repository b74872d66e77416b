"""Sharded kNN search (``knn(..., engine=)``): the same bits as the in-process search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import datacentric.issues.knn as knn_mod
from datacentric.engine import LocalEngine, SequentialEngine
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.knn import knn
from tests.issues.test_knn import _clustered


@pytest.fixture(scope="module")
def two_workers() -> Iterator[LocalEngine]:
    """One pool of 2 worker processes for the module (starting workers costs seconds)."""
    with LocalEngine(workers=2) as eng:
        yield eng


@pytest.fixture
def build_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the index of one base content once per test (deterministic for a seed: see
    test_knn.py), so the tests time the searches, not five identical builds."""
    built: dict[tuple[object, ...], object] = {}
    real = knn_mod._build

    def memo(base: np.ndarray, method: str, normalized: bool, seed: int) -> object:
        key = (np.asarray(base).tobytes(), base.shape, method, normalized, seed)
        if key not in built:
            built[key] = real(base, method, normalized, seed)
        return built[key]

    monkeypatch.setattr(knn_mod, "_build", memo)


def _same(a: knn_mod.KnnGraph, b: knn_mod.KnnGraph) -> None:
    assert a.indices.dtype == b.indices.dtype and a.distances.dtype == b.distances.dtype
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.distances, b.distances)  # bitwise: float32 values equal


def test_sharded_ivf_on_two_workers_is_bit_identical(
    two_workers: LocalEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build_once: None
) -> None:
    x = _clustered(60_000, 32, seed=1)
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 4_096)  # 15 chunks -> 4 shards of <= 4 chunks
    local = knn(x, 10, method="ivf")
    assert not (local.indices == np.arange(60_000)[:, None]).any()  # a real self-search
    # in memory (60k x 32 float32 = 7.3 MiB: shipped with the tasks)
    _same(knn(x, 10, method="ivf", engine=two_workers), local)
    # a read-only memory map: the workers open the file; the index file is removed after
    np.save(tmp_path / "emb.npy", x)
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    mtime = (tmp_path / "emb.npy").stat().st_mtime_ns
    assert knn_mod._npy_file(mm) == knn_mod._NpyFile(
        str(tmp_path / "emb.npy"), x.shape, "<f4", mtime
    )
    _same(knn(mm, 10, method="ivf", engine=two_workers), local)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.npy"]
    # queries other than the base, a partial last shard
    q = _clustered(9_000, 32, seed=2)
    _same(knn(mm, 7, q, method="ivf", engine=two_workers), knn(x, 7, q, method="ivf"))


def test_each_worker_loads_the_index_once(
    monkeypatch: pytest.MonkeyPatch, build_once: None
) -> None:
    import faiss

    x = _clustered(5_000, 16, seed=3)
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 500)  # 10 chunks -> 3 shards
    loads: list[int] = []
    real = faiss.deserialize_index

    def counting(data: np.ndarray) -> object:
        loads.append(data.size)
        return real(data)

    monkeypatch.setattr(faiss, "deserialize_index", counting)
    monkeypatch.setattr(knn_mod, "_WORKER_INDEX", {})
    sharded = knn(x, 5, method="ivf", engine=SequentialEngine())
    assert len(loads) == 1  # three shards in this process, one deserialisation
    _same(sharded, knn(x, 5, method="ivf"))
    # exact and hnsw are not sharded: they run here (no task, no serialised index)
    _same(knn(x, 5, method="exact", engine=SequentialEngine()), knn(x, 5, method="exact"))
    assert len(loads) == 1


def test_a_rewritten_file_is_read_again_by_a_worker_that_had_it_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 500)
    monkeypatch.setattr(knn_mod, "_WORKER_ARRAYS", {})
    path = tmp_path / "emb.npy"
    first, second = _clustered(2_000, 16, seed=6), _clustered(2_000, 16, seed=7)
    np.save(path, first)
    before = knn(np.load(path, mmap_mode="r"), 5, method="ivf", engine=SequentialEngine())
    _same(before, knn(first, 5, method="ivf"))
    np.save(tmp_path / "new.npy", second)
    (tmp_path / "new.npy").replace(path)  # same path and shape, another file
    again = knn(np.load(path, mmap_mode="r"), 5, method="ivf", engine=SequentialEngine())
    _same(again, knn(second, 5, method="ivf"))  # not the map of the old file
    assert not np.array_equal(again.indices, before.indices)


def test_shards_are_whole_chunks_and_leave_no_worker_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 100)
    x = _clustered(1_050, 8, seed=8)  # 11 chunks
    for workers, shards in [
        (1, [400, 400, 250]),
        (2, [400, 400, 250]),
        (4, [300, 300, 300, 150]),
        (16, [100] * 10 + [50]),
    ]:
        eng = _Recording(workers)
        _same(knn(x, 3, method="ivf", engine=eng), knn(x, 3, method="ivf"))
        assert [s.stop - s.start for s in eng.items] == shards
        assert [s.start for s in eng.items] == [0, *np.cumsum(shards)[:-1].tolist()]


def test_an_in_memory_base_too_large_to_ship_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _clustered(2_000, 16)  # 125 KiB
    monkeypatch.setattr(knn_mod, "MAX_SHIPPED_BYTES", 64 * 1024)
    built: list[str] = []
    monkeypatch.setattr(knn_mod, "_build", lambda *a: built.append("x"))
    with pytest.raises(InvalidParameterError) as err:
        knn(x, 5, method="ivf", engine=SequentialEngine())
    assert str(err.value) == (
        "knn: a sharded search (engine=) sends an in-memory base with every task, up to "
        "0.0625 MiB; received 2000 x 16 float32 (0.1 MiB). Save it with np.save and pass "
        "np.load(path, mmap_mode='r') (the workers memory-map the file), or engine=None."
    )
    assert err.value.parameter == "base"
    assert built == []  # refused before the index is built
    np.save(tmp_path / "emb.npy", x)
    # part of a memory map, or a copy-on-write one, is not the file: refused the same way
    for not_the_file in (
        np.load(tmp_path / "emb.npy", mmap_mode="r")[:1_999],
        np.load(tmp_path / "emb.npy", mmap_mode="c"),
    ):
        assert knn_mod._npy_file(not_the_file) is None
        with pytest.raises(InvalidParameterError, match="sends an in-memory base"):
            knn(not_the_file, 5, method="ivf", engine=SequentialEngine())
    # a too-large in-memory query is refused too
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    with pytest.raises(InvalidParameterError, match="sends an in-memory query") as err:
        knn(mm, 5, x, method="ivf", engine=SequentialEngine())
    assert err.value.parameter == "query"
    # a plain view of the whole map (what check_embeddings returns) is the file
    assert knn_mod._npy_file(np.asarray(mm)) is not None


class _Recording:
    """An engine (the :class:`~datacentric.engine.Engine` protocol) that runs the tasks in
    this process and records each map's number of tasks."""

    name = "recording"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.maps: list[int] = []
        self.items: list[knn_mod._Shard] = []

    def map(self, fn, items, *, desc="", progress=False, resources=None):  # type: ignore[no-untyped-def]
        self.maps.append(len(items))
        self.items += items
        return SequentialEngine().map(fn, items)

    def close(self) -> None:
        """Nothing to stop."""

    def __enter__(self) -> _Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_scan_context_shards_only_the_ivf_graph_it_can_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric import Dataset
    from datacentric.issues.context import ScanContext
    from datacentric.issues.outlier import OutlierFinder

    n = 600
    ds = Dataset.from_arrays(np.zeros((n, 2, 2), np.uint8), [0, 1] * (n // 2), ["a", "b"])
    emb = _clustered(n, 16, seed=5)
    np.save(tmp_path / "emb.npy", emb)
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    two = _Recording(workers=2)
    # a small scan (below HNSW_MAX rows): exactly as without an engine
    assert ScanContext(ds, embeddings=emb, engine=two).knn_engine is None
    assert ScanContext(ds, embeddings=emb).knn_engine is None
    monkeypatch.setattr(knn_mod, "EXACT_MAX", 100)
    monkeypatch.setattr(knn_mod, "HNSW_MAX", 500)  # 600 rows take the IVF path now
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 128)  # 5 chunks -> 2 shards
    assert ScanContext(ds, embeddings=emb, engine=SequentialEngine()).knn_engine is None
    local = LocalEngine(workers=2)  # no process is started until a map
    assert ScanContext(ds, embeddings=mm, engine=local).knn_engine is None  # same machine
    assert ScanContext(ds, embeddings=emb, engine=_Recording(workers=1)).knn_engine is None
    ctx = ScanContext(ds, embeddings=mm, engine=two)
    assert ctx.knn_engine is two
    assert isinstance(ctx.embeddings, np.ndarray) and knn_mod._npy_file(ctx.embeddings)
    graph = ctx.knn_graph
    assert two.maps == [2]
    _same(graph, knn(emb, 10))
    OutlierFinder(k=20).find(ctx)  # its own k: the same engine
    assert two.maps == [2, 2]
    # an in-memory base too large to send: this process, no error
    monkeypatch.setattr(knn_mod, "MAX_SHIPPED_BYTES", emb.nbytes - 1)
    assert ScanContext(ds, embeddings=emb, engine=two).knn_engine is None
    assert ScanContext(ds, embeddings=mm, engine=two).knn_engine is two
