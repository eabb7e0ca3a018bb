"""Shared test fixtures.

External programs (rtl_433, mosquitto, gcc, chromium) are installed by `.ci/run`. On a developer
machine without them the tests that need them are skipped; under CI (CI=true) a missing program
is a failure, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RECORDINGS = REPO / "recordings"


def require_program(name: str) -> str:
    """Path of an external program; skip (or fail under CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (`.ci/run` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_shared(relative: str) -> Path:
    """A file of ../shared; skip (or fail under CI) when the reference material is absent."""
    path = SHARED / relative
    if not path.exists():
        message = f"{path} is not available"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
