from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("OMS_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real public channel samples in ../shared/samples/channels.

    They are outside the project on purpose. Locally a checkout without them skips the
    conformance tests; under CI (CI=true) their absence is a failure, never a skip.
    """
    path = shared_dir() / "samples" / "channels"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the public channel samples are missing: {path}")
        pytest.skip(f"public channel samples not present at {path}")
    return path
