"""Customer return requests and warehouse inspection results, and the inbox files that carry them.

:func:`return_requests` turns shipped order lines (the columns of
:data:`pipelines.lib.returns.SHIPPED_LINES_SQL`) into return requests:

- about ``rate`` of the distinct *delivered* orders are returned (lines not delivered yet never
  are); one request (``return_id`` ``R-`` + 7 digits, unique, increasing with the request
  time) per returned order, usually of one of its delivered lines, of two lines for
  :data:`TWO_LINE_SHARE` of the requests whose order has them;
- a returned quantity of 1 for :data:`SINGLE_UNIT_SHARE` of the lines, else 1..shipped;
- a reason per line drawn with :data:`REASON_SHARES`; the resolution is ``exchange`` for
  ``SIZE_EXCHANGE`` and for the others the request's choice: ``refund``
  (1 - :data:`STORE_CREDIT_SHARE`) or ``store_credit``. A size exchange names a sibling SKU
  (same product name before the last ``" / "``, another size) when a catalogue is given and
  one exists, else none (the same SKU);
- requested 1 hour .. ``window_days - 2`` days after the order's (latest) delivery, whole
  seconds UTC; :data:`LATE_SHARE` of the requests come ``window_days + 1..10`` days after it,
  beyond the return window on purpose. Only requests made by ``as_of`` are kept;
- the order named by its ``order_key``, or by its ``order_number`` (as customer service types
  it) for :data:`ORDER_NUMBER_SHARE` of the requests when the input carries order numbers;
- a short note per line (or none);
- about :data:`BAD_SHARE` of the requests (at least one once there are 50) are bad on purpose,
  for the quarantine and the rejections: half name an order that does not exist
  (``shopify:`` + 12 digits), half ask for more units than the line shipped. Nothing marks
  them.

:func:`inspection_results` turns authorized RMA lines into what the warehouse found: each line
arrives 2-10 days after its authorisation (whole seconds) and is inspected then, if that is by
``as_of``. Every unit gets a disposition drawn with :data:`DISPOSITION_SHARES` of its reason;
:data:`MISSING_SHARE` of the lines have one unit ``MISSING``. One row per line and disposition,
quantities adding up to the line's exactly.

The writers put them into the inbox layouts the returns stage reads: request CSV (and the JSON
variant, a request's rows grouped under its ``return_id``) and inspection CSV, with datetimes
as ``2026-11-20T14:03:00Z`` and blanks for nulls, written atomically. ``write_demo_*`` read
the warehouse (read-only) and write what the customers and the warehouse would have sent by
``as_of``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.files import write_atomically
from pipelines.lib.reference import read_reference
from pipelines.lib.returns import INSPECTION_COLUMNS, REQUEST_COLUMNS, SHIPPED_LINES_SQL
from pipelines.lib.schema import DISPOSITIONS, RETURN_REASONS, RETURN_RESOLUTIONS
from pipelines.lib.warehouse import connect, frame

#: Share of the return lines per reason (sums to 1).
REASON_SHARES: dict[str, float] = {
    "NOT_WANTED": 0.35,
    "SIZE_EXCHANGE": 0.20,
    "DEFECTIVE": 0.15,
    "OTHER": 0.15,
    "DAMAGED_IN_TRANSIT": 0.08,
    "WRONG_ITEM": 0.07,
}
#: Of the requests whose order has two or more delivered lines, the share returning two.
TWO_LINE_SHARE = 0.2
#: Share of the lines returning a single unit (the rest: 1..shipped, uniform).
SINGLE_UNIT_SHARE = 0.8
#: Share of the non-exchange requests settled with store credit (the rest: refund).
STORE_CREDIT_SHARE = 0.15
#: Share of the requests made after the return window on purpose.
LATE_SHARE = 0.03
#: Share of the requests naming the order by its number (when the input has numbers).
ORDER_NUMBER_SHARE = 0.10
#: Share of the requests that are bad on purpose (unknown order or too many units).
BAD_SHARE = 0.005
#: Share of the lines with a note.
NOTE_SHARE = 0.5

#: Share of the units per disposition, by reason (each sums to 1).
_RESELLABLE = {"RESTOCK": 0.90, "REFURBISH": 0.07, "DAMAGED": 0.03}
DISPOSITION_SHARES: dict[str, dict[str, float]] = {
    "NOT_WANTED": _RESELLABLE,
    "SIZE_EXCHANGE": _RESELLABLE,
    "OTHER": _RESELLABLE,
    "WRONG_ITEM": _RESELLABLE,
    "DEFECTIVE": {"REFURBISH": 0.60, "SCRAP": 0.40},
    "DAMAGED_IN_TRANSIT": {"DAMAGED": 0.70, "SCRAP": 0.30},
}
#: Share of the inspected lines with one unit that never arrived.
MISSING_SHARE = 0.02
#: Days between the authorisation and the parcel's arrival (and inspection).
ARRIVAL_DAYS = (2, 10)
INSPECTORS = ("A. Moreno", "J. Okafor", "L. Chen", "M. Novak", "S. Patel")
#: Share of the inspection rows with a note (MISSING rows always have one).
INSPECTION_NOTE_SHARE = 0.1

ISO = "%Y-%m-%dT%H:%M:%SZ"

_NOTES: dict[str, tuple[str, ...]] = {
    "NOT_WANTED": ("Changed my mind", "No longer needed", "Bought twice by mistake"),
    "SIZE_EXCHANGE": ("Too small", "Too big", "Runs small, need one size up"),
    "DEFECTIVE": ("Stopped working after two days", "Zip is broken", "Does not charge"),
    "OTHER": ("Gift, recipient already has one", "Not as described", "Colour looks different"),
    "DAMAGED_IN_TRANSIT": ("Box arrived crushed", "Arrived broken", "Packaging torn, item dented"),
    "WRONG_ITEM": ("Received a different item", "Wrong colour sent", "Not what I ordered"),
}
_INSPECTION_NOTES: dict[str, tuple[str, ...]] = {
    "RESTOCK": ("Unopened", "Like new, repacked"),
    "REFURBISH": ("Needs cleaning", "Missing tag", "Needs testing"),
    "DAMAGED": ("Scuffed", "Packaging damaged", "Dented"),
    "SCRAP": ("Beyond repair", "Broken, not repairable"),
    "MISSING": ("Not in the parcel",),
}

_DAY = 86_400
_US = 1_000_000


def _utc(col: str, schema: pl.Schema) -> pl.Expr:
    """``col`` as Datetime(us, UTC); naive times are taken as UTC."""
    at = pl.col(col).dt.cast_time_unit("us")
    if getattr(schema[col], "time_zone", None):
        return at.dt.convert_time_zone("UTC")
    return at.dt.replace_time_zone("UTC")


def _epoch_us(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * _DAY + delta.seconds) * _US + delta.microseconds


def _siblings(catalogue: pl.DataFrame | None) -> dict[str, list[str]]:
    """SKU → the other SKUs whose name shares the text before the last ``" / "``."""
    if catalogue is None or catalogue.height == 0:
        return {}
    by_stem: dict[str, list[str]] = {}
    for sku, name in catalogue.select("sku", "name").sort("sku").iter_rows():
        if name and " / " in name:
            by_stem.setdefault(name.rpartition(" / ")[0], []).append(sku)
    return {
        sku: [s for s in skus if s != sku]
        for skus in by_stem.values()
        if len(skus) > 1
        for sku in skus
    }


def _empty_requests() -> pl.DataFrame:
    schema = {c: pl.String() for c in REQUEST_COLUMNS}
    schema["quantity"] = pl.Int64()
    schema["requested_at"] = pl.Datetime("us", "UTC")
    return pl.DataFrame(schema=schema)


def return_requests(
    shipped: pl.DataFrame,
    *,
    seed: int,
    as_of: datetime,
    rate: float = 0.08,
    window_days: int = 30,
    catalogue: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Return requests for the delivered lines of ``shipped`` made by ``as_of`` (see the
    module doc).

    ``shipped``: order_key, line_no, sku, shipped_quantity, warehouse_id, shipped_at,
    delivered_at (null: not delivered yet), optionally order_number. ``catalogue``: sku, name
    (``products.csv``), for the exchange SKUs.

    Returns :data:`REQUEST_COLUMNS` (quantity Int64, requested_at Datetime(us, UTC), whole
    seconds; one of order_key / order_number null; channel null), sorted by requested_at,
    return_id, line. Deterministic for ``seed`` and the input's rows (in any order).
    """
    rng = np.random.default_rng(seed)
    has_number = "order_number" in shipped.columns
    lines = (
        shipped.filter(pl.col("delivered_at").is_not_null())
        .select(
            "order_key",
            pl.col("line_no").cast(pl.Int64),
            pl.col("sku").cast(pl.String),
            pl.col("shipped_quantity").cast(pl.Int64),
            delivered_s=_utc("delivered_at", shipped.schema).dt.epoch("us") // _US,
            order_number=(
                pl.col("order_number").cast(pl.String)
                if has_number
                else pl.lit(None, dtype=pl.String)
            ),
        )
        .filter(pl.col("shipped_quantity") >= 1)
        .sort("order_key", "line_no")
    )
    if lines.height == 0:
        return _empty_requests()
    window_days = max(int(window_days), 3)

    orders = lines.select(
        order=pl.col("order_key").rank("dense").cast(pl.Int64) - 1,
        lines_in_order=pl.len().over("order_key").cast(pl.Int64),
    )
    order_of = orders["order"].to_numpy()
    n_orders = int(order_of.max()) + 1
    m = lines.height

    # Per order (the request).
    chosen = rng.random(n_orders) < rate
    two = rng.random(n_orders) < TWO_LINE_SHARE
    late = rng.random(n_orders) < LATE_SHARE
    on_time_s = rng.integers(3600, (window_days - 2) * _DAY + 1, n_orders)
    late_s = rng.integers((window_days + 1) * _DAY, (window_days + 10) * _DAY + 1, n_orders)
    by_number = rng.random(n_orders) < ORDER_NUMBER_SHARE
    store_credit = rng.random(n_orders) < STORE_CREDIT_SHARE
    bad = rng.random(n_orders) < BAD_SHARE
    bad_unknown = rng.random(n_orders) < 0.5
    unknown_serial = rng.integers(10**11, 10**12, n_orders)
    # Per line.
    priority = rng.random(m)
    shares = np.array(list(REASON_SHARES.values()))
    reason_idx = rng.choice(len(REASON_SHARES), size=m, p=shares / shares.sum())
    single = rng.random(m) < SINGLE_UNIT_SHARE
    sq = lines["shipped_quantity"].to_numpy()
    any_qty = rng.integers(1, sq + 1)
    with_note = rng.random(m) < NOTE_SHARE
    note_pick = rng.integers(0, 1 << 30, m)
    sibling_pick = rng.integers(0, 1 << 30, m)
    extra = rng.integers(1, 3, m)

    reasons = np.array(list(REASON_SHARES), dtype=object)[reason_idx]
    sibling_of = _siblings(catalogue)
    skus = lines["sku"].to_list()
    exchange_sku: list[str | None] = [None] * m
    notes: list[str | None] = [None] * m
    for i in range(m):
        if reasons[i] == "SIZE_EXCHANGE" and skus[i] in sibling_of:
            options = sibling_of[skus[i]]
            exchange_sku[i] = options[sibling_pick[i] % len(options)]
        if with_note[i]:
            texts = _NOTES[reasons[i]]
            notes[i] = texts[note_pick[i] % len(texts)]

    resolution = np.where(
        reasons == "SIZE_EXCHANGE",
        "exchange",
        np.where(store_credit[order_of], "store_credit", "refund"),
    )
    assert set(resolution) <= set(RETURN_RESOLUTIONS)

    picked = lines.with_columns(
        order=pl.Series(order_of),
        lines_in_order=orders["lines_in_order"],
        chosen=pl.Series(chosen[order_of]),
        take=pl.Series(np.where(two[order_of], 2, 1)),
        priority=pl.Series(priority),
        reason=pl.Series(reasons.astype(str)),
        resolution=pl.Series(resolution.astype(str)),
        exchange_sku=pl.Series(exchange_sku, dtype=pl.String),
        quantity=pl.Series(np.where(single, 1, any_qty)),
        extra=pl.Series(extra),
        note=pl.Series(notes, dtype=pl.String),
        offset=pl.Series(np.where(late, late_s, on_time_s)[order_of]),
        use_number=pl.Series(by_number[order_of]),
    ).filter(pl.col("chosen"))
    picked = picked.filter(
        pl.col("priority").rank("ordinal").over("order") <= pl.col("take")
    ).with_columns(last_delivered=pl.col("delivered_s").max().over("order"))
    picked = picked.with_columns(requested_s=pl.col("last_delivered") + pl.col("offset")).filter(
        pl.col("requested_s") * _US <= _epoch_us(as_of)
    )
    if picked.height == 0:
        return _empty_requests()

    # Request ids increase with the request time.
    requests = (
        picked.group_by("order")
        .agg(pl.col("requested_s").first(), pl.col("order_key").first())
        .sort("requested_s", "order_key")
    )
    k = requests.height
    ids = np.sort(rng.choice(9_000_000, size=k, replace=False)) + 1_000_000
    requests = requests.with_columns(
        return_id=pl.Series([f"R-{i:07d}" for i in ids], dtype=pl.String)
    )

    # Bad on purpose: about BAD_SHARE, at least one once there are 50 requests.
    request_order = requests["order"].to_numpy()
    bad_orders = request_order[bad[request_order]]
    if k >= 50 and bad_orders.size == 0:
        bad_orders = np.array([request_order[rng.integers(0, k)]])
    taken = set(lines["order_key"].unique().to_list())
    unknown_key: dict[int, str] = {}
    over: set[int] = set()
    for o in sorted(int(x) for x in bad_orders):
        if bad_unknown[o]:
            serial = int(unknown_serial[o])
            while f"shopify:{serial:012d}" in taken:
                serial = (serial + 1) % 10**12
            unknown_key[o] = f"shopify:{serial:012d}"
            taken.add(unknown_key[o])
        else:
            over.add(o)

    use_number = pl.col("use_number") & pl.col("order_number").is_not_null()
    first_line = pl.col("line_no") == pl.col("line_no").min().over("order")
    out = (
        picked.join(requests.select("order", "return_id"), on="order")
        .with_columns(
            unknown=pl.col("order").replace_strict(
                unknown_key, default=None, return_dtype=pl.String
            ),
            over=pl.col("order").is_in(sorted(over)) & first_line,
        )
        .with_columns(
            order_key=pl.when(pl.col("unknown").is_not_null())
            .then(pl.col("unknown"))
            .when(use_number)
            .then(None)
            .otherwise(pl.col("order_key")),
            order_number=pl.when(use_number & pl.col("unknown").is_null())
            .then(pl.col("order_number"))
            .otherwise(None),
            quantity=pl.when(pl.col("over"))
            .then(pl.col("shipped_quantity") + pl.col("extra"))
            .otherwise(pl.col("quantity"))
            .cast(pl.Int64),
            requested_at=(pl.col("requested_s") * _US).cast(pl.Datetime("us", "UTC")),
            channel=pl.lit(None, dtype=pl.String),
        )
        .sort("requested_s", "return_id", "line_no")
    )
    return out.select(REQUEST_COLUMNS)


