"""The inventory ledger: stock files from the inbox, derived positions, the reorder report.

Warehouses send three CSV layouts (docs/inventory.md): stock counts (a full snapshot or a
cycle count), purchase receipts and adjustments. Each file is read whole and checked before
anything is written: an unknown warehouse or SKU, a pair the warehouse does not stock, a bad
number or time rejects the file with the line(s) at fault, and nothing of it is applied.

Every accepted row becomes one movement in ``oms.inventory_movements``, which is append-only.
A count does not overwrite on_hand: it becomes a movement of the difference between what was
counted and the book figure *as of the count's time* (movements after it still apply), so
the history keeps both. A count older than the latest count already booked for its pair is
superseded and skipped.

Positions (on_hand, committed, safety stock, ATP) are derived from the ledger and
``stock_policy.csv`` and rebuilt whole; nothing edits them on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.channels import UnreadableFile
from pipelines.lib.files import spreadsheet_safe_frame, write_atomically
from pipelines.lib.intake import (
    FileOutcome,
    file_layout,
    inbox_files,
    take_stage_file,
)
from pipelines.lib.reference import read_reference
from pipelines.lib.schema import (
    BACKORDERS,
    INVENTORY_MOVEMENTS,
    INVENTORY_POSITIONS,
    REORDER_REPORT,
)
from pipelines.lib.warehouse import frame

COUNT, RECEIPTS, ADJUSTMENTS = "stock count", "stock receipts", "stock adjustments"


@dataclass(frozen=True)
class StockLayout:
    """One inbox layout: its columns and how a row becomes a movement."""

    name: str
    quantity: str  # the number column
    at: str  # the time column
    optional: tuple[str, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return ("warehouse_id", "sku", self.quantity, self.at)


LAYOUTS = {
    COUNT: StockLayout(COUNT, "on_hand", "counted_at", ("kind", "reference", "note")),
    RECEIPTS: StockLayout(RECEIPTS, "quantity", "received_at", ("reference", "note")),
    ADJUSTMENTS: StockLayout(ADJUSTMENTS, "quantity", "adjusted_at", ("reference", "note")),
}
COUNT_KINDS = ("snapshot", "count")
#: Times a little ahead of the batch's clock are accepted (warehouse clocks drift).
CLOCK_SKEW = timedelta(minutes=15)
#: At most this many problems are listed in a rejected file's reason.
SHOWN_PROBLEMS = 5


@dataclass
class InventoryResult:
    files: list[FileOutcome] = field(default_factory=list)
    movements: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    #: count rows older than a count already booked for their pair
    superseded_counts: int = 0


@dataclass(frozen=True)
class Catalogue:
    """What a stock file may name: warehouses, SKUs, and the pairs that have a bin."""

    warehouses: frozenset[str]
    skus: frozenset[str]
    pairs: pl.DataFrame  # warehouse_id, sku

    @classmethod
    def load(cls, reference_dir: Path) -> Catalogue:
        warehouses = read_reference(reference_dir, "warehouses")["warehouse_id"]
        skus = read_reference(reference_dir, "products")["sku"]
        pairs = read_reference(reference_dir, "product_locations").select("warehouse_id", "sku")
        return cls(frozenset(warehouses), frozenset(skus), pairs)


def _problem(condition: pl.Expr, message: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(message)


def _parse_times(values: pl.Series) -> dict[str, datetime | None]:
    """ISO 8601 text → aware datetime (None when unreadable or without an offset)."""
    parsed: dict[str, datetime | None] = {}
    for text in values.drop_nulls().unique().to_list():
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            value = None
        parsed[text] = value if value is not None and value.tzinfo is not None else None
    return parsed


def read_stock_file(
    path: Path, layout: StockLayout, catalogue: Catalogue, now: datetime
) -> pl.DataFrame:
    """The file's rows as checked movements (before counts are turned into differences).

    Columns: source_row, warehouse_id, sku, quantity, at, kind, reference, note. Raises
    UnreadableFile naming the lines at fault; then nothing of the file may be applied.
    """
    try:
        rows = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"not a readable UTF-8 CSV {layout.name} file: {exc}") from None
    rows = rows.rename({c: c.strip().lstrip("\ufeff").lower() for c in rows.columns})
    missing = [c for c in layout.required if c not in rows.columns]
    if missing:
        raise UnreadableFile(f"{layout.name} file lacks column(s) {', '.join(missing)}", line=1)
    unknown = sorted(set(rows.columns) - set(layout.required) - set(layout.optional))
    if unknown:
        raise UnreadableFile(
            f"{layout.name} file has unknown column(s) {', '.join(unknown)}; expected "
            f"{', '.join(layout.required + layout.optional)}",
            line=1,
        )
    if rows.is_empty():
        raise UnreadableFile(f"{layout.name} file has a header but no rows", line=2)
    rows = rows.with_columns(
        pl.lit(None, pl.String).alias(c) for c in layout.optional if c not in rows.columns
    ).with_columns(pl.all().str.strip_chars().replace("", None))
    times = _parse_times(rows[layout.at])
    stocked = catalogue.pairs.with_columns(stocked=pl.lit(True))
    rows = (
        rows.with_row_index("source_row", offset=1)
        .with_columns(
            units=pl.when(pl.col(layout.quantity).str.contains(r"^[+-]?\d{1,15}$")).then(
                pl.col(layout.quantity).str.replace(r"^\+", "").cast(pl.Int64, strict=False)
            ),
            at=pl.col(layout.at).replace_strict(
                times, default=None, return_dtype=pl.Datetime("us", "UTC")
            ),
        )
        .join(stocked, on=["warehouse_id", "sku"], how="left", maintain_order="left")
    )
    q, text = pl.col("units"), pl.col(layout.quantity)
    if layout.name == COUNT:
        bad_number = _problem(
            q.is_null() | (q < 0), pl.format("on_hand {} is not a whole number >= 0", text)
        )
    elif layout.name == RECEIPTS:
        bad_number = _problem(
            q.is_null() | (q <= 0), pl.format("quantity {} is not a whole number >= 1", text)
        )
    else:
        bad_number = _problem(
            q.is_null() | (q == 0), pl.format("quantity {} is not a non-zero whole number", text)
        )
    checks = [
        *(
            _problem(pl.col(c).is_null(), pl.lit(f"{c} is blank"))
            for c in ("warehouse_id", "sku", layout.at)
        ),
        _problem(
            pl.col("warehouse_id").is_not_null()
            & ~pl.col("warehouse_id").is_in(sorted(catalogue.warehouses)),
            pl.format("unknown warehouse {} (not in warehouses.csv)", "warehouse_id"),
        ),
        _problem(
            pl.col("sku").is_not_null() & ~pl.col("sku").is_in(sorted(catalogue.skus)),
            pl.format("unknown SKU {} (not in products.csv)", "sku"),
        ),
        _problem(
            pl.col("warehouse_id").is_in(sorted(catalogue.warehouses))
            & pl.col("sku").is_in(sorted(catalogue.skus))
            & pl.col("stocked").is_null(),
            pl.format("{} has no bin for {} (product_locations.csv)", "warehouse_id", "sku"),
        ),
        _problem(text.is_not_null(), bad_number),
        _problem(
            pl.col(layout.at).is_not_null() & pl.col("at").is_null(),
            pl.format(
                "{} {} is not an ISO 8601 time with a UTC offset", pl.lit(layout.at), layout.at
            ),
        ),
        _problem(
            pl.col("at") > pl.lit(now + CLOCK_SKEW),
            pl.format("{} {} is in the future", pl.lit(layout.at), layout.at),
        ),
    ]
    if layout.name == COUNT:
        checks.append(
            _problem(
                pl.col("kind").is_not_null()
                & ~pl.col("kind").str.to_lowercase().is_in(COUNT_KINDS),
                pl.format("kind {} is not snapshot or count", "kind"),
            )
        )
        checks.append(
            _problem(
                pl.struct("warehouse_id", "sku").is_duplicated(),
                pl.format("{} {} is counted twice in the file", "warehouse_id", "sku"),
            )
        )
    problems = rows.select(
        "source_row", pl.concat_list(checks).list.drop_nulls().list.join("; ").alias("problem")
    ).filter(pl.col("problem") != "")
    if problems.height:
        shown = "; ".join(
            f"line {row + 1}: {problem}"  # line 1 is the header
            for row, problem in problems.head(SHOWN_PROBLEMS).iter_rows()
        )
        more = problems.height - SHOWN_PROBLEMS
        raise UnreadableFile(
            f"{problems.height} row(s) cannot be applied, so none were: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
        )
    kind = pl.col("kind").str.to_lowercase().fill_null("count") if layout.name == COUNT else None
    reason = {RECEIPTS: pl.lit("receipt"), ADJUSTMENTS: pl.lit("adjustment")}.get(layout.name, kind)
    return rows.select(
        "source_row",
        "warehouse_id",
        "sku",
        pl.col("units").alias("quantity"),
        "at",
        reason.alias("reason"),
        "reference",
        "note",
    )


def _book_counts(con: duckdb.DuckDBPyConnection, counts: pl.DataFrame) -> pl.DataFrame:
    """Counts as movements of the difference from the book on_hand as of the count's time;
    counts no later than the pair's latest booked count are dropped (superseded)."""
    con.register("counted", counts.select("source_row", "warehouse_id", "sku", "at"))
    book = frame(
        con,
        f"""
        SELECT c.source_row,
               coalesce(sum(m.on_hand_delta) FILTER (m."at" <= c."at"), 0) AS book,
               max(m."at") FILTER (m.reason IN ('snapshot', 'count')) AS last_count
        FROM counted c LEFT JOIN {INVENTORY_MOVEMENTS.qualified} m
          ON m.warehouse_id = c.warehouse_id AND m.sku = c.sku
        GROUP BY c.source_row
        """,
    )
    con.unregister("counted")
    counts = counts.join(book, on="source_row", how="left")
    current = counts.filter(pl.col("last_count").is_null() | (pl.col("at") > pl.col("last_count")))
    return current.with_columns(
        note=pl.coalesce(
            "note",
            pl.format("counted {}, book {}", "quantity", "book"),
        ),
        quantity=pl.col("quantity") - pl.col("book"),
    ).drop("book", "last_count")


