"""How simulated orders are cut into export files: batches, re-exports, size limits, names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.lib.generator.people import random_strings
from pipelines.lib.generator.simulate import Simulation

#: Largest number of order lines in one export file; bigger batches are split in parts.
MAX_LINES_PER_FILE = 250_000


@dataclass(frozen=True)
class WrittenFile:
    name: str
    channel: str
    format: str
    encoding: str
    orders: int
    lines: int
    #: files whose orders this file repeats (with more detail), written before it
    repeats_orders_of: tuple[str, ...] = ()


def batch_label(sim: Simulation, batch: int) -> str:
    """``20261012_00`` for the batch starting 2026-10-12 00:00 UTC."""
    start = sim.start + dt.timedelta(hours=sim.batch_hours * batch)
    return start.strftime("%Y%m%d_%H")


def exported_orders(own: pl.DataFrame) -> pl.DataFrame:
    """Orders once per export they appear in (``out_batch``).

    An order chosen as a re-export appears a second time, unchanged, in a later batch; so
    every per-order value must be computed before this copy is made.
    """
    again = own.filter(pl.col("reexport_batch") >= 0).with_columns(
        out_batch=pl.col("reexport_batch")
    )
    return pl.concat([own.with_columns(out_batch=pl.col("batch")), again])


def assign_parts(frame: pl.DataFrame, sort: list[str], descending: list[bool]) -> pl.DataFrame:
    """Sort one row per order and give each a ``part`` so no file holds too many lines."""
    frame = frame.sort(["out_batch", *sort], descending=[False, *descending], maintain_order=True)
    before = pl.col("n_lines").cum_sum().over("out_batch") - pl.col("n_lines")
    return frame.with_columns(part=(before // MAX_LINES_PER_FILE).cast(pl.Int64))


def file_name(stem: str, sim: Simulation, batch: int, part: int, parts: int, suffix: str) -> str:
    tail = f"_p{part + 1}" if parts > 1 else ""
    return f"{stem}_{batch_label(sim, batch)}{tail}{suffix}"


def groups(frame: pl.DataFrame) -> list[tuple[int, int, int, pl.DataFrame]]:
    """``(batch, part, parts_in_batch, rows)`` for every file, in a stable order."""
    out = []
    parts_in = dict(frame.group_by("out_batch").agg(pl.col("part").max() + 1).iter_rows())
    for (batch, part), rows in sorted(
        frame.partition_by(["out_batch", "part"], as_dict=True, maintain_order=True).items()
    ):
        out.append((int(batch), int(part), int(parts_in[batch]), rows))
    return out


def tokens(rng: np.random.Generator, n: int, length: int, alphabet: str) -> pl.Series:
    """``n`` random strings (ids, payment references) of ``length`` characters."""
    return random_strings(rng, n, length, np.array(list(alphabet)))


def local_time(column: str, zone: str, fmt: str) -> pl.Expr:
    """A UTC timestamp column rendered in ``zone`` with ``fmt`` (``%z`` -> ``-0500``)."""
    return pl.col(column).dt.convert_time_zone(zone).dt.strftime(fmt)
