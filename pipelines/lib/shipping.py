"""The shipping stage: rate shopping, labels, end-of-day carrier manifests (ship confirmation)
and carrier tracking events (docs/shipping.md).

Each batch, in order:

1. **Labels** (one transaction). Labels of parcels cancelled after labelling are voided.
   Every live parcel without a tracking number is rated (:func:`rating.rate_parcels`: the
   cheapest service keeping the order's promise, every candidate kept in ``oms.rate_quotes``
   with why it lost) and gets a tracking number with its carrier's check digit, from a serial
   one above the highest that carrier ever used (so numbers stay unique across runs, voided
   labels included). A parcel no service can carry stays unlabelled with the warning, and its
   shipment waits. After the commit, each wave's new labels are written as one 4 × 6 PDF and
   one ZPL II file beside its pick list; a crash in between leaves them to the next run.
2. **Manifests** (one transaction). Shipments whose wave's carrier cutoff has passed and whose
   live parcels all have labels leave: their parcels are closed into one manifest per carrier,
   warehouse and cutoff. Closing confirms the shipment: parcels, shipments, pick tasks and
   allocations become ``shipped``, the ledger gets one ``ship`` movement per allocation
   (on_hand and committed down, at the cutoff), waves with nothing left to ship become
   ``shipped``, and orders become ``shipped`` (every shippable unit shipped) or
   ``partially_shipped``, with an event naming carriers and tracking numbers. The manifest
   CSV and PDF are written after the commit.
3. **Tracking events.** Each carrier tracking file in the inbox (tracker JSON or flat CSV;
   :mod:`tracking_events`) is stored in its own transaction: events of our tracking numbers in
   ``oms.tracking_events`` (an event already stored is a duplicate and changes nothing),
   events of tracking numbers we never issued in ``quality.tracking_quarantine`` with the
   reason; an unreadable file is rejected whole. Then every parcel with new events (or shipped
   this run) takes the status of its **latest event by event time** (ties: the more advanced
   status), so events arriving late or out of order cannot move a parcel backwards; a
   shipment follows its parcels, an order whose shipments are all delivered becomes
   ``delivered``, and events are written for what customers hear about.
4. **Delays.** A shipment not delivered by its promised delivery date + ``grace_days``, or
   delivered after it, is flagged (``delayed_at``) with a ``delayed`` event once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.channels import SNIFF_BYTES
from pipelines.lib.documents import render_manifest
from pipelines.lib.files import spreadsheet_safe_frame, write_atomically
from pipelines.lib.fulfilment import address, local_label
from pipelines.lib.geo import ship_to_points
from pipelines.lib.intake import (
    TRACKING_LAYOUT,
    FileOutcome,
    file_layout,
    inbox_files,
    take_stage_file,
)
from pipelines.lib.inventory import derive_positions, stock_policy, write_positions
from pipelines.lib.labels import render_labels_pdf, render_labels_zpl
from pipelines.lib.rating import rate_parcels
from pipelines.lib.reference import read_reference, read_settings
from pipelines.lib.schema import (
    ALLOCATIONS,
    INVENTORY_MOVEMENTS,
    MANIFESTS,
    ORDER_EVENTS,
    ORDER_LINES,
    ORDERS,
    PARCELS,
    PICK_TASKS,
    RATE_QUOTES,
    SHIPMENTS,
    TRACKING_EVENTS,
    TRACKING_QUARANTINE,
    WAVES,
)
from pipelines.lib.timing import Laps
from pipelines.lib.tracking_events import UnreadableTrackingFile, read_tracking_file, sniff
from pipelines.lib.tracking_numbers import make_tracking_numbers
from pipelines.lib.warehouse import frame, scalar, transaction

CONFIG_FILE = "shipping.toml"
DEFAULT_GRACE_DAYS = 1
DEFAULT_UPS_SHIPPER = "A1B2C3"

#: Shipment and parcel statuses before the carrier has them.
NOT_SHIPPED = ("released", "picked", "packed")
#: Parcel status for each canonical carrier event status (``unknown`` changes nothing).
STATUS_OF_EVENT = {
    "pre_transit": "shipped",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "available_for_pickup",
    "delivered": "delivered",
    "failure": "delivery_failed",
    "return_to_sender": "returned_to_sender",
    "cancelled": "exception",
    "error": "exception",
}
#: Tie-break between events at the same instant: the more advanced one wins.
EVENT_PROGRESS = {
    "pre_transit": 1,
    "in_transit": 2,
    "out_for_delivery": 3,
    "failure": 4,
    "available_for_pickup": 5,
    "cancelled": 5,
    "error": 5,
    "return_to_sender": 6,
    "delivered": 7,
}
#: A shipment's status from its parcels: the first rule that holds. Parcels still moving
#: give the shipment the least advanced of their statuses.
_MOVING = ("shipped", "in_transit", "out_for_delivery", "available_for_pickup")
#: Order events written when a shipment reaches these statuses (the order's own
#: ``delivered`` comes when all its shipments are).
SHIPMENT_EVENTS = {
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "available_for_pickup",
    "delivery_failed": "delivery_failed",
    "returned_to_sender": "returned_to_sender",
    "exception": "carrier_exception",
    "delivered": "shipment_delivered",
}


@dataclass(frozen=True)
class ShippingSettings:
    grace_days: int = DEFAULT_GRACE_DAYS
    ups_shipper: str = DEFAULT_UPS_SHIPPER


def load_settings(reference_dir: Path) -> ShippingSettings:
    """``shipping.toml``; absent means the defaults. A bad value is an error."""
    path = reference_dir / CONFIG_FILE
    raw = read_settings(
        path,
        {
            "delays": {"grace_days": DEFAULT_GRACE_DAYS},
            "labels": {"ups_shipper": DEFAULT_UPS_SHIPPER},
        },
    )
    grace = raw["delays"]["grace_days"]
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        raise ValueError(f"{path}: delays.grace_days must be a whole number >= 0, got {grace!r}")
    shipper = raw["labels"]["ups_shipper"]
    if not isinstance(shipper, str) or len(shipper) != 6 or not shipper.isalnum():
        raise ValueError(f"{path}: labels.ups_shipper must be 6 letters or digits, got {shipper!r}")
    return ShippingSettings(grace_days=grace, ups_shipper=shipper.upper())


@dataclass
class ShippingResult:
    rated: int = 0
    labelled: int = 0
    unlabelled: int = 0
    missed_promise: int = 0
    labels_voided: int = 0
    label_files: int = 0
    label_pages: int = 0
    manifests: int = 0
    parcels_shipped: int = 0
    shipments_shipped: int = 0
    units_shipped: int = 0
    orders_shipped: int = 0
    orders_partially_shipped: int = 0
    tracking_files: list[FileOutcome] = field(default_factory=list)
    events_read: int = 0
    events_new: int = 0
    events_duplicate: int = 0
    events_quarantined: int = 0
    parcels_updated: int = 0
    shipments_delivered: int = 0
    orders_delivered: int = 0
    shipments_delayed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _values(mapping: dict[str, str] | dict[str, int]) -> str:
    """``(VALUES ('key', value), ...)``: a small constant lookup for SQL."""
    rows = ", ".join(
        f"('{key}', {value})" if isinstance(value, int) else f"('{key}', '{value}')"
        for key, value in mapping.items()
    )
    return f"(VALUES {rows})"


# --- 1. labels -------------------------------------------------------------------------------


def _void_labels(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    voiding = "status = 'cancelled' AND tracking_number IS NOT NULL AND voided_at IS NULL"
    voided = scalar(con, f"SELECT count(*) FROM {PARCELS.qualified} WHERE {voiding}")
    if voided:
        con.execute(f"UPDATE {PARCELS.qualified} SET voided_at = ? WHERE {voiding}", [now])
    return voided


def _unlabelled(con: duckdb.DuckDBPyConnection, reference_dir: Path) -> pl.DataFrame:
    statuses = ", ".join(f"'{s}'" for s in NOT_SHIPPED)
    parcels = frame(
        con,
        f"""
        SELECT p.parcel_id, p.shipment_id, s.warehouse_id, p.weight_g, p.length_mm,
               p.width_mm, p.height_mm, o.ship_country, o.ship_region, o.ship_postal_code,
               o.service_level, o.ship_by, w.wave_date AS ship_date
        FROM {PARCELS.qualified} p
        JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        JOIN {ORDERS.qualified} o USING (order_key)
        JOIN {WAVES.qualified} w ON w.wave_id = s.wave_id
        WHERE p.status IN ({statuses}) AND p.tracking_number IS NULL
        ORDER BY p.parcel_id
        """,
    )
    if parcels.is_empty():
        return parcels
    points = ship_to_points(parcels, reference_dir).select("ship_lat", "ship_lon")
    return pl.concat([parcels, points], how="horizontal")


def _rate(parcels: pl.DataFrame, reference_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Choices and candidates for every parcel, each rated for the date it leaves."""
    choices, candidates = [], []
    for (ship_date,), group in parcels.group_by("ship_date", maintain_order=True):
        shop = rate_parcels(group, reference_dir, ship_date=ship_date)
        choices.append(shop.choices.with_columns(pl.lit(ship_date).alias("ship_date")))
        candidates.append(shop.candidates)
    return pl.concat(choices), pl.concat(candidates)


