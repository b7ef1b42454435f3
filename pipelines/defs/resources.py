"""Resources every stage shares: the warehouse, the data folders and the batch's clock."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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


#: Run tag that sets the batch's "now" (ISO 8601 with an offset): the multi-day demo replays
#: its days with it, and ops can re-run a batch as of a past moment. Absent: the wall clock.
CLOCK_TAG = "oms/now"


def batch_clock(context: dg.AssetExecutionContext) -> datetime:
    """The moment this run's stages treat as now (the ``oms/now`` tag, else the wall clock);
    every stage of a run reads it, so they agree on cutoffs, windows and ages."""
    value = context.run.tags.get(CLOCK_TAG)
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"run tag {CLOCK_TAG} is not an ISO time: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"run tag {CLOCK_TAG} needs a UTC offset: {value!r}")
    return moment.astimezone(UTC)


def warehouse_resource(settings: Settings) -> WarehouseResource:
    return WarehouseResource(
        path=str(settings.warehouse_path), reporting_path=str(settings.reporting_path)
    )


def folders_resource(settings: Settings) -> FoldersResource:
    return FoldersResource(
        data_dir=str(settings.data_dir), reference_dir=str(settings.reference_dir)
    )
