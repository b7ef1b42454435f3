"""Erasing a customer from the outbox: the documents and messages generated for their orders.

Runs after the warehouse rows of the orders have had their personal fields blanked (the
erasure's transaction, :mod:`pipelines.lib.erasure`), and works from those rows: every file
the outbox holds for the orders is found through the table column that points at it.

* **Messages** (``oms.notifications.file_path``: an ``.eml`` under ``outbox/mail/`` or an SMS
  ``.txt`` under ``outbox/sms/``) each hold one message to this customer: removed. Nothing
  else keeps a copy (the mailer sends from the file and keeps none).
* **Packing slips** (``oms.shipments.packing_slip_path``) and **return labels**
  (``oms.returns.label_path``) are one customer's documents, but the warehouse floor and the
  carrier may still need their facts: drawn again from the blanked rows, to the same path.
* **Shipping labels** (``oms.parcels.label_path``: one PDF and one ZPL per wave file),
  **carrier manifests** (``oms.manifests.csv_path`` / ``pdf_path``) and **refund exports**
  (``oms.refunds.export_file``) carry other customers too: the whole file is drawn again from
  the warehouse, so everyone else's entries stay as they were and this customer's name,
  street, city and email are gone; parcels, rows, tracking numbers and amounts are kept.

Pick lists, pull lists, the channel feeds and the reorder reports carry order numbers, SKUs
and tracking numbers only: left alone.

**Idempotent by content.** A file is drawn to a hidden temporary name beside it and replaces
the file only when the bytes differ (the PDF writers are deterministic: ``invariant=1``), so
a second erasure of the same orders finds every file already as the warehouse says and
reports nothing; a crash half way is repaired by running again. A file someone moved away is
not written again; a file stored outside the data folder is not touched but reported
(``needs_review``), since a path copied from another machine or folder may be anyone's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.fulfilment import render_packing_slip_again
from pipelines.lib.privacy import FileAction
from pipelines.lib.returns import render_refund_export, render_return_label
from pipelines.lib.schema import MANIFESTS, NOTIFICATIONS, PARCELS, REFUNDS, RETURNS, SHIPMENTS
from pipelines.lib.shipping import render_label_file, render_manifest_files
from pipelines.lib.warehouse import frame

#: ``FileAction.kind`` of a message file, by notification channel.
MESSAGE_KINDS = {"email": "mail", "sms": "sms"}
ERASED_ORDERS = "erasure_outbox_orders"


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path`` with its suffix (a label PDF's ZPL twin is found by
    suffix), unique to this process and thread."""
    return path.with_name(
        f".{path.stem}.erasing-{os.getpid()}-{threading.get_ident()}{path.suffix}"
    )