def _tracking_numbers(
    con: duckdb.DuckDBPyConnection,
    chosen: pl.DataFrame,
    reference_dir: Path,
    settings: ShippingSettings,
) -> pl.DataFrame:
    """``chosen`` (rated parcels with a carrier) with tracking_serial and tracking_number.

    Serials continue from the highest each carrier ever used, in parcel order."""
    if chosen.is_empty():
        return chosen.with_columns(
            tracking_serial=pl.lit(None, pl.Int64), tracking_number=pl.lit(None, pl.String)
        )
    used = frame(
        con,
        f"SELECT carrier, max(tracking_serial) AS last_serial FROM {PARCELS.qualified} "
        "WHERE tracking_serial IS NOT NULL GROUP BY carrier",
    )
    scopes = read_reference(reference_dir, "carriers").select("carrier", "service", "scope")
    numbered = (
        chosen.sort("parcel_id")
        .join(used, on="carrier", how="left")
        .join(scopes, on=["carrier", "service"], how="left")
        .with_columns(
            (
                pl.col("last_serial").fill_null(0)
                + pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("carrier")
            ).alias("tracking_serial")
        )
    )
    parts = []
    for (carrier, code, scope), group in numbered.group_by(
        "carrier", "service_code", "scope", maintain_order=True
    ):
        try:
            numbers = make_tracking_numbers(
                carrier,
                code,
                group["tracking_serial"].to_list(),
                shipper=settings.ups_shipper,
                international=scope == "international",
            )
        except ValueError as exc:
            raise ValueError(f"cannot number {carrier} {code} labels: {exc}") from None
        parts.append(group.with_columns(pl.Series("tracking_number", numbers, pl.String)))
    return pl.concat(parts).drop("last_serial", "scope")