def already_counted(
    con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, file_id: str
) -> pl.DataFrame:
    """For receipts and adjustments booked after a count that is later than them: the count
    already saw those units, so at the count's time the movement is taken back out (reason
    ``count``); the book then still agrees with what was counted, and later stays right."""
    con.register("dated", rows.select("source_row", "warehouse_id", "sku", "at"))
    counted = frame(
        con,
        f"""
        SELECT d.source_row, min(m."at") AS counted_at
        FROM dated d JOIN {INVENTORY_MOVEMENTS.qualified} m
          ON m.warehouse_id = d.warehouse_id AND m.sku = d.sku
         AND m.reason IN ('snapshot', 'count') AND m."at" > d."at"
        GROUP BY d.source_row
        """,
    )
    con.unregister("dated")
    late = rows.join(counted, on="source_row", how="inner")
    return late.select(
        pl.format("{}:{}:counted", pl.lit(file_id[:16]), "source_row").alias("movement_id"),
        "source_row",
        "warehouse_id",
        "sku",
        (-pl.col("quantity")).alias("quantity"),
        pl.col("counted_at").alias("at"),
        pl.lit("count").alias("reason"),
        "reference",
        pl.format(
            "the count of {} already included this {}, booked late",
            pl.col("counted_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason",
        ).alias("note"),
    )


def insert_movements(
    con: duckdb.DuckDBPyConnection,
    movements: pl.DataFrame,
    *,
    file_id: str,
    source_file: str,
    run_id: str,
    now: datetime,
) -> None:
    if "movement_id" not in movements.columns:
        movements = movements.with_columns(movement_id=pl.lit(None, pl.String))
    rows = movements.select(
        pl.coalesce("movement_id", pl.format("{}:{}", pl.lit(file_id[:16]), "source_row")).alias(
            "movement_id"
        ),
        "at",
        "warehouse_id",
        "sku",
        pl.col("quantity").alias("on_hand_delta"),
        pl.lit(0, pl.Int64).alias("committed_delta"),
        "reason",
        "reference",
        "note",
        pl.lit(now).alias("recorded_at"),
        pl.lit(source_file).alias("source_file"),
        "source_row",
        pl.lit(run_id).alias("run_id"),
    )
    con.register("new_movements", INVENTORY_MOVEMENTS.conform(rows).to_arrow())
    con.execute(
        f"INSERT INTO {INVENTORY_MOVEMENTS.qualified} BY NAME "
        "SELECT * FROM new_movements ON CONFLICT DO NOTHING"
    )
    con.unregister("new_movements")


def _negative_on_hand(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    return con.execute(
        f"""
        SELECT warehouse_id, sku, sum(on_hand_delta) AS on_hand
        FROM {INVENTORY_MOVEMENTS.qualified}
        WHERE (warehouse_id, sku) IN (SELECT (warehouse_id, sku) FROM touched)
        GROUP BY ALL HAVING sum(on_hand_delta) < 0 ORDER BY 1, 2
        """
    ).fetchall()


def apply_stock_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    layout: StockLayout,
    catalogue: Catalogue,
    *,
    file_id: str,
    run_id: str,
    now: datetime,
    result: InventoryResult,
) -> int:
    """Book one file's movements (inside the caller's transaction); returns rows booked.

    Raises UnreadableFile when a row cannot be applied, including an adjustment that would
    take a position below zero.
    """
    rows = read_stock_file(path, layout, catalogue, now)
    if layout.name == COUNT:
        booked = _book_counts(con, rows)
        result.superseded_counts += rows.height - booked.height
        rows = booked
    else:
        rows = pl.concat([rows, already_counted(con, rows, file_id)], how="diagonal_relaxed")
    insert_movements(con, rows, file_id=file_id, source_file=path.name, run_id=run_id, now=now)
    con.register("touched", rows.select("warehouse_id", "sku").unique())
    negative = _negative_on_hand(con)
    con.unregister("touched")
    if negative:
        shown = ", ".join(f"{w} {s} would be {n}" for w, s, n in negative[:SHOWN_PROBLEMS])
        raise UnreadableFile(f"on hand cannot go below zero: {shown}")
    for reason, group in rows.group_by("reason"):
        name = str(reason[0])
        result.movements[name] = result.movements.get(name, 0) + group.height
        result.units[name] = result.units.get(name, 0) + int(group["quantity"].sum())
    return rows.height


def stock_files(inbox: Path) -> list[tuple[Path, StockLayout]]:
    """Stock files waiting in the inbox, oldest first, with their layout."""
    found = []
    for path in inbox_files(inbox):
        layout = LAYOUTS.get(file_layout(path) or "")
        if layout is not None:
            found.append((path, layout))
    return found


def ingest_stock_files(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    *,
    reference_dir: Path,
    archive_dir: Path,
    rejected_dir: Path,
    run_id: str,
    now: datetime,
) -> InventoryResult:
    """Book every stock file in the inbox, each in its own transaction, then move it."""
    result = InventoryResult()
    files = stock_files(inbox)
    if not files:
        return result
    catalogue = Catalogue.load(reference_dir)
    for path, layout in files:
        outcome = take_stage_file(
            con,
            path,
            fmt=layout.name,
            apply=lambda outcome, path=path, layout=layout: apply_stock_file(
                con,
                path,
                layout,
                catalogue,
                file_id=outcome.file_id,
                run_id=run_id,
                now=now,
                result=result,
            ),
            unreadable=(UnreadableFile,),
            archive_dir=archive_dir,
            rejected_dir=rejected_dir,
            run_id=run_id,
            now=now,
        )
        result.files.append(outcome)
    return result


# --- positions and the reorder report --------------------------------------------------------


def stock_policy(reference_dir: Path) -> pl.DataFrame:
    return read_reference(reference_dir, "stock_policy").select(
        pl.col("warehouse_id").cast(pl.String),
        pl.col("sku").cast(pl.String),
        pl.col("safety_stock").cast(pl.Int64),
        pl.col("reorder_point").cast(pl.Int64),
        pl.col("max_level").cast(pl.Int64),
    )


def derive_positions(
    con: duckdb.DuckDBPyConnection, policy: pl.DataFrame, now: datetime
) -> pl.DataFrame:
    """Positions of every pair with a movement or a stock policy, from the ledger."""
    con.register("policy", policy)
    try:
        return frame(
            con,
            f"""
            WITH ledger AS (
                SELECT warehouse_id, sku, sum(on_hand_delta) AS on_hand,
                       sum(committed_delta) AS "committed", max("at") AS last_movement_at,
                       max("at") FILTER (reason IN ('snapshot', 'count')) AS last_counted_at
                FROM {INVENTORY_MOVEMENTS.qualified} GROUP BY ALL
            )
            SELECT warehouse_id, sku,
                   coalesce(l.on_hand, 0)::BIGINT AS on_hand,
                   coalesce(l."committed", 0)::BIGINT AS "committed",
                   coalesce(p.safety_stock, 0)::BIGINT AS safety_stock,
                   greatest(0, coalesce(l.on_hand, 0) - coalesce(l."committed", 0)
                               - coalesce(p.safety_stock, 0))::BIGINT AS atp,
                   p.reorder_point, p.max_level, l.last_movement_at, l.last_counted_at,
                   $now AS as_of
            FROM ledger l FULL JOIN policy p USING (warehouse_id, sku)
            ORDER BY warehouse_id, sku
            """,
            {"now": now},
        )
    finally:
        con.unregister("policy")


def write_positions(con: duckdb.DuckDBPyConnection, positions: pl.DataFrame) -> None:
    """Replace oms.inventory_positions (inside the caller's transaction)."""
    _replace(con, INVENTORY_POSITIONS.qualified, INVENTORY_POSITIONS.conform(positions))


def _replace(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    con.execute(f"DELETE FROM {table}")
    con.register("replacement", rows.to_arrow())
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM replacement")
    con.unregister("replacement")


def reorder_report(
    con: duckdb.DuckDBPyConnection,
    positions: pl.DataFrame,
    reference_dir: Path,
    *,
    default_lead_days: int,
    run_id: str,
    now: datetime,
) -> pl.DataFrame:
    """Pairs whose available position (on hand - committed - open backorders promised from
    the warehouse) is at or below the reorder point, with the quantity to reach max_level."""
    backordered = frame(
        con,
        f"""
        SELECT promised_warehouse_id AS warehouse_id, sku, sum(quantity)::BIGINT AS backordered
        FROM {BACKORDERS.qualified}
        WHERE status = 'open' AND promised_warehouse_id IS NOT NULL GROUP BY ALL
        """,
    )
    products = read_reference(reference_dir, "products").select(
        "sku", pl.col("name").alias("product_name")
    )
    lead = read_reference(reference_dir, "warehouses").select(
        pl.col("warehouse_id"), pl.col("replenishment_lead_days").alias("lead_days")
    )
    report = (
        positions.filter(pl.col("reorder_point").is_not_null() & pl.col("max_level").is_not_null())
        .join(backordered, on=["warehouse_id", "sku"], how="left")
        .with_columns(pl.col("backordered").fill_null(0))
        .with_columns(
            available_position=pl.col("on_hand") - pl.col("committed") - pl.col("backordered")
        )
        .filter(pl.col("available_position") <= pl.col("reorder_point"))
        .with_columns(suggested_quantity=pl.col("max_level") - pl.col("available_position"))
        .filter(pl.col("suggested_quantity") > 0)
        .join(products, on="sku", how="left")
        .join(lead, on="warehouse_id", how="left")
        .with_columns(
            pl.col("lead_days").fill_null(default_lead_days),
            as_of=pl.lit(now),
            run_id=pl.lit(run_id),
        )
        .sort("warehouse_id", "sku")
    )
    report = REORDER_REPORT.conform(report)
    stored = REORDER_REPORT.conform(
        frame(con, f"SELECT * FROM {REORDER_REPORT.qualified} ORDER BY warehouse_id, sku")
    )
    figures = [c for c in report.columns if c not in ("as_of", "run_id")]
    if stored.select(figures).equals(report.select(figures)):
        return stored  # nothing moved since: the report stays as it was, with its as_of
    _replace(con, REORDER_REPORT.qualified, report)
    return report


def write_reorder_csv(report: pl.DataFrame, outbox: Path, now: datetime) -> Path:
    """data/outbox/inventory/reorder_<date>.csv (temp file, then rename); a formula-like
    product name or SKU is quoted (:func:`files.spreadsheet_safe_frame`)."""
    target = outbox / "inventory" / f"reorder_{now:%Y-%m-%d}.csv"
    rows = spreadsheet_safe_frame(report.drop("run_id")).with_columns(
        pl.col("as_of").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    body = rows.write_csv(line_terminator="\n").encode("utf-8")
    if not (target.exists() and target.read_bytes() == body):  # a re-run rewrites nothing
        write_atomically(target, lambda tmp: Path(tmp).write_bytes(body))
    return target
