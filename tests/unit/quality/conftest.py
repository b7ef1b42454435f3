"""A warehouse with hand-made canonical orders, and helpers to validate and decide on them."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.quality.validate import StageResult, run_validation_stage
from pipelines.lib.schema import ORDER_LINES, ORDERS
from pipelines.lib.warehouse import connect, frame, migrate
from tests.orders import REFERENCE, T0, good_line


class Platform:
    """One tmp_path warehouse plus an inbox, archive and rejected folder."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox = root / "inbox"
        self.archive = root / "archive"
        self.rejected = root / "rejected"
        self.inbox.mkdir()
        self._connection = connect(root / "oms.duckdb")
        self.con = self._connection.__enter__()
        migrate(self.con)
        self.runs = 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.__exit__(None, None, None)
            self._connection = None

    def add(self, order: dict, lines: list[dict] | None = None) -> None:
        """Store an order (and its lines) as intake would have."""
        lines = [good_line(order["order_key"])] if lines is None else lines
        self.con.register("o", ORDERS.conform(pl.DataFrame([order])).to_arrow())
        self.con.execute(f"INSERT INTO {ORDERS.qualified} BY NAME SELECT * FROM o")
        if lines:
            self.con.register("l", ORDER_LINES.conform(pl.DataFrame(lines)).to_arrow())
            self.con.execute(f"INSERT INTO {ORDER_LINES.qualified} BY NAME SELECT * FROM l")

    def update(self, key: str, at: datetime, **fields) -> None:
        """Change an order as a later export would (intake bumps updated_at)."""
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.con.execute(
            f"UPDATE {ORDERS.qualified} SET {sets}, updated_at = ? WHERE order_key = ?",
            [*fields.values(), at, key],
        )

    def run(
        self, at: datetime | None = None, reference_dir: Path = REFERENCE, docs: Path | None = None
    ) -> StageResult:
        self.runs += 1
        return run_validation_stage(
            self.con,
            inbox=self.inbox,
            archive_dir=self.archive,
            rejected_dir=self.rejected,
            reference_dir=reference_dir,
            run_id=f"run{self.runs}",
            now=at or T0 + timedelta(minutes=self.runs),
            docs_dir=docs,
        )

    def decide(self, rows: list[dict], name: str = "decisions.csv") -> Path:
        """Drop a decisions file in the inbox (columns from the rows' keys)."""
        path = self.inbox / name
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def status(self, key: str) -> str:
        return self.con.execute(
            f"SELECT status FROM {ORDERS.qualified} WHERE order_key = ?", [key]
        ).fetchall()[0][0]

    def holds(self, key: str | None = None, open_only: bool = True) -> pl.DataFrame:
        where = ["true"]
        if key:
            where.append(f"order_key = '{key}'")
        if open_only:
            where.append("resolved_at IS NULL")
        return frame(
            self.con,
            f"SELECT * FROM oms.order_holds WHERE {' AND '.join(where)} ORDER BY opened_at, rule",
        )

    def events(self, key: str) -> list[tuple[str, str]]:
        return self.con.execute(
            'SELECT event, detail FROM oms.order_events WHERE order_key = ? ORDER BY "at", event',
            [key],
        ).fetchall()


@pytest.fixture
def platform(tmp_path: Path):
    p = Platform(tmp_path)
    yield p
    p.close()


@pytest.fixture
def reference_copy(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of the reference data with validation.toml replaced by the given text."""

    def make(toml_text: str) -> Path:
        folder = tmp_path / "reference"
        folder.mkdir(exist_ok=True)
        for source in REFERENCE.glob("*.csv"):
            (folder / source.name).write_bytes(source.read_bytes())
        (folder / "validation.toml").write_text(toml_text, encoding="utf-8")
        return folder

    return make