def _label_parcels(
    con: duckdb.DuckDBPyConnection,
    reference_dir: Path,
    settings: ShippingSettings,
    run_id: str,
    now: datetime,
    result: ShippingResult,
) -> None:
    parcels = _unlabelled(con, reference_dir)
    if parcels.is_empty():
        return
    choices, candidates = _rate(parcels, reference_dir)
    result.rated = choices.height
    chosen = choices.filter(pl.col("carrier").is_not_null())
    result.unlabelled = choices.height - chosen.height
    result.missed_promise = chosen.filter(~pl.col("meets_sla")).height
    numbered = _tracking_numbers(con, chosen, reference_dir, settings)
    rated = (
        choices.join(
            numbered.select("parcel_id", "tracking_serial", "tracking_number"),
            on="parcel_id",
            how="left",
        )
        .with_columns(
            pl.col("ship_date")
            .dt.add_business_days(pl.col("promised_days"), roll="forward")
            .alias("promised_delivery_date"),
            pl.lit(now).alias("rated_at"),
            pl.when(pl.col("tracking_number").is_not_null()).then(pl.lit(now)).alias("labelled_at"),
        )
        .rename({"price": "rate", "reason": "rating_reason", "warning": "rating_warning"})
    )
    columns = [
        "carrier",
        "service",
        "service_code",
        "zone",
        "billable_weight_g",
        "rate",
        "transit_days",
        "promised_days",
        "meets_sla",
        "rating_reason",
        "rating_warning",
        "rated_at",
        "ship_date",
        "promised_delivery_date",
        "tracking_serial",
        "tracking_number",
        "labelled_at",
    ]
    con.register("rated", PARCELS.conform(rated, ("parcel_id", *columns)).to_arrow())
    assignments = ", ".join(f'"{c}" = r."{c}"' for c in columns)
    con.execute(
        f"UPDATE {PARCELS.qualified} AS p SET {assignments} FROM rated r "
        "WHERE p.parcel_id = r.parcel_id"
    )
    con.execute(
        f"DELETE FROM {RATE_QUOTES.qualified} WHERE parcel_id IN (SELECT parcel_id FROM rated)"
    )
    quotes = candidates.with_columns(rated_at=pl.lit(now), run_id=pl.lit(run_id))
    con.register("quotes", RATE_QUOTES.conform(quotes).to_arrow())
    con.execute(f"INSERT INTO {RATE_QUOTES.qualified} BY NAME SELECT * FROM quotes")
    con.execute(
        f"""
        UPDATE {SHIPMENTS.qualified} AS s SET promised_delivery_date = x.promised
        FROM (SELECT shipment_id, max(promised_delivery_date) AS promised
              FROM {PARCELS.qualified}
              WHERE shipment_id IN (SELECT p.shipment_id FROM {PARCELS.qualified} p
                                    JOIN rated USING (parcel_id))
                AND status <> 'cancelled'
              GROUP BY shipment_id) x
        WHERE s.shipment_id = x.shipment_id
        """
    )
    con.unregister("rated")
    con.unregister("quotes")
    result.labelled = chosen.height


def _label_rows(con: duckdb.DuckDBPyConnection, where: str, params: list) -> pl.DataFrame:
    """Parcels with what their labels print, in file order; ``where`` is fixed SQL, its
    values ``?`` bound from ``params``."""
    return frame(
        con,
        f"""
        SELECT p.parcel_id, p.parcel_no, s.parcels AS of_parcels, p.tracking_number,
               p.carrier, p.service, p.weight_g, p.ship_date, s.shipment_id, s.wave_id,
               s.warehouse_id, w.wave_date, coalesce(o.order_number, o.order_key) AS order_number,
               o.ship_name, o.ship_company, o.ship_address1, o.ship_address2, o.ship_city,
               o.ship_region, o.ship_postal_code, o.ship_country
        FROM {PARCELS.qualified} p
        JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        JOIN {WAVES.qualified} w ON w.wave_id = s.wave_id
        JOIN {ORDERS.qualified} o ON o.order_key = s.order_key
        WHERE {where}
        ORDER BY s.wave_id, s.shipment_id, p.parcel_no
        """,
        params,
    )


def _write_label_files(pdf: Path, group: pl.DataFrame, warehouses: dict) -> int:
    """One label file pair: ``pdf`` and the ZPL beside it (``.zpl``); returns the pages."""
    first = group.row(0, named=True)
    ship_from = address(warehouses.get(first["warehouse_id"], {}), "")
    dicts = [
        {
            "tracking_number": row["tracking_number"],
            "carrier": row["carrier"],
            "service": row["service"],
            "weight_g": row["weight_g"],
            "parcel": f"{row['parcel_no']} of {row['of_parcels']}",
            "ship_from": ship_from,
            "ship_to": address(row, "ship_"),
            "order_number": row["order_number"],
            "shipment_id": row["shipment_id"],
            "ship_date": row["ship_date"].isoformat(),
        }
        for row in group.iter_rows(named=True)
    ]
    zpl = render_labels_zpl(dicts)
    write_atomically(
        pdf.with_suffix(".zpl"), lambda tmp, zpl=zpl: Path(tmp).write_text(zpl, "utf-8")
    )
    return render_labels_pdf(pdf, dicts)


def _warehouses(reference_dir: Path) -> dict[str, dict]:
    return {w["warehouse_id"]: w for w in read_reference(reference_dir, "warehouses").to_dicts()}


def write_labels(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, outbox: Path, now: datetime
) -> tuple[int, int]:
    """Each wave's labels not written yet: one PDF and one ZPL file beside its pick list.

    Returns (files, pages). A wave's later labels (a parcel that could not be rated before)
    go into a file stamped with the time, never over the first one."""
    labels = _label_rows(
        con,
        "p.tracking_number IS NOT NULL AND p.label_path IS NULL AND p.status <> 'cancelled'",
        [],
    )
    if labels.is_empty():
        return 0, 0
    warehouses = _warehouses(reference_dir)
    printed = {
        row[0]
        for row in con.execute(
            f"SELECT DISTINCT label_path FROM {PARCELS.qualified} WHERE label_path IS NOT NULL"
        ).fetchall()
    }
    files = pages = 0
    done: list[pl.DataFrame] = []
    try:
        for (wave_id,), group in labels.group_by("wave_id", maintain_order=True):
            first = group.row(0, named=True)
            folder = outbox / first["warehouse_id"] / first["wave_date"].isoformat()
            pdf = folder / f"{wave_id}_labels.pdf"
            # A file no parcel points at is what a crash left before marking: written again.
            if str(pdf) in printed:
                pdf = folder / f"{wave_id}_labels_{now.strftime('%Y%m%dT%H%M%S')}.pdf"
            pages += _write_label_files(pdf, group, warehouses)
            files += 1
            done.append(group.select("parcel_id", label_path=pl.lit(str(pdf))))
            if len(done) >= MARK_EVERY:
                _mark_labelled(con, done)
    except BaseException:
        with contextlib.suppress(Exception):  # what was written is marked; the error goes on
            _mark_labelled(con, done)
        raise
    _mark_labelled(con, done)
    return files, pages


#: Waves whose parcels are marked labelled in one transaction (a commit per wave took about
#: 25 ms on a million-line warehouse); a crash writes at most this many waves' files again.
MARK_EVERY = 500


def _mark_labelled(con: duckdb.DuckDBPyConnection, done: list[pl.DataFrame]) -> None:
    """Point the parcels of ``done`` (parcel_id, label_path) at their label files."""
    if not done:
        return
    con.register("written", pl.concat(done).to_arrow())
    try:
        with transaction(con):
            con.execute(
                f"UPDATE {PARCELS.qualified} p SET label_path = w.label_path "
                "FROM written w WHERE p.parcel_id = w.parcel_id"
            )
    finally:
        con.unregister("written")
    done.clear()


