"""Resources every stage shares: the warehouse and the data folders."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.lib.warehouse import connect, migrate
from pipelines.project import Settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse (one writer at a time) and its published reporting snapshot."""

    path: str
    reporting_path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path) as con:
            migrate(con)
            yield con


class FoldersResource(dg.ConfigurableResource):
    """Runtime folders under the data directory, and the committed reference data."""

    data_dir: str
    reference_dir: str

    def folder(self, name: str) -> Path:
        path = Path(self.data_dir) / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def inbox(self) -> Path:
        return self.folder("inbox")

    @property
    def archive(self) -> Path:
        return self.folder("archive")

    @property
    def rejected(self) -> Path:
        return self.folder("rejected")

    @property
    def outbox(self) -> Path:
        return self.folder("outbox")

    @property
    def reference(self) -> Path:
        return Path(self.reference_dir)

    def for_inbox_stage(self) -> dict[str, Path]:
        """The folders a stage that reads inbox files and writes the outbox takes."""
        return {
            "reference_dir": self.reference,
            "inbox": self.inbox,
            "archive_dir": self.archive,
            "rejected_dir": self.rejected,
            "outbox": self.outbox,
        }


def warn_rejected(context: dg.AssetExecutionContext, outcomes: Iterable) -> None:
    """One warning in the run's log per inbox file a stage rejected, with the reason."""
    for outcome in outcomes:
        if outcome.status == "rejected":
            context.log.warning(f"rejected {outcome.name}: {outcome.reason}")


def warehouse_resource(settings: Settings) -> WarehouseResource:
    return WarehouseResource(
        path=str(settings.warehouse_path), reporting_path=str(settings.reporting_path)
    )


def folders_resource(settings: Settings) -> FoldersResource:
    return FoldersResource(
        data_dir=str(settings.data_dir), reference_dir=str(settings.reference_dir)
    )
