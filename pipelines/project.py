"""Every path and setting, resolved once and absolute; the one environment switch.

Nothing here has side effects at import: directories are created by :meth:`Settings.ensure_dirs`
when a command or run needs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The Dagster instance settings copied into DAGSTER_HOME (deploy/dagster.yaml).
INSTANCE_CONFIG = REPO_ROOT / "deploy" / "dagster.yaml"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DASHBOARDS_DIR = REPO_ROOT / "dashboards"

#: Environment variable through which dbt's profiles.yml finds the warehouse.
WAREHOUSE_ENV = "OMS_WAREHOUSE"
ENVIRONMENTS = ("dev", "test", "prod")


def get_environment(environ: dict[str, str] | None = None) -> str:
    """``OMS_ENV``: dev (default), test or prod. Picks resources and the dbt target."""
    env = (os.environ if environ is None else environ).get("OMS_ENV", "dev")
    if env not in ENVIRONMENTS:
        raise ValueError(f"OMS_ENV must be one of {ENVIRONMENTS}, not {env!r}")
    return env


@dataclass(frozen=True)
class Settings:
    environment: str
    data_dir: Path
    reference_dir: Path
    warehouse_path: Path
    reporting_path: Path
    dagster_home: Path

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive(self) -> Path:
        return self.data_dir / "archive"

    @property
    def rejected(self) -> Path:
        return self.data_dir / "rejected"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def ensure_dirs(self) -> None:
        for path in (self.inbox, self.archive, self.rejected, self.outbox):
            path.mkdir(parents=True, exist_ok=True)
        self.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        self.reporting_path.parent.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        instance = self.dagster_home / "dagster.yaml"
        if not instance.exists():  # the run queue that keeps writers one at a time
            instance.write_bytes(INSTANCE_CONFIG.read_bytes())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def path(name: str, default: Path) -> Path:
            value = env.get(name)
            return Path(value).expanduser().resolve() if value else default

        data_dir = path("OMS_DATA_DIR", REPO_ROOT / "data")
        warehouse = path(WAREHOUSE_ENV, data_dir / "warehouse" / "oms.duckdb")
        return cls(
            environment=get_environment(env),
            data_dir=data_dir,
            reference_dir=path("OMS_REFERENCE_DIR", REPO_ROOT / "data" / "reference"),
            warehouse_path=warehouse,
            reporting_path=path("OMS_REPORTING", warehouse.parent / "reporting.duckdb"),
            dagster_home=path("DAGSTER_HOME", REPO_ROOT / ".dagster"),
        )


@cache
def get_settings() -> Settings:
    return Settings.from_env()


def export_warehouse_env(warehouse_path: Path) -> None:
    """Tell dbt (a subprocess reading ``env_var('OMS_WAREHOUSE')`` and
    ``env_var('OMS_REFERENCE_DIR')``) which warehouse and reference data to use; the
    reference folder absolute, since dbt runs in its project folder."""
    os.environ[WAREHOUSE_ENV] = str(warehouse_path)
    os.environ["OMS_REFERENCE_DIR"] = str(get_settings().reference_dir)


def dbt_project() -> DbtProject:
    """The dbt project, parsed if needed.

    ``dagster dev`` re-parses on every start (``prepare_if_dev``). Anywhere else the
    manifest is parsed when missing (a fresh clone) or older than a dbt file (a pull that
    changed models), so ``oms run``, the tests and the webserver load the same definitions
    without a separate build step.
    """
    if WAREHOUSE_ENV not in os.environ:
        export_warehouse_env(get_settings().warehouse_path)
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target=get_settings().environment)
    project.prepare_if_dev()
    if _manifest_is_stale(project.manifest_path):
        project.preparer.prepare(project)
    return project


def _manifest_is_stale(manifest: Path) -> bool:
    """True when the manifest is missing or older than a dbt file (e.g. after a pull)."""
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        sources.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)
