"""Email and phone checks for one value at a time, and the worker process that runs them.

Kept free of Polars and the rest of the platform so a worker (``python -m
pipelines.lib.quality.contact_checks``) starts in a fraction of a second.
"""

from __future__ import annotations

import pickle
import sys

import phonenumbers
from email_validator import EmailNotValidError, validate_email

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


if __name__ == "__main__":  # a worker: (emails, phones) pickled on stdin, results on stdout
    sys.stdout.buffer.write(pickle.dumps(check_values(*pickle.loads(sys.stdin.buffer.read()))))