def render_label_file(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, label_path: str, to: Path
) -> int:
    """The label file ``label_path`` drawn again from the warehouse as it is now, to ``to``
    (PDF) and ``to`` with ``.zpl``: every parcel that file holds (one voided since
    included, as it was printed), in the order :func:`write_labels` wrote them. Returns the
    pages; 0 (nothing written) when no parcel points at ``label_path``."""
    group = _label_rows(con, "p.label_path = ?", [label_path])
    if group.is_empty():
        return 0
    return _write_label_files(Path(to), group, _warehouses(reference_dir))


# --- 2. manifests ----------------------------------------------------------------------------


def _leaving(con: duckdb.DuckDBPyConnection, now: datetime) -> pl.DataFrame:
    """Live parcels of shipments whose cutoff has passed and whose parcels are all labelled."""
    statuses = ", ".join(f"'{s}'" for s in NOT_SHIPPED)
    return frame(
        con,
        f"""
        WITH ready AS (
            SELECT s.shipment_id
            FROM {SHIPMENTS.qualified} s
            JOIN {WAVES.qualified} w ON w.wave_id = s.wave_id
            JOIN {PARCELS.qualified} p ON p.shipment_id = s.shipment_id
            WHERE s.status IN ({statuses}) AND w.cutoff_at <= $now
              AND p.status <> 'cancelled'
            GROUP BY s.shipment_id
            HAVING count(*) = count(p.tracking_number)
        )
        SELECT p.parcel_id, p.shipment_id, s.order_key, s.warehouse_id, w.wave_date,
               w.cutoff_at, p.carrier, p.service, p.tracking_number, p.weight_g,
               p.billable_weight_g, p.zone, p.rate
        FROM ready
        JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        JOIN {WAVES.qualified} w ON w.wave_id = s.wave_id
        JOIN {PARCELS.qualified} p ON p.shipment_id = s.shipment_id
        WHERE p.status <> 'cancelled'
        ORDER BY p.parcel_id
        """,
        {"now": now},
    )


def _close_manifests(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: ShippingResult
) -> None:
    leaving = _leaving(con, now)
    if leaving.is_empty():
        return
    keys = ["carrier", "warehouse_id", "wave_date", "cutoff_at"]
    existing = frame(
        con,
        f"SELECT carrier, warehouse_id, manifest_date AS wave_date, count(*) AS n "
        f"FROM {MANIFESTS.qualified} GROUP BY ALL",
    )
    manifests = (
        leaving.group_by(keys)
        .agg(
            pl.len().alias("parcels"),
            pl.col("weight_g").sum(),
            pl.col("billable_weight_g").sum(),
            pl.col("rate").sum().alias("total_cost"),
        )
        .sort(keys)
        .join(existing, on=["carrier", "warehouse_id", "wave_date"], how="left")
        .with_columns(
            seq=pl.col("n").fill_null(0)
            + pl.int_range(1, pl.len() + 1).over("carrier", "warehouse_id", "wave_date")
        )
        .with_columns(
            manifest_id=pl.format(
                "M-{}-{}-{}-{}",
                pl.col("carrier").str.to_uppercase(),
                pl.col("warehouse_id").str.replace("^WH-", ""),
                pl.col("wave_date").dt.strftime("%Y%m%d"),
                pl.col("seq").cast(pl.String).str.zfill(2),
            ),
            manifest_date=pl.col("wave_date"),
            closed_at=pl.lit(now),
            run_id=pl.lit(run_id),
        )
    )
    leaving = leaving.join(manifests.select(*keys, "manifest_id"), on=keys, how="left")
    con.register("new_manifests", MANIFESTS.conform(manifests).to_arrow())
    con.execute(f"INSERT INTO {MANIFESTS.qualified} BY NAME SELECT * FROM new_manifests")
    con.unregister("new_manifests")
    con.register("leaving", leaving.select("parcel_id", "shipment_id", "manifest_id", "cutoff_at"))
    con.execute(
        f"""
        UPDATE {PARCELS.qualified} AS p
        SET status = 'shipped', manifest_id = l.manifest_id, shipped_at = l.cutoff_at,
            status_at = l.cutoff_at
        FROM leaving l WHERE p.parcel_id = l.parcel_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE leaving_shipments AS
        SELECT DISTINCT shipment_id, cutoff_at FROM leaving
        """
    )
    con.unregister("leaving")
    not_shipped = ", ".join(f"'{s}'" for s in NOT_SHIPPED)
    con.execute(
        f"""
        UPDATE {SHIPMENTS.qualified} AS s
        SET status = 'shipped', shipped_at = l.cutoff_at, status_at = l.cutoff_at
        FROM leaving_shipments l WHERE s.shipment_id = l.shipment_id
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE shipped_tasks AS
        SELECT t.task_id, t.order_key, t.line_no, t.warehouse_id, t.sku, t.quantity,
               t.shipment_id, l.cutoff_at
        FROM {PICK_TASKS.qualified} t JOIN leaving_shipments l USING (shipment_id)
        WHERE t.status IN ({not_shipped})
        """
    )
    con.execute(
        f"""
        UPDATE {PICK_TASKS.qualified} SET status = 'shipped'
        WHERE task_id IN (SELECT task_id FROM shipped_tasks)
        """
    )
    con.execute(
        f"""
        UPDATE {ALLOCATIONS.qualified} SET status = 'shipped'
        WHERE status = 'released' AND allocation_id IN (SELECT task_id FROM shipped_tasks)
        """
    )
    con.execute(
        f"""
        INSERT INTO {INVENTORY_MOVEMENTS.qualified} BY NAME
        SELECT 'ship:' || task_id AS movement_id, cutoff_at AS "at", warehouse_id, sku,
               -quantity AS on_hand_delta, -quantity AS committed_delta, 'ship' AS reason,
               order_key || '#' || line_no AS reference, 'shipment ' || shipment_id AS note,
               $now AS recorded_at, $run_id AS run_id
        FROM shipped_tasks
        """,
        {"now": now, "run_id": run_id},
    )
    con.execute(
        f"""
        UPDATE {WAVES.qualified} AS w SET status = 'shipped', shipped_at = x.last_cutoff
        FROM (
            SELECT s.wave_id, max(s.shipped_at) AS last_cutoff
            FROM {SHIPMENTS.qualified} s
            WHERE s.wave_id IN (SELECT s2.wave_id FROM {SHIPMENTS.qualified} s2
                                JOIN leaving_shipments USING (shipment_id))
            GROUP BY s.wave_id
            HAVING count(*) FILTER (s.status IN ({not_shipped})) = 0
        ) x
        WHERE w.wave_id = x.wave_id AND w.status <> 'cancelled'
        """
    )
    _ship_orders(con, run_id, now, result)
    con.execute("DROP TABLE leaving_shipments")
    con.execute("DROP TABLE shipped_tasks")
    result.manifests = manifests.height
    result.parcels_shipped = leaving.height
    result.shipments_shipped = leaving["shipment_id"].n_unique()


