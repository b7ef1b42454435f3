from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.project import REPO_ROOT, Settings, get_settings


def _platform(root: Path, mp: pytest.MonkeyPatch) -> Settings:
    mp.setenv("OMS_DATA_DIR", str(root / "data"))
    mp.setenv("OMS_WAREHOUSE", str(root / "data" / "warehouse" / "oms.duckdb"))
    mp.setenv("OMS_REPORTING", str(root / "data" / "warehouse" / "reporting.duckdb"))
    mp.setenv("OMS_REFERENCE_DIR", str(REPO_ROOT / "data" / "reference"))
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def oms_env(tmp_path: Path):
    """A whole platform in tmp_path: data folders, warehouse, snapshot and Dagster home."""
    with pytest.MonkeyPatch.context() as mp:
        yield _platform(tmp_path, mp)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def module_oms_env(tmp_path_factory: pytest.TempPathFactory):
    """Like ``oms_env`` but shared by a module's tests (for expensive batch runs)."""
    with pytest.MonkeyPatch.context() as mp:
        yield _platform(tmp_path_factory.mktemp("oms"), mp)
    get_settings.cache_clear()
