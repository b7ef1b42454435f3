"""A pool of customers: names, e-mails, phones and ship-to addresses, built column-wise."""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl

from pipelines.lib.generator.reference import us_zips
from pipelines.lib.generator.vocab import (
    COMPANIES,
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    INTERNATIONAL_PLACES,
    INTERNATIONAL_SHARE,
    INTERNATIONAL_STREETS,
    LAST_NAMES,
    PHONE_PLANS,
    STREET_NAMES,
    STREET_STYLE,
    STREET_SUFFIXES,
    UNIT_PREFIXES,
    US_STATES,
)

#: Share of customers shipping outside the US.
INTERNATIONAL_RATE = 0.05

_DIGITS = np.array(list("0123456789"))
_LOWER_ALNUM = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
_CA_LETTERS = np.array(list("ABCEGHJKLMNPRSTVWXYZ"))
_GB_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def random_strings(
    rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray
) -> pl.Series:
    """``n`` random strings of ``length`` characters drawn from ``alphabet`` (vectorised)."""
    if n == 0:
        return pl.Series([], dtype=pl.String)
    chars = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    return pl.Series(np.ascontiguousarray(chars).view(f"<U{length}").reshape(n))


def _ascii_fold(words: tuple[str, ...]) -> list[str]:
    out = []
    for w in words:
        folded = unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode()
        out.append("".join(ch for ch in folded.lower() if ch.isalnum()))
    return out


def _digits(rng: np.random.Generator, n: int, length: int) -> pl.Series:
    return random_strings(rng, n, length, _DIGITS)