def _ship_orders(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: ShippingResult
) -> None:
    """Orders of the shipments that left: shipped or partially_shipped, with an event."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE shipped_orders AS
        WITH touched AS (SELECT DISTINCT order_key FROM shipped_tasks),
        shippable AS (
            SELECT l.order_key, sum(l.quantity) AS units
            FROM {ORDER_LINES.qualified} l JOIN touched USING (order_key)
            WHERE l.requires_shipping AND l.quantity > 0 GROUP BY ALL
        ),
        gone AS (
            SELECT a.order_key, sum(a.quantity) AS units
            FROM {ALLOCATIONS.qualified} a JOIN touched USING (order_key)
            WHERE a.status = 'shipped' GROUP BY ALL
        ),
        now_leaving AS (
            SELECT t.order_key, sum(t.quantity) AS units, max(t.cutoff_at) AS "at"
            FROM shipped_tasks t GROUP BY ALL
        ),
        numbers AS (
            SELECT s.order_key,
                   string_agg(p.carrier || ' ' || p.tracking_number, ', '
                              ORDER BY p.parcel_id) AS tracking
            FROM {PARCELS.qualified} p
            JOIN {SHIPMENTS.qualified} s USING (shipment_id)
            JOIN leaving_shipments USING (shipment_id)
            WHERE p.status = 'shipped'
            GROUP BY ALL
        )
        SELECT t.order_key, o.status AS old_status,
               CASE WHEN coalesce(g.units, 0) >= coalesce(sh.units, 0)
                    THEN 'shipped' ELSE 'partially_shipped' END AS new_status,
               n.units, g.units AS shipped_units, sh.units AS shippable_units, n."at",
               coalesce(x.tracking, '') AS tracking
        FROM touched t
        JOIN {ORDERS.qualified} o USING (order_key)
        LEFT JOIN shippable sh USING (order_key)
        LEFT JOIN gone g USING (order_key)
        LEFT JOIN now_leaving n USING (order_key)
        LEFT JOIN numbers x USING (order_key)
        """
    )
    moving = (
        "old_status IN ('released', 'partially_shipped', 'allocated', 'partially_allocated', "
        "'backordered')"
    )
    counts = dict(
        con.execute(
            f"SELECT new_status, count(*) FROM shipped_orders WHERE {moving} GROUP BY ALL"
        ).fetchall()
    )
    result.orders_shipped = counts.get("shipped", 0)
    result.orders_partially_shipped = counts.get("partially_shipped", 0)
    result.units_shipped = scalar(con, "SELECT coalesce(sum(units), 0) FROM shipped_orders")
    con.execute(
        f"""
        UPDATE {ORDERS.qualified} AS o SET status = x.new_status
        FROM shipped_orders x
        WHERE o.order_key = x.order_key AND x.{moving} AND o.status <> x.new_status
        """
    )
    _insert_events(
        con,
        """
        SELECT md5(order_key || '|' || new_status || '|' || $run_id) AS event_id, order_key,
               new_status AS event, "at",
               units || ' unit(s) shipped'
               || CASE WHEN new_status = 'partially_shipped'
                       THEN ' (' || shipped_units || ' of ' || shippable_units || ' so far)'
                       ELSE '' END
               || ': ' || tracking AS detail,
               $run_id AS run_id
        FROM shipped_orders
        """,
        {"run_id": run_id},
    )
    con.execute("DROP TABLE shipped_orders")


def _settle_partial_orders(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: ShippingResult
) -> None:
    """Partially shipped orders with nothing left to ship (the rest was removed by the
    channel) become shipped."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE settled AS
        WITH shippable AS (
            SELECT l.order_key, sum(l.quantity) AS units
            FROM {ORDER_LINES.qualified} l JOIN {ORDERS.qualified} o USING (order_key)
            WHERE o.status = 'partially_shipped' AND l.requires_shipping AND l.quantity > 0
            GROUP BY ALL
        ),
        gone AS (
            SELECT a.order_key, sum(a.quantity) AS units
            FROM {ALLOCATIONS.qualified} a JOIN {ORDERS.qualified} o USING (order_key)
            WHERE o.status = 'partially_shipped' AND a.status = 'shipped' GROUP BY ALL
        )
        SELECT o.order_key, g.units
        FROM {ORDERS.qualified} o
        LEFT JOIN shippable s USING (order_key)
        JOIN gone g USING (order_key)
        WHERE o.status = 'partially_shipped' AND g.units >= coalesce(s.units, 0)
        """
    )
    settled = scalar(con, "SELECT count(*) FROM settled")
    if settled:
        con.execute(
            f"UPDATE {ORDERS.qualified} SET status = 'shipped' "
            "WHERE order_key IN (SELECT order_key FROM settled)"
        )
        _insert_events(
            con,
            """
            SELECT md5(order_key || '|shipped|settled|' || $run_id) AS event_id, order_key,
                   'shipped' AS event, $now AS "at",
                   units || ' unit(s) shipped: nothing else is left to ship (the rest was '
                   || 'removed from the order)' AS detail, $run_id AS run_id
            FROM settled
            """,
            {"run_id": run_id, "now": now},
        )
    result.orders_shipped += settled
    con.execute("DROP TABLE settled")


