"""Benchmark: customer notifications — 100,000 order events rendered into the outbox (issue 8).

    uv run python benchmarks/bench_notifications.py [--events 100000] [--runs 3] [--no-write]

Each run is a fresh process (``harness.run_child``) that builds a warehouse in a temporary
folder under benchmarks/.work (not timed): ``--events`` orders, one event each, mixed as a
day of traffic — 60% ``ready`` (order confirmed), 20% ``shipped`` (with a shipped parcel and
its tracking number), 10% ``delivered`` (half the customers accept marketing, so half also get
a review request), 5% ``backordered`` (with the open backorder), 5% ``delayed``; ship-to
countries 80% US, 10% DE, 10% FR (English, German and French). Then it times one
``run_notifications_stage``: picking the due events, rendering subject, text, HTML and SMS
text, writing one ``.eml`` per message to data/outbox/mail/ and storing the outbox rows.
SMTP is off (the demo's setting), so nothing is sent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import WORK, machine, machine_line, run_child, update_results

BAR_SECONDS = 20.0
PAUSE_SECONDS = 30

CHILD = """
import random, sys, time, shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
import polars as pl
from pipelines.lib.notifications import run_notifications_stage
from pipelines.lib.schema import ORDERS, ORDER_LINES, ORDER_EVENTS, PARCELS, SHIPMENTS, BACKORDERS
from pipelines.lib.tracking_numbers import make_tracking_numbers
from pipelines.lib.warehouse import connect, migrate
from pipelines.project import REPO_ROOT

n, root = int(sys.argv[1]), Path(sys.argv[2])
now = datetime(2026, 11, 27, 12, tzinfo=UTC)
rng = random.Random(7)
kinds = rng.choices(
    ["ready", "shipped", "delivered", "backordered", "delayed"], [60, 20, 10, 5, 5], k=n)
places = [("US", "Austin", "TX", "78701", "USD"), ("DE", "Berlin", "BE", "10115", "EUR"),
          ("FR", "Paris", "IDF", "75001", "EUR")]
where = rng.choices(places, [80, 10, 10], k=n)
keys = [f"shopify:{i}" for i in range(n)]
orders = pl.DataFrame({
    "order_key": keys, "channel": "shopify", "source_format": "bench",
    "external_order_id": [str(i) for i in range(n)],
    "order_number": [f"#{100000 + i}" for i in range(n)],
    "ordered_at": now - timedelta(days=3), "status": "released", "service_level": "standard",
    "ship_complete": False, "received_at": now, "updated_at": now, "source_file": "bench",
    "source_row": 1, "run_id": "setup", "customer_name": "Ana Ruiz",
    "email": [f"customer{i}@example.com" for i in range(n)], "phone": "+1 512 555 0100",
    "accepts_marketing": [i % 2 == 0 for i in range(n)], "ship_name": "Ana Ruiz",
    "ship_address1": "1 Main St", "ship_city": [w[1] for w in where],
    "ship_region": [w[2] for w in where], "ship_postal_code": [w[3] for w in where],
    "ship_country": [w[0] for w in where], "currency": [w[4] for w in where],
    "order_total": Decimal("59.90"),
})
lines = pl.DataFrame({
    "order_key": keys, "line_no": 1, "sku": "SKU-00001",
    "product_name": "Braided USB-C to USB-C Cable 6' - Black", "quantity": 2,
    "unit_price": Decimal("29.95"), "requires_shipping": True, "source_file": "bench",
    "source_row": 1, "run_id": "setup",
})
events = pl.DataFrame({
    "event_id": [f"e{i}" for i in range(n)], "order_key": keys, "event": kinds,
    "at": now - timedelta(hours=2), "detail": "bench", "run_id": "setup",
})
moved = [i for i, k in enumerate(kinds) if k in ("shipped", "delivered", "delayed")]
numbers = make_tracking_numbers("USPS", "GroundAdvantage", list(range(1, len(moved) + 1)))
sid = [f"W-BENCH-{i:07d}-T01" for i in moved]
shipments = pl.DataFrame({
    "shipment_id": sid, "wave_id": "W-BENCH", "order_key": [keys[i] for i in moved],
    "warehouse_id": "WH-TX", "tote": "T01", "status": "shipped", "lines": 1, "units": 2,
    "parcels": 1, "weight_g": 500, "released_at": now, "run_id": "setup",
    "promised_delivery_date": (now + timedelta(days=2)).date(),
    "delayed_at": [now if kinds[i] == "delayed" else None for i in moved],
})
parcels = pl.DataFrame({
    "parcel_id": [f"{s}-P1" for s in sid], "shipment_id": sid, "parcel_no": 1,
    "ship_alone": False, "units": 2, "items_weight_g": 400, "weight_g": 500,
    "length_mm": 200, "width_mm": 150, "height_mm": 100, "contents": "SKU-00001 x2",
    "status": ["delivered" if kinds[i] == "delivered" else "in_transit" for i in moved],
    "run_id": "setup", "carrier": "USPS", "service": "USPS Ground Advantage",
    "tracking_number": numbers, "manifest_id": "M-BENCH",
    "promised_delivery_date": (now + timedelta(days=2)).date(),
    "delivered_at": [now - timedelta(hours=3) if kinds[i] == "delivered" else None for i in moved],
})
waiting = [i for i, k in enumerate(kinds) if k == "backordered"]
backorders = pl.DataFrame({
    "order_key": [keys[i] for i in waiting], "line_no": 1, "sku": "SKU-00001", "quantity": 2,
    "reason": "no_stock", "detail": "bench", "promised_date": (now + timedelta(days=9)).date(),
    "status": "open", "backordered_at": now, "updated_at": now, "run_id": "setup",
})
with connect(root / "oms.duckdb") as con:
    migrate(con)
    for table, rows in ((ORDERS, orders), (ORDER_LINES, lines), (ORDER_EVENTS, events),
                        (SHIPMENTS, shipments), (PARCELS, parcels), (BACKORDERS, backorders)):
        con.register("rows", table.conform(rows).to_arrow())
        con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM rows")
        con.unregister("rows")
    con.execute("CHECKPOINT")
    began = time.perf_counter()
    r = run_notifications_stage(con, reference_dir=REPO_ROOT / "data" / "reference",
                                outbox=root / "outbox", run_id="bench", now=now, environ={})
    seconds = time.perf_counter() - began
    again = time.perf_counter()
    second = run_notifications_stage(con, reference_dir=REPO_ROOT / "data" / "reference",
                                     outbox=root / "outbox", run_id="bench2", now=now,
                                     environ={})
    again = time.perf_counter() - again