def make_customers(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """``n`` customers with a ship-to address (US from the zipcodes package, ~5% abroad)."""
    first_idx = rng.integers(0, len(FIRST_NAMES), n)
    last_idx = rng.integers(0, len(LAST_NAMES), n)
    first = pl.Series(FIRST_NAMES).gather(first_idx)
    last = pl.Series(LAST_NAMES).gather(last_idx)
    f_ascii = pl.Series(_ascii_fold(FIRST_NAMES)).gather(first_idx)
    l_ascii = pl.Series(_ascii_fold(LAST_NAMES)).gather(last_idx)
    domain = pl.Series(EMAIL_DOMAINS).gather(
        rng.choice(len(EMAIL_DOMAINS), n, p=EMAIL_DOMAIN_WEIGHTS)
    )
    pattern = rng.choice(4, n, p=(0.4, 0.25, 0.2, 0.15))
    number = pl.Series(rng.integers(1, 99, n)).cast(pl.String)
    frame = pl.DataFrame(
        {
            "first_name": first,
            "last_name": last,
            "f": f_ascii,
            "l": l_ascii,
            "domain": domain,
            "pattern": pattern,
            "number": number,
        }
    )
    local = (
        pl.when(pl.col("pattern") == 0)
        .then(pl.col("f") + "." + pl.col("l"))
        .when(pl.col("pattern") == 1)
        .then(pl.col("f") + pl.col("l") + pl.col("number"))
        .when(pl.col("pattern") == 2)
        .then(pl.col("f").str.slice(0, 1) + pl.col("l"))
        .otherwise(pl.col("f") + "_" + pl.col("l") + pl.col("number"))
    )
    frame = frame.with_columns(email=local + "@" + pl.col("domain")).drop(
        "f", "l", "domain", "pattern", "number"
    )

    # Country: mostly US.
    codes = list(INTERNATIONAL_SHARE)
    abroad = rng.random(n) < INTERNATIONAL_RATE
    country = np.where(
        abroad,
        np.array(codes)[rng.choice(len(codes), n, p=list(INTERNATIONAL_SHARE.values()))],
        "US",
    )
    address = _us_addresses(rng, n)
    intl = _international_addresses(rng, country)
    address = address.with_columns(country=pl.Series(country))
    for col in intl.columns:
        address = address.with_columns(
            pl.when(pl.col("country") != "US")
            .then(intl[col])
            .otherwise(pl.col(col) if col in address.columns else None)
            .alias(col)
        )

    has_company = rng.random(n) < 0.06
    company = pl.Series(COMPANIES).gather(rng.integers(0, len(COMPANIES), n))
    frame = frame.with_columns(
        company=pl.when(pl.Series(has_company)).then(company).otherwise(None),
        accepts_marketing=pl.Series(rng.random(n) < 0.45),
        amazon_email=random_strings(rng, n, 16, _LOWER_ALNUM) + "@marketplace.amazon.com",
    )
    return pl.concat([frame, address], how="horizontal")


def _us_addresses(rng: np.random.Generator, n: int) -> pl.DataFrame:
    zips = us_zips()
    pick = rng.choice(len(zips.zip_code), n, p=zips.weight)
    number = np.floor(10 ** rng.uniform(0.3, 4.0, n)).astype(np.int64)
    street = pl.Series(STREET_NAMES).gather(rng.integers(0, len(STREET_NAMES), n))
    suffix = pl.Series(STREET_SUFFIXES).gather(rng.integers(0, len(STREET_SUFFIXES), n))
    unit = pl.Series(UNIT_PREFIXES).gather(rng.integers(0, len(UNIT_PREFIXES), n))
    unit_no = pl.Series(rng.integers(1, 40, n)).cast(pl.String) + pl.Series(
        np.array(["", "", "A", "B", "C"])[rng.integers(0, 5, n)]
    )
    state = zips.state[pick]
    area = pl.Series(zips.area_code[pick])
    exchange = pl.Series(rng.integers(2, 10, n)).cast(pl.String) + _digits(rng, n, 2)
    line = _digits(rng, n, 4)
    state_names = {k: v[0] for k, v in US_STATES.items()}
    has_unit = pl.Series(rng.random(n) < 0.15)
    return pl.DataFrame(
        {
            "address1": pl.Series(number).cast(pl.String) + " " + street + " " + suffix,
            "address2": (unit + " " + unit_no).zip_with(
                has_unit, pl.Series([None] * n, dtype=pl.String)
            ),
            "city": pl.Series(zips.city[pick]),
            "region": pl.Series(state),
            "region_name": pl.Series(state).replace_strict(state_names),
            "woo_state": pl.Series(state),
            "postal_code": pl.Series(zips.zip_code[pick]),
            "phone": "+1" + area + exchange + line,
            "phone_national": "(" + area + ") " + exchange + "-" + line,
            "phone_dashed": area + "-" + exchange + "-" + line,
        }
    )


def _international_addresses(rng: np.random.Generator, country: np.ndarray) -> pl.DataFrame:
    """Addresses for the non-US rows of ``country`` (other rows are null)."""
    n = len(country)
    cols: dict[str, list] = {
        k: [None] * n
        for k in (
            "address1",
            "address2",
            "city",
            "region",
            "region_name",
            "woo_state",
            "postal_code",
            "phone",
            "phone_national",
            "phone_dashed",
        )
    }
    for code in INTERNATIONAL_SHARE:
        rows = np.flatnonzero(country == code)
        if len(rows) == 0:
            continue
        places = [p for p in INTERNATIONAL_PLACES if p[0] == code]
        which = rng.integers(0, len(places), len(rows))
        streets = INTERNATIONAL_STREETS[code]
        cc, nsn_len = PHONE_PLANS[code]
        for k, row in enumerate(rows):
            _, city, region, region_name, woo_state, rule = places[which[k]]
            street = streets[int(rng.integers(0, len(streets)))]
            num = int(rng.integers(1, 240))
            style = STREET_STYLE[code]
            if style == "last":
                address1 = f"{street} {num}"
            elif style == "jp":
                address1 = (
                    f"{rng.integers(1, 5)}-{rng.integers(1, 20)}-{rng.integers(1, 30)} {street}"
                )
            else:
                address1 = f"{num} {street}"
            nsn = str(int(rng.integers(2, 10))) + "".join(
                str(d) for d in rng.integers(0, 10, nsn_len - 1)
            )
            cols["address1"][row] = address1
            cols["city"][row] = city
            cols["region"][row] = region
            cols["region_name"][row] = region_name
            cols["woo_state"][row] = woo_state
            cols["postal_code"][row] = _postal(rng, rule)
            cols["phone"][row] = f"+{cc}{nsn}"
            cols["phone_national"][row] = f"+{cc} {nsn}"
            cols["phone_dashed"][row] = f"+{cc} {nsn}"
    return pl.DataFrame(cols, schema={k: pl.String for k in cols})


def _postal(rng: np.random.Generator, rule: tuple) -> str:
    kind = rule[0]
    if kind == "ca":
        fsa = rule[1][int(rng.integers(0, len(rule[1])))]
        return f"{fsa} {rng.integers(0, 10)}{rng.choice(_CA_LETTERS)}{rng.integers(0, 10)}"
    if kind == "gb":
        outward = rule[1][int(rng.integers(0, len(rule[1])))]
        return f"{outward} {rng.integers(0, 10)}{''.join(rng.choice(_GB_LETTERS, 2))}"
    if kind == "range":
        _, lo, hi, width = rule
        return str(int(rng.integers(lo, hi + 1))).zfill(width)
    _, lo, hi = rule  # jp
    return f"{int(rng.integers(lo, hi + 1)):03d}-{int(rng.integers(0, 10000)):04d}"
