from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.project import get_settings
from tests.conftest import use_platform


@pytest.fixture
def oms_env(tmp_path: Path):
    """A whole platform in tmp_path: data folders, warehouse, snapshot and Dagster home."""
    with pytest.MonkeyPatch.context() as mp:
        yield use_platform(tmp_path, mp)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def module_oms_env(tmp_path_factory: pytest.TempPathFactory):
    """Like ``oms_env`` but shared by a module's tests (for expensive batch runs)."""
    with pytest.MonkeyPatch.context() as mp:
        yield use_platform(tmp_path_factory.mktemp("oms"), mp)
    get_settings.cache_clear()