def _insert_events(con: duckdb.DuckDBPyConnection, select_sql: str, params: dict) -> int:
    """Insert the events ``select_sql`` gives whose event_id is not stored yet."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_events AS {select_sql}", params)
    con.execute(
        f"DELETE FROM new_events WHERE event_id IN (SELECT event_id FROM {ORDER_EVENTS.qualified})"
    )
    n = scalar(con, "SELECT count(*) FROM new_events")
    con.execute(f"INSERT INTO {ORDER_EVENTS.qualified} BY NAME SELECT * FROM new_events")
    con.execute("DROP TABLE new_events")
    return n


def _manifest_rows(con: duckdb.DuckDBPyConnection, manifest_id: str) -> pl.DataFrame:
    """The parcels of one manifest as its CSV lists them."""
    return frame(
        con,
        f"""
        SELECT row_number() OVER (ORDER BY p.service, p.tracking_number) AS seq,
               p.manifest_id, p.carrier, p.service, p.service_code, p.tracking_number,
               p.parcel_id, p.shipment_id, coalesce(o.order_number, o.order_key)
                   AS order_number,
               o.ship_name, o.ship_city, o.ship_region, o.ship_postal_code,
               o.ship_country, p.weight_g, p.billable_weight_g, p.zone, p.rate
        FROM {PARCELS.qualified} p
        JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        JOIN {ORDERS.qualified} o ON o.order_key = s.order_key
        WHERE p.manifest_id = ?
        ORDER BY seq
        """,
        [manifest_id],
    )


def _write_manifest_files(
    con: duckdb.DuckDBPyConnection, m: dict, house: dict, csv_path: Path, pdf_path: Path
) -> None:
    """The CSV and PDF of manifest ``m`` (its oms.manifests row), from its parcels now."""
    rows = _manifest_rows(con, m["manifest_id"])
    # Ship names, cities and order numbers come from outside: quoted when formula-like
    # (before the rate becomes text, so the amount itself is never touched).
    write_atomically(
        csv_path,
        lambda tmp, rows=rows: (
            spreadsheet_safe_frame(rows)
            .with_columns(pl.col("rate").cast(pl.String))
            .write_csv(tmp, line_terminator="\n")
        ),
    )
    services = (
        rows.group_by("service", maintain_order=True)
        .agg(pl.len().alias("parcels"), pl.col("weight_g").sum(), pl.col("rate").sum())
        .sort("service")
    )
    header = {
        "manifest_id": m["manifest_id"],
        "carrier": m["carrier"],
        "warehouse_id": m["warehouse_id"],
        "warehouse_name": house.get("name", m["warehouse_id"]),
        "ship_from": address(house, ""),
        "manifest_date": m["manifest_date"].isoformat(),
        "cutoff": local_label(m["cutoff_at"], house.get("time_zone")),
        "closed_at": m["closed_at"].strftime("%Y-%m-%d %H:%M UTC"),
        "parcels": m["parcels"],
        "weight_g": m["weight_g"],
        "billable_weight_g": m["billable_weight_g"],
        "total_cost": f"{m['total_cost']:.2f}",
        "currency": "USD",
        "services": [
            {
                "service": s["service"],
                "parcels": s["parcels"],
                "weight_g": s["weight_g"],
                "cost": f"{s['rate']:.2f}",
            }
            for s in services.iter_rows(named=True)
        ],
    }
    lines = [
        {
            "seq": r["seq"],
            "tracking_number": r["tracking_number"],
            "service": r["service"],
            "order_number": r["order_number"],
            "shipment_id": r["shipment_id"],
            "parcel_id": r["parcel_id"],
            "ship_to": ", ".join(
                str(v)
                for v in (
                    r["ship_name"],
                    r["ship_city"],
                    " ".join(str(x) for x in (r["ship_region"], r["ship_postal_code"]) if x),
                    r["ship_country"],
                )
                if v
            ),
            "weight_g": r["weight_g"],
            "billable_weight_g": r["billable_weight_g"],
            "zone": r["zone"],
            "cost": f"{r['rate']:.2f}",
        }
        for r in rows.iter_rows(named=True)
    ]
    render_manifest(pdf_path, header, lines)


def write_manifests(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, outbox: Path, now: datetime
) -> int:
    """CSV and PDF of every closed manifest whose files are not written yet."""
    manifests = frame(
        con,
        f"SELECT * FROM {MANIFESTS.qualified} WHERE files_written_at IS NULL ORDER BY manifest_id",
    )
    if manifests.is_empty():
        return 0
    warehouses = _warehouses(reference_dir)
    written = 0
    for m in manifests.iter_rows(named=True):
        house = warehouses.get(m["warehouse_id"], {})
        folder = outbox / m["warehouse_id"] / m["manifest_date"].isoformat()
        csv_path = folder / f"{m['manifest_id']}.csv"
        pdf_path = folder / f"{m['manifest_id']}.pdf"
        _write_manifest_files(con, m, house, csv_path, pdf_path)
        with transaction(con):
            con.execute(
                f"UPDATE {MANIFESTS.qualified} SET csv_path = ?, pdf_path = ?, "
                "files_written_at = ? WHERE manifest_id = ?",
                [str(csv_path), str(pdf_path), now, m["manifest_id"]],
            )
        written += 1
    return written


def render_manifest_files(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    manifest_id: str,
    csv_to: Path,
    pdf_to: Path,
) -> bool:
    """Manifest ``manifest_id`` drawn again from the warehouse as it is now, its CSV to
    ``csv_to`` and its PDF to ``pdf_to``; False (nothing written) for an unknown manifest."""
    found = frame(con, f"SELECT * FROM {MANIFESTS.qualified} WHERE manifest_id = ?", [manifest_id])
    if found.is_empty():
        return False
    m = found.row(0, named=True)
    house = _warehouses(reference_dir).get(m["warehouse_id"], {})
    _write_manifest_files(con, m, house, Path(csv_to), Path(pdf_to))
    return True


# --- 3. tracking events ----------------------------------------------------------------------


def tracking_files(inbox: Path) -> list[Path]:
    """Carrier tracking files waiting in the inbox, oldest first."""
    return [path for path in inbox_files(inbox) if file_layout(path) == TRACKING_LAYOUT]


def _store_events(
    con: duckdb.DuckDBPyConnection,
    events: pl.DataFrame,
    source_file: str,
    run_id: str,
    now: datetime,
    result: ShippingResult,
) -> None:
    con.register("read_events", events.with_columns(pl.lit(source_file).alias("source_file")))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE incoming AS
        SELECT e.*, p.parcel_id
        FROM read_events e
        LEFT JOIN {PARCELS.qualified} p ON p.tracking_number = e.tracking_number
        WHERE e.event_key NOT IN (SELECT event_key FROM {TRACKING_EVENTS.qualified})
          AND e.event_key NOT IN (SELECT event_key FROM {TRACKING_QUARANTINE.qualified})
        """
    )
    con.unregister("read_events")
    new = scalar(con, "SELECT count(*) FROM incoming WHERE parcel_id IS NOT NULL")
    quarantined = scalar(con, "SELECT count(*) FROM incoming WHERE parcel_id IS NULL")
    stamp = {"run_id": run_id, "now": now}
    con.execute(
        f"""
        INSERT INTO {TRACKING_EVENTS.qualified} BY NAME
        SELECT event_key, tracking_number, parcel_id, carrier, status, raw_status,
               status_detail, occurred_at, location, message, $now AS recorded_at,
               source_file, source_row, $run_id AS run_id
        FROM incoming WHERE parcel_id IS NOT NULL
        """,
        stamp,
    )
    con.execute(
        f"""
        INSERT INTO {TRACKING_QUARANTINE.qualified} BY NAME
        SELECT event_key, tracking_number, carrier, status, raw_status, occurred_at, message,
               'unknown tracking number: no label of ours carries it' AS reason,
               $now AS quarantined_at, source_file, source_row, $run_id AS run_id
        FROM incoming WHERE parcel_id IS NULL
        """,
        stamp,
    )
    con.execute("DROP TABLE incoming")
    result.events_read += events.height
    result.events_new += new
    result.events_quarantined += quarantined
    result.events_duplicate += events.height - new - quarantined