class _Scrub:
    """What one call has done so far, and the rules it does it by."""

    def __init__(self, data_dir: Path, erasure_id: str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.erasure_id = erasure_id
        self.actions: list[FileAction] = []

    def _inside(self, stored: str, kind: str) -> Path | None:
        """The stored path when the erasure may act on it: it exists, inside the data folder.
        An existing file elsewhere is reported for review; a missing one is nothing to do."""
        path = Path(stored)
        if not path.exists():
            return None
        if not path.resolve().is_relative_to(self.data_dir):
            self.actions.append(
                FileAction(
                    stored,
                    "needs_review",
                    kind,
                    f"erasure {self.erasure_id}: stored outside {self.data_dir}, not touched",
                )
            )
            return None
        return path

    def remove(self, stored: str, kind: str, detail: str) -> None:
        path = self._inside(stored, kind)
        if path is None:
            return
        path.unlink(missing_ok=True)
        self.actions.append(FileAction(stored, "removed", kind, f"{detail}: removed"))

    def redraw(
        self,
        stored: list[str],
        kind: str,
        detail: str,
        draw: Callable[..., object],
    ) -> None:
        """Draw the files ``stored`` (one document's files: a PDF and its ZPL, a manifest's
        CSV and PDF) again with ``draw(*temporary paths)`` and put each in place when its
        bytes changed. ``draw`` returning something false means it had nothing to draw."""
        paths = {s: self._inside(s, kind) for s in stored}
        if not any(paths.values()):
            return
        tmps = [_temporary(Path(s)) for s in stored]
        try:
            if not draw(*tmps):
                return
            for (s, path), tmp in zip(paths.items(), tmps, strict=True):
                if path is None or not tmp.exists():
                    continue
                if tmp.read_bytes() == path.read_bytes():
                    continue
                os.replace(tmp, path)
                self.actions.append(
                    FileAction(s, "rewritten", kind, f"{detail}: drawn again from the erased rows")
                )
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    """``sql`` (reading the temporary table of the erased orders) as dicts."""
    return frame(con, sql).to_dicts()


def scrub_outbox(
    con: duckdb.DuckDBPyConnection,
    *,
    data_dir: Path,
    reference_dir: Path,
    order_keys: list[str],
    erasure_id: str,
    now: datetime,
) -> list[FileAction]:
    """Remove or redraw every outbox file holding the personal fields of ``order_keys``
    (already blanked in the warehouse); returns what was done, one action per file changed.

    Writes no table: the caller records the actions and nulls the columns that point at
    removed files (``oms.notifications.file_path``). ``now`` is not printed anywhere: a
    redrawn document keeps the dates it was first written with.
    """
    del now  # the file steps share one signature; nothing here is stamped with the time
    keys = sorted(set(order_keys))
    if not keys:
        return []
    scrub = _Scrub(data_dir, erasure_id)
    erased = pl.DataFrame({"order_key": keys}, schema={"order_key": pl.String})
    con.register(ERASED_ORDERS, erased.to_arrow())
    try:
        _messages(con, scrub)
        _packing_slips(con, scrub, reference_dir)
        _return_labels(con, scrub, reference_dir)
        _label_files(con, scrub, reference_dir)
        _manifests(con, scrub, reference_dir)
        _refund_exports(con, scrub)
    finally:
        con.unregister(ERASED_ORDERS)
    return scrub.actions


def _messages(con: duckdb.DuckDBPyConnection, scrub: _Scrub) -> None:
    for row in _rows(
        con,
        f"""
        SELECT notification_id, kind, channel, file_path FROM {NOTIFICATIONS.qualified}
        WHERE order_key IN (SELECT order_key FROM {ERASED_ORDERS}) AND file_path IS NOT NULL
        ORDER BY file_path
        """,
    ):
        kind = MESSAGE_KINDS.get(row["channel"], row["channel"])
        scrub.remove(
            row["file_path"],
            kind,
            f"{row['kind']} message {row['notification_id']} to the erased customer",
        )


def _packing_slips(con: duckdb.DuckDBPyConnection, scrub: _Scrub, reference_dir: Path) -> None:
    for row in _rows(
        con,
        f"""
        SELECT shipment_id, packing_slip_path FROM {SHIPMENTS.qualified}
        WHERE order_key IN (SELECT order_key FROM {ERASED_ORDERS})
          AND packing_slip_path IS NOT NULL
        ORDER BY shipment_id
        """,
    ):
        sid = row["shipment_id"]
        scrub.redraw(
            [row["packing_slip_path"]],
            "packing_slip",
            f"packing slip of shipment {sid}",
            lambda to, sid=sid: render_packing_slip_again(
                con, reference_dir=reference_dir, shipment_id=sid, to=to
            ),
        )


def _return_labels(con: duckdb.DuckDBPyConnection, scrub: _Scrub, reference_dir: Path) -> None:
    for row in _rows(
        con,
        f"""
        SELECT DISTINCT rma_number, label_path FROM {RETURNS.qualified}
        WHERE order_key IN (SELECT order_key FROM {ERASED_ORDERS})
          AND rma_number IS NOT NULL AND label_path IS NOT NULL
        ORDER BY rma_number
        """,
    ):
        rma = row["rma_number"]
        scrub.redraw(
            [row["label_path"]],
            "return_label",
            f"return label of {rma}",
            lambda to, rma=rma: render_return_label(
                con, reference_dir=reference_dir, rma_number=rma, to=to
            ),
        )


def _label_files(con: duckdb.DuckDBPyConnection, scrub: _Scrub, reference_dir: Path) -> None:
    for row in _rows(
        con,
        f"""
        SELECT p.label_path, count(*) AS labels FROM {PARCELS.qualified} p
        JOIN {SHIPMENTS.qualified} s USING (shipment_id)
        WHERE s.order_key IN (SELECT order_key FROM {ERASED_ORDERS}) AND p.label_path IS NOT NULL
        GROUP BY p.label_path ORDER BY p.label_path
        """,
    ):
        pdf = row["label_path"]
        zpl = str(Path(pdf).with_suffix(".zpl"))
        scrub.redraw(
            [pdf, zpl],
            "labels",
            f"shipping labels ({row['labels']} of the erased customer's parcels)",
            lambda to, _zpl, pdf=pdf: render_label_file(
                con, reference_dir=reference_dir, label_path=pdf, to=to
            ),
        )


def _manifests(con: duckdb.DuckDBPyConnection, scrub: _Scrub, reference_dir: Path) -> None:
    for row in _rows(
        con,
        f"""
        SELECT m.manifest_id, m.csv_path, m.pdf_path FROM {MANIFESTS.qualified} m
        WHERE m.files_written_at IS NOT NULL AND m.manifest_id IN (
            SELECT p.manifest_id FROM {PARCELS.qualified} p
            JOIN {SHIPMENTS.qualified} s USING (shipment_id)
            WHERE s.order_key IN (SELECT order_key FROM {ERASED_ORDERS}))
        ORDER BY m.manifest_id
        """,
    ):
        mid = row["manifest_id"]
        scrub.redraw(
            [row["csv_path"], row["pdf_path"]],
            "manifest",
            f"carrier manifest {mid}",
            lambda csv_to, pdf_to, mid=mid: render_manifest_files(
                con, reference_dir=reference_dir, manifest_id=mid, csv_to=csv_to, pdf_to=pdf_to
            ),
        )


def _refund_exports(con: duckdb.DuckDBPyConnection, scrub: _Scrub) -> None:
    for row in _rows(
        con,
        f"""
        SELECT export_file, count(*) AS refunds FROM {REFUNDS.qualified}
        WHERE order_key IN (SELECT order_key FROM {ERASED_ORDERS})
        GROUP BY export_file ORDER BY export_file
        """,
    ):
        path = row["export_file"]
        scrub.redraw(
            [path],
            "refund_export",
            f"refund export ({row['refunds']} of the erased customer's refunds)",
            lambda to, path=path: render_refund_export(con, path, to),
        )


__all__ = ["MESSAGE_KINDS", "scrub_outbox"]