def _empty_inspections() -> pl.DataFrame:
    schema = {c: pl.String() for c in INSPECTION_COLUMNS}
    schema["quantity"] = pl.Int64()
    schema["inspected_at"] = pl.Datetime("us", "UTC")
    return pl.DataFrame(schema=schema)


def inspection_results(
    authorized: pl.DataFrame,
    *,
    seed: int,
    as_of: datetime,
    arrival_days: tuple[int, int] = ARRIVAL_DAYS,
) -> pl.DataFrame:
    """What the warehouse found in the authorized RMA lines that arrived by ``as_of``,
    ``arrival_days`` (low, high) after their authorisation (see the module doc).

    ``authorized``: rma_number, sku, quantity, reason, warehouse_id, authorized_at (one row per
    RMA line; an unknown reason counts as NOT_WANTED). Returns :data:`INSPECTION_COLUMNS`
    (quantity Int64, inspected_at Datetime(us, UTC), whole seconds): one row per line and
    disposition, in line order and :data:`~pipelines.lib.schema.DISPOSITIONS` order, the
    quantities of a line adding up to its quantity. Deterministic for ``seed``.
    """
    rng = np.random.default_rng(seed)
    lines = authorized.select(
        pl.col("rma_number").cast(pl.String),
        pl.col("sku").cast(pl.String),
        pl.col("quantity").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
        pl.col("warehouse_id").cast(pl.String),
        authorized_s=_utc("authorized_at", authorized.schema).dt.epoch("us") // _US,
    ).filter(pl.col("quantity") >= 1)
    n = lines.height
    if n == 0:
        return _empty_inspections()

    # Disposition probabilities per reason, in DISPOSITIONS order.
    codes = list(RETURN_REASONS)
    probs = np.zeros((len(codes), len(DISPOSITIONS)))
    for r, reason in enumerate(codes):
        for d, disposition in enumerate(DISPOSITIONS):
            probs[r, d] = DISPOSITION_SHARES[reason].get(disposition, 0.0)
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    reason_of = np.array(
        [codes.index(r) if r in codes else codes.index("NOT_WANTED") for r in lines["reason"]],
        dtype=np.int64,
    )

    qty = lines["quantity"].to_numpy()
    arrival_s = lines["authorized_s"].to_numpy() + rng.integers(
        arrival_days[0] * _DAY, arrival_days[1] * _DAY + 1, n
    )
    missing = rng.random(n) < MISSING_SHARE
    inspector = rng.integers(0, len(INSPECTORS), n)
    unit_line = np.repeat(np.arange(n), qty)
    draw = rng.random(unit_line.size)
    disposition = (draw[:, None] >= cumulative[reason_of[unit_line]]).sum(axis=1)
    disposition = np.minimum(disposition, len(DISPOSITIONS) - 1)
    first_unit = np.cumsum(qty) - qty
    disposition[first_unit[missing]] = DISPOSITIONS.index("MISSING")
    counts = np.bincount(
        unit_line * len(DISPOSITIONS) + disposition, minlength=n * len(DISPOSITIONS)
    ).reshape(n, len(DISPOSITIONS))

    line_idx, disp_idx = np.nonzero(counts)  # row-major: line order, then disposition order
    rows = len(line_idx)
    with_note = rng.random(rows) < INSPECTION_NOTE_SHARE
    note_pick = rng.integers(0, 1 << 30, rows)
    notes: list[str | None] = []
    for i in range(rows):
        name = DISPOSITIONS[disp_idx[i]]
        if with_note[i] or name == "MISSING":
            texts = _INSPECTION_NOTES[name]
            notes.append(texts[note_pick[i] % len(texts)])
        else:
            notes.append(None)

    out = lines[line_idx].select(
        "rma_number",
        "sku",
        "reason",
        quantity=pl.Series(counts[line_idx, disp_idx], dtype=pl.Int64),
        disposition=pl.Series([DISPOSITIONS[d] for d in disp_idx], dtype=pl.String),
        warehouse_id="warehouse_id",
        inspected_at=pl.Series(arrival_s[line_idx] * _US).cast(pl.Datetime("us", "UTC")),
        inspected_by=pl.Series([INSPECTORS[i] for i in inspector[line_idx]], dtype=pl.String),
        note=pl.Series(notes, dtype=pl.String),
    )
    return out.filter(pl.col("inspected_at").dt.epoch("us") <= _epoch_us(as_of))