def ingest_tracking_files(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    *,
    archive_dir: Path,
    rejected_dir: Path,
    run_id: str,
    now: datetime,
    result: ShippingResult,
) -> None:
    """Store every tracking file in the inbox, each in its own transaction, then move it."""

    def store(outcome: FileOutcome, path: Path) -> int:
        events = read_tracking_file(path)
        _store_events(con, events, path.name, run_id, now, result)
        return events.height

    for path in tracking_files(inbox):
        with path.open("rb") as fh:
            fmt = sniff(fh.read(SNIFF_BYTES)) or TRACKING_LAYOUT
        outcome = take_stage_file(
            con,
            path,
            fmt=fmt,
            apply=lambda outcome, path=path: store(outcome, path),
            unreadable=(UnreadableTrackingFile,),
            archive_dir=archive_dir,
            rejected_dir=rejected_dir,
            run_id=run_id,
            now=now,
        )
        result.tracking_files.append(outcome)


def _apply_events(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: ShippingResult
) -> None:
    """Parcels with new events, or shipped this run, take their latest event's status."""
    progress = _values(EVENT_PROGRESS)
    status_of = _values(STATUS_OF_EVENT)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE latest AS
        WITH touched AS (
            SELECT DISTINCT parcel_id FROM {TRACKING_EVENTS.qualified} WHERE run_id = $run_id
            UNION
            SELECT parcel_id FROM {PARCELS.qualified}
            WHERE manifest_id IN (SELECT manifest_id FROM {MANIFESTS.qualified}
                                  WHERE run_id = $run_id)
        ),
        ranked AS (
            SELECT e.parcel_id, e.status AS event_status, e.occurred_at, e.message,
                   e.location, m.status AS parcel_status,
                   row_number() OVER (
                       PARTITION BY e.parcel_id
                       ORDER BY e.occurred_at DESC, g.progress DESC, e.event_key DESC) AS n
            FROM {TRACKING_EVENTS.qualified} e
            JOIN touched USING (parcel_id)
            JOIN {status_of} m(event_status, status) ON m.event_status = e.status
            JOIN {progress} g(event_status, progress) ON g.event_status = e.status
        )
        SELECT r.parcel_id, r.parcel_status AS status, r.occurred_at AS status_at,
               concat_ws(', ', r.message, r.location) AS status_detail,
               CASE WHEN r.parcel_status = 'delivered' THEN r.occurred_at END AS delivered_at
        FROM ranked r
        JOIN {PARCELS.qualified} p USING (parcel_id)
        WHERE r.n = 1 AND p.manifest_id IS NOT NULL AND p.status <> 'cancelled'
          AND (p.status IS DISTINCT FROM r.parcel_status
               OR p.status_at IS DISTINCT FROM r.occurred_at)
        """,
        {"run_id": run_id},
    )
    result.parcels_updated = scalar(con, "SELECT count(*) FROM latest")
    if not result.parcels_updated:
        con.execute("DROP TABLE latest")
        return
    con.execute(
        f"""
        UPDATE {PARCELS.qualified} AS p
        SET status = l.status, status_at = l.status_at, status_detail = l.status_detail,
            delivered_at = l.delivered_at
        FROM latest l WHERE p.parcel_id = l.parcel_id
        """
    )
    moving = ", ".join(f"('{s}', {i})" for i, s in enumerate(_MOVING))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE shipment_moves AS
        WITH parcels AS (
            SELECT p.*, mv.rank AS moving_rank
            FROM {PARCELS.qualified} p
            LEFT JOIN (VALUES {moving}) mv(status, rank) USING (status)
            WHERE p.status <> 'cancelled' AND p.shipment_id IN (
                SELECT p2.shipment_id FROM {PARCELS.qualified} p2 JOIN latest USING (parcel_id))
        ),
        derived AS (
            SELECT shipment_id,
                   CASE WHEN bool_and(status = 'delivered') THEN 'delivered'
                        WHEN bool_or(status = 'returned_to_sender') THEN 'returned_to_sender'
                        WHEN bool_or(status = 'delivery_failed') THEN 'delivery_failed'
                        WHEN bool_or(status = 'exception') THEN 'exception'
                        ELSE arg_min(status, moving_rank) END AS status,
                   max(status_at) AS status_at,
                   CASE WHEN bool_and(status = 'delivered') THEN max(delivered_at) END
                       AS delivered_at,
                   arg_max(status_detail, status_at) AS detail
            FROM parcels GROUP BY shipment_id
        )
        SELECT d.*, s.order_key, s.status AS old_status
        FROM derived d JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        WHERE s.status IS DISTINCT FROM d.status OR s.status_at IS DISTINCT FROM d.status_at
        """
    )
    con.execute(
        f"""
        UPDATE {SHIPMENTS.qualified} AS s
        SET status = m.status, status_at = m.status_at, delivered_at = m.delivered_at
        FROM shipment_moves m WHERE s.shipment_id = m.shipment_id
        """
    )
    result.shipments_delivered = scalar(
        con,
        "SELECT count(*) FROM shipment_moves "
        "WHERE status = 'delivered' AND old_status <> 'delivered'",
    )
    events = _values(SHIPMENT_EVENTS)
    _insert_events(
        con,
        f"""
        SELECT md5(m.shipment_id || '|' || m.status || '|' || m.status_at::VARCHAR)
                   AS event_id,
               m.order_key, e.event, m.status_at AS "at",
               'shipment ' || m.shipment_id || ': ' || coalesce(m.detail, m.status) AS detail,
               $run_id AS run_id
        FROM shipment_moves m JOIN {events} e(status, event) USING (status)
        WHERE m.status IS DISTINCT FROM m.old_status
        """,
        {"run_id": run_id},
    )
    # Orders whose every live shipment is delivered (and nothing is left to ship).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE delivered_orders AS
        SELECT s.order_key, max(s.delivered_at) AS "at", count(*) AS shipments
        FROM {SHIPMENTS.qualified} s
        JOIN {ORDERS.qualified} o USING (order_key)
        WHERE o.status = 'shipped' AND s.status <> 'cancelled'
          AND s.order_key IN (SELECT order_key FROM shipment_moves)
        GROUP BY s.order_key
        HAVING bool_and(s.status = 'delivered')
        """
    )
    result.orders_delivered = scalar(con, "SELECT count(*) FROM delivered_orders")
    con.execute(
        f"""
        UPDATE {ORDERS.qualified} SET status = 'delivered'
        WHERE order_key IN (SELECT order_key FROM delivered_orders)
        """
    )
    _insert_events(
        con,
        """
        SELECT md5(order_key || '|delivered') AS event_id, order_key, 'delivered' AS event,
               "at", shipments || ' shipment(s) delivered' AS detail, $run_id AS run_id
        FROM delivered_orders
        """,
        {"run_id": run_id},
    )
    for name in ("delivered_orders", "shipment_moves", "latest"):
        con.execute(f"DROP TABLE {name}")


# --- 4. delays -------------------------------------------------------------------------------


def _flag_delays(
    con: duckdb.DuckDBPyConnection,
    settings: ShippingSettings,
    run_id: str,
    now: datetime,
    result: ShippingResult,
) -> None:
    """Flag shipments late against promised_delivery_date + grace days; clear a flag a late
    delivery event proved wrong (delivered in time after all)."""
    today: date = now.date()
    shipped = ", ".join(f"'{s}'" for s in ("shipped", *STATUS_OF_EVENT.values()))
    late = f"""
        s.promised_delivery_date IS NOT NULL AND s.status IN ({shipped})
        AND CASE WHEN s.delivered_at IS NULL
                 THEN $today > s.promised_delivery_date + $grace
                 ELSE s.delivered_at::DATE > s.promised_delivery_date + $grace END
    """
    params = {"today": today, "grace": settings.grace_days}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE late_now AS
        SELECT s.shipment_id, s.order_key, s.promised_delivery_date, s.delivered_at
        FROM {SHIPMENTS.qualified} s WHERE s.delayed_at IS NULL AND {late}
        """,
        params,
    )
    result.shipments_delayed = scalar(con, "SELECT count(*) FROM late_now")
    con.execute(
        f"""
        UPDATE {SHIPMENTS.qualified} SET delayed_at = $now
        WHERE shipment_id IN (SELECT shipment_id FROM late_now)
        """,
        {"now": now},
    )
    con.execute(
        f"""
        UPDATE {SHIPMENTS.qualified} AS s SET delayed_at = NULL
        WHERE s.delayed_at IS NOT NULL AND s.delivered_at IS NOT NULL AND NOT ({late})
        """,
        params,
    )
    _insert_events(
        con,
        f"""
        SELECT md5(shipment_id || '|delayed') AS event_id, order_key, 'delayed' AS event,
               $now AS "at",
               'shipment ' || shipment_id || ' promised by ' || promised_delivery_date
               || CASE WHEN delivered_at IS NULL THEN ' is not delivered yet'
                       ELSE ' was delivered ' || strftime(delivered_at, '%Y-%m-%d') END
               || ' ({settings.grace_days} grace day(s))' AS detail,
               $run_id AS run_id
        FROM late_now
        """,
        {"now": now, "run_id": run_id},
    )
    con.execute("DROP TABLE late_now")


