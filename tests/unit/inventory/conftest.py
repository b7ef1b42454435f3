"""A warehouse with hand-made orders and stock files, and the inventory/allocation stages.

The reference data is the committed one, except that four SKUs are stocked (all five
warehouses, no safety stock unless a test says so), so every quantity in a test is the
test's own.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.brokering import AllocationStageResult, run_allocation_stage
from pipelines.lib.channel_feeds import FeedsResult, run_channel_feeds_stage
from pipelines.lib.fulfilment import FulfilmentResult, run_fulfilment_stage
from pipelines.lib.inventory import InventoryResult, ingest_stock_files
from pipelines.lib.returns import ReturnsResult, run_returns_stage
from pipelines.lib.shipping import ShippingResult, run_shipping_stage
from pipelines.lib.warehouse import frame
from tests.orders import REFERENCE, T0
from tests.unit.quality.conftest import Platform

SKUS = ("SKU-00001", "SKU-00002", "SKU-00003", "SKU-00004")
WAREHOUSES = ("WH-CA", "WH-GA", "WH-IL", "WH-NJ", "WH-TX")
#: Ship-to points: San Francisco is nearest WH-CA, New York nearest WH-NJ, Dallas WH-TX.
SF = {"ship_city": "San Francisco", "ship_region": "CA", "ship_postal_code": "94103"}
NYC = {"ship_city": "New York", "ship_region": "NY", "ship_postal_code": "10001"}
DALLAS = {"ship_city": "Dallas", "ship_region": "TX", "ship_postal_code": "75201"}


def write_reference(folder: Path, policy: dict[tuple[str, str], tuple[int, int, int]]) -> Path:
    """The committed reference data with only SKUS stocked; ``policy`` overrides
    (safety_stock, reorder_point, max_level) per pair (default 0, 2, 20)."""
    folder.mkdir(exist_ok=True)
    for source in REFERENCE.iterdir():
        if source.suffix in (".csv", ".toml"):
            (folder / source.name).write_bytes(source.read_bytes())
    pairs = [(w, s) for w in WAREHOUSES for s in SKUS]
    pl.DataFrame(
        {
            "warehouse_id": [w for w, _ in pairs],
            "sku": [s for _, s in pairs],
            "zone": "A",
            "aisle": "01",
            "bay": [f"{i:02d}" for i in range(len(pairs))],
            "level": "1",
            "bin": [f"A-01-{i:02d}-1" for i in range(len(pairs))],
        }
    ).write_csv(folder / "product_locations.csv")
    rows = [(w, s, *policy.get((w, s), (0, 2, 20))) for w, s in pairs]
    pl.DataFrame(
        rows,
        schema=["warehouse_id", "sku", "safety_stock", "reorder_point", "max_level"],
        orient="row",
    ).write_csv(folder / "stock_policy.csv")
    return folder


class StockPlatform(Platform):
    """Platform plus stock files, the inventory stage and the allocation stage."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.reference = write_reference(root / "reference", {})
        self.outbox = root / "outbox"
        self.files = 0

    def policy(self, policy: dict[tuple[str, str], tuple[int, int, int]]) -> None:
        write_reference(self.reference, policy)

    def drop(self, name: str, rows: list[dict]) -> Path:
        """A stock file in the inbox, columns from the rows' keys (a later mtime each)."""
        self.files += 1
        path = self.inbox / name
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return path

    def count(self, stock: dict[tuple[str, str], int], at: datetime, kind: str = "snapshot"):
        rows = [
            {
                "warehouse_id": w,
                "sku": s,
                "on_hand": n,
                "counted_at": at.isoformat(),
                "kind": kind,
            }
            for (w, s), n in stock.items()
        ]
        return self.drop(f"count_{self.files}.csv", rows)

    def receive(self, stock: dict[tuple[str, str], int], at: datetime, po: str = "PO-1"):
        rows = [
            {
                "warehouse_id": w,
                "sku": s,
                "quantity": n,
                "received_at": at.isoformat(),
                "reference": po,
            }
            for (w, s), n in stock.items()
        ]
        return self.drop(f"receipts_{self.files}.csv", rows)

    def book(self, at: datetime | None = None) -> InventoryResult:
        self.runs += 1
        return ingest_stock_files(
            self.con,
            self.inbox,
            reference_dir=self.reference,
            archive_dir=self.archive,
            rejected_dir=self.rejected,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
        )

    def allocate(self, at: datetime | None = None) -> AllocationStageResult:
        self.runs += 1
        return run_allocation_stage(
            self.con,
            reference_dir=self.reference,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
        )

    def fulfil(self, at: datetime | None = None) -> FulfilmentResult:
        self.runs += 1
        return run_fulfilment_stage(
            self.con,
            reference_dir=self.reference,
            outbox=self.outbox,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
        )

    def _inbox_stage(self, run, at: datetime | None):
        """A stage that reads the inbox and writes the outbox, as its next run."""
        self.runs += 1
        return run(
            self.con,
            reference_dir=self.reference,
            inbox=self.inbox,
            archive_dir=self.archive,
            rejected_dir=self.rejected,
            outbox=self.outbox,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
        )

    def ship(self, at: datetime | None = None) -> ShippingResult:
        return self._inbox_stage(run_shipping_stage, at)

    def returns(self, at: datetime | None = None) -> ReturnsResult:
        return self._inbox_stage(run_returns_stage, at)

    def feeds(self, at: datetime | None = None, **options) -> FeedsResult:
        """The channel feeds stage, as its next run (``full``, ``channels`` passed on)."""
        self.runs += 1
        return run_channel_feeds_stage(
            self.con,
            reference_dir=self.reference,
            outbox=self.outbox,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
            **options,
        )

    def ledger(self) -> pl.DataFrame:
        return frame(self.con, 'SELECT * FROM oms.inventory_movements ORDER BY "at", movement_id')

    def position(self, warehouse: str, sku: str) -> dict:
        """on_hand and committed summed from the ledger (not the derived table)."""
        row = self.con.execute(
            "SELECT coalesce(sum(on_hand_delta), 0), coalesce(sum(committed_delta), 0) "
            "FROM oms.inventory_movements WHERE warehouse_id = ? AND sku = ?",
            [warehouse, sku],
        ).fetchall()[0]
        return {"on_hand": row[0], "committed": row[1]}

    def allocations(self, key: str, status: str = "committed") -> list[tuple]:
        return self.con.execute(
            "SELECT line_no, warehouse_id, quantity, rule FROM oms.allocations "
            "WHERE order_key = ? AND status = ? ORDER BY line_no, warehouse_id",
            [key, status],
        ).fetchall()

    def backorders(self, key: str) -> list[dict]:
        return frame(
            self.con,
            "SELECT * FROM oms.backorders WHERE order_key = ? ORDER BY line_no",
            [key],
        ).to_dicts()


@pytest.fixture
def stock(tmp_path: Path):
    p = StockPlatform(tmp_path)
    yield p
    p.close()
