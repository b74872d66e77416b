"""kNN equals brute force (exact) and nearly so (HNSW); self is excluded."""

from __future__ import annotations

import numpy as np
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.issues.knn import knn, normalize_rows


def _brute(x: np.ndarray, k: int) -> np.ndarray:
    xn = normalize_rows(x).astype(np.float64)
    dist = 1 - xn @ xn.T
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1, kind="stable")[:, :k], dist


def test_exact_matches_brute_force() -> None:
    x = np.random.default_rng(1).normal(size=(300, 12))
    g = knn(x, 5, method="exact")
    expect, dist = _brute(x, 5)
    assert np.array_equal(np.sort(g.indices, axis=1), np.sort(expect, axis=1))
    assert np.allclose(g.distances, np.take_along_axis(dist, g.indices, axis=1), atol=1e-5)
    assert (np.diff(g.distances, axis=1) >= -1e-6).all()


def test_hnsw_has_high_recall() -> None:
    x = np.random.default_rng(2).normal(size=(3000, 16))
    g = knn(x, 10, method="hnsw")
    expect, _ = _brute(x, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g.indices, expect, strict=True)])
    assert recall > 0.95
    assert not (g.indices == np.arange(3000)[:, None]).any()


def test_exact_copies_never_list_themselves() -> None:
    x = np.random.default_rng(3).normal(size=(50, 8))
    x[10:20] = x[0]  # eleven identical rows
    g = knn(x, 3, method="exact")
    assert not (g.indices == np.arange(50)[:, None]).any()
    assert np.allclose(g.distances[0], 0.0, atol=1e-6)


def test_query_against_other_base_and_small_inputs() -> None:
    g = knn(np.eye(3), 2, query=np.array([[1.0, 0.1, 0.0]]))
    assert g.indices.tolist() == [[0, 1]]
    assert knn(np.ones((1, 3)), 5).k == 0  # nothing to compare with
    with pytest.raises(InvalidParameterError, match="method"):
        knn(np.eye(3), 1, method="annoy")


# ---------------------------------------------------------------- past memory (issue 15)
def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clusters with a low-dimensional spread (like real embeddings) plus isotropic noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 500, 4), dim))
    basis = rng.normal(size=(8, dim)) / 3
    x = centres[rng.integers(0, centres.shape[0], n)] + rng.normal(size=(n, 8)) @ basis
    return (x + 0.05 * rng.normal(size=(n, dim))).astype(np.float32)


#: Recall@10 of the IVF-PQ path against exact search that the tests hold it to (measured
#: ≈ 0.99 on this generator; benchmarks/bench_scale_knn.py measures it at 1 M and 10 M).
IVF_RECALL_BOUND = 0.9


def test_ivf_recall_against_exact_and_auto_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    import datacentric.issues.knn as knn_mod

    x = _clustered(6000, 32)
    exact = knn(x, 10, method="exact")
    monkeypatch.setattr(knn_mod, "EXACT_MAX", 1000)
    monkeypatch.setattr(knn_mod, "HNSW_MAX", 2000)
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 1000)  # several chunks, self found in each
    g = knn(x, 10)  # auto -> ivf above HNSW_MAX
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(g.indices, exact.indices, strict=True)]
    )
    assert recall >= IVF_RECALL_BOUND
    assert not (g.indices == np.arange(6000)[:, None]).any()
    assert (np.diff(g.distances, axis=1) >= -1e-6).all()
    # re-ranked distances are exact cosine distances of the neighbours returned
    xn = normalize_rows(x)
    true_d = 1 - np.einsum("nd,nkd->nk", xn, xn[g.indices])
    assert np.allclose(g.distances, np.clip(true_d, 0, 2), atol=1e-5)
    # deterministic for a seed
    again = knn(x, 10, method="ivf")
    assert np.array_equal(again.indices, g.indices)


def test_chunked_exact_equals_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import datacentric.issues.knn as knn_mod

    x = _clustered(3000, 16, seed=4)
    whole = knn(x, 5, method="exact")
    monkeypatch.setattr(knn_mod, "QUERY_CHUNK", 700)
    parts = knn(x, 5, method="exact")
    assert np.array_equal(whole.indices, parts.indices)
    assert np.array_equal(whole.distances, parts.distances)


def test_memmap_embeddings_are_not_copied(tmp_path: pytest.TempPathFactory) -> None:
    """A float32 .npy larger than the RSS bound goes through the embedding checks of
    ScanContext, Predictions and the .npy reader without being loaded."""
    from tests.hostile._child import run_child

    path = tmp_path / "emb.npy"  # type: ignore[operator]
    n, dim = 1_000_000, 128  # 512 MB
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for a in range(0, n, 100_000):
        mm[a : a + 100_000] = 1.0
    mm.flush()
    del mm
    res = run_child(
        f"""
        import numpy as np
        from pathlib import Path
        from datacentric.issues.context import check_embeddings
        from datacentric.train.prediction_files import read_npy
        from datacentric.train.recipe import Predictions
        arr = read_npy(Path({str(path)!r}), "embeddings file", mmap=True)
        assert isinstance(arr, np.memmap) and arr.shape == ({n}, {dim})
        out = check_embeddings(arr, {n})
        assert np.shares_memory(out, arr) and out.dtype == np.float32
        p = Predictions(np.arange({n}).astype(str).tolist(), np.full(({n}, 1), 1.0), arr)
        assert np.shares_memory(p.embeddings, arr)
        print("ok")
        """,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout
    assert res.peak_rss < 400 * 2**20  # the file alone is 512 MiB


def test_knn_on_memmap_keeps_resident_memory_to_a_chunk(tmp_path: pytest.TempPathFactory) -> None:
    from tests.hostile._child import run_child

    path = tmp_path / "emb.npy"  # type: ignore[operator]
    x = _clustered(120_000, 96, seed=5)
    np.save(path, x)
    size = x.nbytes  # 46 MB
    del x
    res = run_child(
        f"""
        import numpy as np
        import datacentric.issues.knn as knn_mod
        def rss(key):
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        import datacentric._arrays as arrays_mod
        knn_mod.QUERY_CHUNK = 4096
        arrays_mod.STEP_BYTES = 1 << 19  # re-rank steps of 0.5 MiB of the file (+ 2 folios)
        knn_mod.knn(np.ones((50, 4), np.float32), 2, method="ivf")  # faiss warmed up

        def grew(base):
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # VmHWM := VmRSS
            before = rss("VmRSS:")
            g = knn_mod.knn(base, 5, query=base[:2000], method="ivf")
            assert g.indices.shape == (2000, 5)
            return rss("VmHWM:") - before

        # first, unmeasured runs (one of each) bring the allocator's arenas (and faiss's and
        # the re-rank threads' buffers) to their steady size, so that no measured run pays
        # for it
        knn_mod._indexed = lambda base: False  # in RAM too: the re-rank's gathered copies
        grew(np.load({str(path)!r}))
        grew(np.load({str(path)!r}, mmap_mode="r"))
        mapped = grew(np.load({str(path)!r}, mmap_mode="r"))
        in_ram = grew(np.load({str(path)!r}))  # loaded before the measure starts
        print("grew", mapped, in_ram)
        """,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    mapped, in_ram = (int(v) for v in res.stdout.split("grew")[-1].split()[:2])
    # the index and one chunk, as in RAM; not the mapped file (a few chunks' pages at most)
    assert mapped - in_ram < 0.5 * size, (mapped, in_ram, size)