# --- the stage -------------------------------------------------------------------------------


def run_shipping_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    inbox: Path,
    archive_dir: Path,
    rejected_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
) -> ShippingResult:
    """Labels, manifests, tracking events and delays (see the module docstring)."""
    settings = load_settings(reference_dir)
    result = ShippingResult()
    lap = Laps(result.seconds)

    with transaction(con):
        result.labels_voided = _void_labels(con, now)
        _label_parcels(con, reference_dir, settings, run_id, now, result)
    lap("rate")
    result.label_files, result.label_pages = write_labels(
        con, reference_dir=reference_dir, outbox=outbox, now=now
    )
    lap("labels")
    with transaction(con):
        _close_manifests(con, run_id, now, result)
        _settle_partial_orders(con, run_id, now, result)
        if result.manifests:  # shipped stock left on hand and committed: positions follow
            write_positions(con, derive_positions(con, stock_policy(reference_dir), now))
    write_manifests(con, reference_dir=reference_dir, outbox=outbox, now=now)
    lap("manifests")
    ingest_tracking_files(
        con,
        inbox,
        archive_dir=archive_dir,
        rejected_dir=rejected_dir,
        run_id=run_id,
        now=now,
        result=result,
    )
    lap("tracking_files")
    with transaction(con):
        _apply_events(con, run_id, now, result)
        _flag_delays(con, settings, run_id, now, result)
    lap("tracking")
    return result


__all__ = [
    "ShippingResult",
    "ShippingSettings",
    "load_settings",
    "render_label_file",
    "render_manifest_files",
    "run_shipping_stage",
    "tracking_files",
    "write_labels",
    "write_manifests",
]
