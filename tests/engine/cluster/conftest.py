"""One real 2-node Ray cluster for the whole test session (see ray_cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.cluster.ray_cluster import RayCluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """The cluster, started once (about 10 s); stopped, and checked gone, at the end."""
    cluster = RayCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()
    left = cluster.leftovers()
    assert not left, f"Ray processes of the test cluster left behind: {left}"


@pytest.fixture
def cluster(ray_cluster: RayCluster) -> RayCluster:
    """The session's cluster with both nodes up (a test that killed one marks it lost)."""
    if ray_cluster.worker_lost:
        ray_cluster.restart_worker()
    return ray_cluster