# --------------------------------------------------------------------------- files


def _csv(rows: pl.DataFrame, columns: tuple[str, ...], at: str, path: Path) -> Path:
    out = rows.select(columns).with_columns(pl.col(at).dt.convert_time_zone("UTC").dt.strftime(ISO))
    write_atomically(Path(path), lambda tmp: out.write_csv(tmp, line_terminator="\n"))
    return Path(path)


def write_return_requests(requests: pl.DataFrame, path: Path) -> Path:
    """Return requests (:func:`return_requests`) as a request CSV; returns ``path``."""
    return _csv(requests, REQUEST_COLUMNS, "requested_at", path)


def write_inspections(rows: pl.DataFrame, path: Path) -> Path:
    """Inspection rows (:func:`inspection_results`) as an inspection CSV; returns ``path``."""
    return _csv(rows, INSPECTION_COLUMNS, "inspected_at", path)


def write_return_requests_json(requests: pl.DataFrame, path: Path) -> Path:
    """Return requests as the JSON request layout: one object per return_id (in first-row
    order) with its lines. The request's resolution is its first line's; a line with another
    one carries its own. The request's note joins its lines' distinct notes. Optional fields
    are left out when blank. Returns ``path``."""
    rows = requests.select(REQUEST_COLUMNS).with_columns(
        pl.col("requested_at").dt.convert_time_zone("UTC").dt.strftime(ISO)
    )
    docs: dict[str, dict] = {}
    for row in rows.iter_rows(named=True):
        doc = docs.get(row["return_id"])
        if doc is None:
            doc = {"return_id": row["return_id"]}
            if row["order_key"]:
                doc["order_key"] = row["order_key"]
            else:
                doc["order_number"] = row["order_number"]
            if row["channel"]:
                doc["channel"] = row["channel"]
            doc["requested_at"] = row["requested_at"]
            doc["resolution"] = row["resolution"] or "refund"
            doc["note"] = []
            doc["lines"] = []
            docs[row["return_id"]] = doc
        line = {"sku": row["sku"], "quantity": row["quantity"], "reason": row["reason"]}
        if row["exchange_sku"]:
            line["exchange_sku"] = row["exchange_sku"]
        if (row["resolution"] or "refund") != doc["resolution"]:
            line["resolution"] = row["resolution"]
        if row["note"] and row["note"] not in doc["note"]:
            doc["note"].append(row["note"])
        doc["lines"].append(line)
    for doc in docs.values():
        note = "; ".join(doc.pop("note"))
        lines = doc.pop("lines")
        if note:
            doc["note"] = note
        doc["lines"] = lines
    text = json.dumps({"returns": list(docs.values())}, indent=1, ensure_ascii=False) + "\n"
    write_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)