files = list((root / "outbox" / "mail").rglob("*.eml"))
result = {
    "seconds": seconds, "events": n, "queued": r.queued, "skipped": r.skipped,
    "by_kind": r.by_kind, "phases": r.seconds, "files": len(files),
    "mib": sum(p.stat().st_size for p in files) / 1024**2,
    "again_seconds": again, "again_queued": second.queued,
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    runs = []
    for i in range(args.runs):
        # Each run writes ~100k small files (~400 MB of blocks). This VM's disk slows down
        # after a burst of writes, so every run starts on a synced, rested disk; run back to
        # back, the same stage took 28-30 s (see RESULTS.md).
        os.sync()
        time.sleep(PAUSE_SECONDS)
        with tempfile.TemporaryDirectory(prefix="bench_notifications_", dir=WORK) as tmp:
            r = run_child(CHILD, str(args.events), tmp)
        runs.append(r)
        print(
            f"run {i + 1}: {r['seconds']:.2f} s, {r['queued']:,} messages, "
            f"peak {r['peak_rss_kib'] / 1024:,.0f} MiB",
            flush=True,
        )
    median = statistics.median(r["seconds"] for r in runs)
    last = runs[-1]
    verdict = "meets it" if median <= BAR_SECONDS else "MISSES it"
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(last["by_kind"].items()))
    rows = "\n".join(
        f"| {i + 1} | {r['seconds']:.2f} | {r['phases'].get('render', 0):.2f} | "
        f"{r['phases'].get('store', 0):.2f} | {r['cpu_seconds']:.1f} | "
        f"{r['peak_rss_kib'] / 1024:,.0f} |"
        for i, r in enumerate(runs)
    )
    text = "\n".join(
        [
            "## Notifications",
            "",
            f"`uv run python benchmarks/bench_notifications.py --events {args.events} "
            f"--runs {args.runs}`",
            "",
            machine_line(machine()),
            "",
            f"`run_notifications_stage` on a warehouse with **{args.events:,} order events**"
            " due (see the script's docstring for the mix): each becomes a message rendered"
            " in English, German or French (subject, plain text, HTML, and SMS text for the"
            " SMS kinds), written as one `.eml` under data/outbox/mail/ and stored as an"
            " outbox row; SMTP off.",
            "",
            f"- **Median {median:.2f} s against the bar of {BAR_SECONDS:g} s"
            f" ({BAR_SECONDS / median:.1f}× under it) — {verdict}.** Peak RSS"
            f" {max(r['peak_rss_kib'] for r in runs) / 1024:,.0f} MiB (the stage's own"
            " process; the rendering workers are separate processes).",
            f"- {last['queued']:,} messages queued ({kinds}), {last['skipped']:,} skipped"
            f" (review requests without marketing consent); {last['files']:,} .eml files,"
            f" {last['mib']:,.0f} MiB.",
            f"- A second run right after finds nothing due: {last['again_queued']} messages in"
            f" {last['again_seconds']:.2f} s.",
            "- How: the facts are fetched in five queries; above 4,000 messages the rendering"
            " and writing is split over one worker process per core (spawned, so the process"
            " holding DuckDB is never forked), each with templates compiled once. Rendering"
            " is about 0.1 ms a message and writing one .eml 0.03-0.08 ms on this disk; one"
            " process took about 25 s for the same input.",
            f"- **The disk decides the spread.** Each run writes about 100,000 files (~400 MB"
            f" of blocks). On this VM the disk slows down after a burst of writes: run back to"
            f" back (10 s apart), three runs took 30.5, 30.0 and 30.4 s — over the bar — with"
            f" the same CPU time as the fast runs. Each run here starts after a sync and"
            f" {PAUSE_SECONDS} s of rest. Writing 50,000 such files alone took 1.0 s on a"
            " rested disk. A platform sending 100k messages per batch should put data/outbox"
            " on a disk that sustains small writes. The table shows every run: a slow one"
            " (rested or not) has the same CPU time as the fast ones; the time goes to"
            " waiting on the disk.",
            "",
            "| run | stage s | render + write s | store s | CPU s (parent) | peak RSS MiB |",
            "|---|---|---|---|---|---|",
            rows,
        ]
    )
    print(text)
    if not args.no_write:
        update_results("Notifications", text + "\n")


if __name__ == "__main__":
    main()
