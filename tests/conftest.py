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
RECORDINGS = REPO / "recordings"
# Real telegrams with what wmbusmeters reads from them (tests/data/README.md).
CORPUS = REPO / "tests" / "data" / "corpus.jsonl"


def require_program(name: str) -> str:
    """Path of an external program; skip (or fail under CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (`.ci/run` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