# --------------------------------------------------------------------------- demo


def _stamp(as_of: datetime) -> str:
    return as_of.strftime("%Y%m%dT%H%M%S")


def returnable_lines(con) -> pl.DataFrame:
    """The warehouse's shipped lines (:data:`~pipelines.lib.returns.SHIPPED_LINES_SQL`) with
    the order number, less the lines a return already names."""
    return frame(
        con,
        f"""
        WITH shipped AS ({SHIPPED_LINES_SQL})
        SELECT s.*, o.order_number
        FROM shipped s
        LEFT JOIN oms.orders o USING (order_key)
        WHERE NOT EXISTS (
            SELECT 1 FROM oms.returns r
            WHERE r.order_key = s.order_key AND r.line_no = s.line_no
        )
        ORDER BY s.order_key, s.line_no
        """,
    )


def write_demo_returns(
    warehouse: Path,
    inbox: Path,
    *,
    as_of: datetime,
    seed: int = 7,
    rate: float = 0.08,
    reference_dir: Path | None = None,
) -> Path | None:
    """``returns_<as_of>.csv`` in ``inbox``: the return requests the customers of the
    warehouse's delivered, not yet returned lines would have sent by ``as_of`` (exchange SKUs
    from ``reference_dir``'s products.csv when given). None when there is none."""
    with connect(warehouse, read_only=True) as con:
        shipped = returnable_lines(con)
    catalogue = None
    if reference_dir is not None:
        catalogue = read_reference(Path(reference_dir), "products").select("sku", "name")
    requests = return_requests(shipped, seed=seed, as_of=as_of, rate=rate, catalogue=catalogue)
    if requests.height == 0:
        return None
    return write_return_requests(requests, Path(inbox) / f"returns_{_stamp(as_of)}.csv")


def write_demo_inspections(
    warehouse: Path,
    inbox: Path,
    *,
    as_of: datetime,
    seed: int = 7,
    arrival_days: tuple[int, int] = ARRIVAL_DAYS,
) -> Path | None:
    """``inspections_<as_of>.csv`` in ``inbox``: what the warehouse found in the authorized
    returns that arrived by ``as_of``. None when nothing did."""
    with connect(warehouse, read_only=True) as con:
        authorized = frame(
            con,
            "SELECT rma_number, sku, quantity, reason, warehouse_id, authorized_at "
            "FROM oms.returns WHERE status = 'authorized' "
            "ORDER BY rma_number, sku, reason, return_line_id",
        )
    rows = inspection_results(authorized, seed=seed, as_of=as_of, arrival_days=arrival_days)
    if rows.height == 0:
        return None
    return write_inspections(rows, Path(inbox) / f"inspections_{_stamp(as_of)}.csv")
