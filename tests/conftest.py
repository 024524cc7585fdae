"""Shared fixtures. Real data is read from ../shared/data (or $INFAGENC_SHARED_DATA);
tests that need it skip, saying why, when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("INFAGENC_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"real data not available: {d} is absent (set INFAGENC_SHARED_DATA to its location)")
    return d


def need(path: Path) -> Path:
    """Skip the calling test, naming the path, when a real-data file or folder is missing."""
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # tests share two cores; one torch thread also makes float reductions identical between
    # runs that must agree bit for bit (resume tests)
    torch.set_num_threads(1)
    yield


def pytest_collection_modifyitems(config, items):
    # every test that reads the real datasets carries the `realdata` marker, so
    # `pytest -m "not realdata"` runs without ../shared/data and `-m realdata` runs only those
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)
