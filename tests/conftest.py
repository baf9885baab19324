"""Shared fixtures: the real data in ../shared (tests that need it skip with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("HAR_TF_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real data and models, or skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"real data folder {SHARED_DIR} is absent (set HAR_TF_SHARED_DIR to point at it)")
    return SHARED_DIR


def shared_file(shared_dir: Path, relative: str) -> Path:
    """A file or folder under ../shared, or skip naming what is missing."""
    path = shared_dir / relative
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path
