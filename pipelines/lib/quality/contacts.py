"""Email syntax (email-validator) and phone numbers (phonenumbers), per distinct value.

Both libraries are pure Python and cost 30-60 µs a value, so each distinct value is checked
once, and large batches are split across worker processes (one per core): at a million
order lines that is about 180k emails and 270k phone numbers. The workers are plain
``python -m pipelines.lib.quality.contact_checks`` processes fed by pipe, so they start in
a fraction of a second whatever program (CLI, Dagster, tests) is running the batch.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from pipelines.lib.quality import contact_checks
from pipelines.lib.quality.contact_checks import Phone, check_values

#: Below this many distinct values the checks run in-process: a worker takes ~0.1 s to
#: start and one value costs ~25 µs, so two workers pay off from ~10k values.
PARALLEL_FROM = 20_000
WORKER_MODULE = contact_checks.__name__


def _check_in_workers(emails: list[str], phones: list[Phone], workers: int) -> tuple[list, list]:
    """:func:`check_values` split over ``workers`` child processes (values dealt round-robin)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    parts = [(emails[i::workers], phones[i::workers]) for i in range(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in parts
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        waiting = [
            pool.submit(proc.communicate, pickle.dumps(part))
            for proc, part in zip(procs, parts, strict=True)
        ]
        outputs = [w.result() for w in waiting]
    email_found: list = [None] * len(emails)
    phone_found: list = [None] * len(phones)
    for i, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        if proc.returncode != 0:
            raise RuntimeError(f"contact check worker failed: {err.decode(errors='replace')}")
        email_part, phone_part = pickle.loads(out)
        email_found[i::workers] = email_part
        phone_found[i::workers] = phone_part
    return email_found, phone_found


def contact_problems(orders: pl.DataFrame) -> pl.DataFrame:
    """email_problem and phone_problem per order (null = fine or not given).

    ``orders`` needs email, phone and ship_country.
    """
    emails = orders.select(pl.col("email").drop_nulls().unique()).to_series().to_list()
    phones = orders.filter(pl.col("phone").is_not_null()).select("phone", "ship_country").unique()
    phone_rows = list(phones.iter_rows())
    workers = min(2, os.cpu_count() or 1)
    if len(emails) + len(phone_rows) >= PARALLEL_FROM and workers > 1:
        email_found, phone_found = _check_in_workers(emails, phone_rows, workers)
    else:
        email_found, phone_found = check_values(emails, phone_rows)
    email_map = pl.DataFrame(
        {"email": emails, "email_problem": email_found},
        schema={"email": pl.String, "email_problem": pl.String},
    )
    phone_map = phones.with_columns(pl.Series("phone_problem", phone_found, dtype=pl.String))
    return (
        orders.select("email", "phone", "ship_country")
        .join(email_map, on="email", how="left", maintain_order="left")
        .join(
            phone_map,
            on=["phone", "ship_country"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .select("email_problem", "phone_problem")
    )
