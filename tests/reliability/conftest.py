"""Fixtures of the reliability tests: a private PostgreSQL cluster they may stop and start."""

from __future__ import annotations

import os

import pytest

from .pgcluster import PrivateCluster


@pytest.fixture
def cluster():
    try:
        cluster = PrivateCluster()
    except Exception as e:  # noqa: BLE001
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(f"cannot start a private PostgreSQL cluster: {e}")
    yield cluster
    cluster.destroy()
