"""Email syntax (email-validator) and phone numbers (phonenumbers), per distinct value.

Both libraries are pure Python and cost 30-60 µs a value, so each distinct value is checked
once, and large batches are split across worker processes (one per core): at a million
order lines that is about 180k emails and 270k phone numbers. The workers are plain
``python -m pipelines.lib.quality.contacts`` processes fed by pipe, so they start in a
fraction of a second whatever program (CLI, Dagster, tests) is running the batch.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import phonenumbers
import polars as pl
from email_validator import EmailNotValidError, validate_email

#: Below this many distinct values the checks run in-process (a worker costs ~0.3 s).
PARALLEL_FROM = 40_000

Phone = tuple[str, str | None]


def email_problem(address: str) -> str | None:
    """None for a syntactically valid address, else email-validator's explanation."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return f'email "{address}" is not valid: {exc}'
    return None


def phone_problem(number: str, country: str | None) -> str | None:
    """None when ``number`` parses as a possible number (in ``country`` if it has no +code)."""
    region = country.upper() if country and len(country) == 2 else None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        return f'phone "{number}" cannot be read as a phone number: {exc._msg}'
    if not phonenumbers.is_possible_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or region or "its country"
        return f'phone "{number}" has the wrong number of digits for {where}'
    return None


def check_values(emails: list[str], phones: list[Phone]) -> tuple[list, list]:
    """The problem (or None) of each email and each (phone, country), in order."""
    return (
        [email_problem(v) for v in emails],
        [phone_problem(number, country) for number, country in phones],
    )


def _check_in_workers(emails: list[str], phones: list[Phone], workers: int) -> tuple[list, list]:
    """:func:`check_values` split over ``workers`` child processes (values dealt round-robin)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    parts = [(emails[i::workers], phones[i::workers]) for i in range(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", __name__],
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


if __name__ == "__main__":  # a worker: (emails, phones) pickled on stdin, results on stdout
    sys.stdout.buffer.write(pickle.dumps(check_values(*pickle.loads(sys.stdin.buffer.read()))))
