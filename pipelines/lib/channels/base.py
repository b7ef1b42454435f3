"""What every channel adapter gives the intake, and how it says a file is unreadable."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from pipelines.lib.schema import ORDER_LINES, ORDERS

#: Columns the intake fills in itself; adapters leave them out.
INTAKE_ORDER_COLUMNS = (
    "received_at",
    "updated_at",
    "run_id",
    # Privacy keys and erasure (pipelines/lib/privacy.py, erasure.py): never from a file.
    "customer_key",
    "identified_by",
    "subject_key",
    "ship_postal_prefix",
    "email_key",
    "postal_key",
    "postal5_key",
    "keyed_at",
    "erased_at",
)
INTAKE_LINE_COLUMNS = ("run_id",)

ADAPTER_ORDER_COLUMNS = tuple(c for c in ORDERS.column_names if c not in INTAKE_ORDER_COLUMNS)
ADAPTER_LINE_COLUMNS = tuple(c for c in ORDER_LINES.column_names if c not in INTAKE_LINE_COLUMNS)


class UnreadableFile(Exception):
    """The file cannot be read as the format it claims (or as any format).

    ``line`` (1-based) or ``byte`` (0-based offset) say where the problem was detected, so
    the reason written next to a rejected file lets ops find it.
    """

    def __init__(self, reason: str, *, line: int | None = None, byte: int | None = None):
        self.reason = reason
        self.line = line
        self.byte = byte
        where = (
            f" (line {line})" if line is not None else f" (byte {byte})" if byte is not None else ""
        )
        super().__init__(reason + where)


@dataclass
class ParsedBatch:
    """Canonical rows read from (part of) one file.

    ``orders`` has the columns ``ADAPTER_ORDER_COLUMNS`` and ``lines`` the columns
    ``ADAPTER_LINE_COLUMNS``, typed as in :mod:`pipelines.lib.schema` (use ``conform``).
    ``status`` in orders is ``received`` or ``cancelled`` (from the channel's own status).
    ``not_carried`` names order columns the file's layout has no source for (Amazon's All
    Orders report has no street address): their nulls mean "not in this file", so intake
    keeps what an earlier file said instead of blanking it.
    """

    orders: pl.DataFrame
    lines: pl.DataFrame
    not_carried: frozenset[str] = field(default_factory=frozenset)


class ChannelAdapter(Protocol):
    #: Short stable name recorded as ``source_format`` (e.g. ``shopify_csv``).
    format: str

    def sniff(self, head: bytes) -> bool:
        """True when the first bytes of a file (up to 64 KiB) are this adapter's layout."""
        ...

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        """Read the file into canonical rows; raise :class:`UnreadableFile` when it can't."""
        ...


def conform_orders(df: pl.DataFrame) -> pl.DataFrame:
    return ORDERS.conform(df, only=ADAPTER_ORDER_COLUMNS)


def conform_lines(df: pl.DataFrame) -> pl.DataFrame:
    return ORDER_LINES.conform(df, only=ADAPTER_LINE_COLUMNS)
