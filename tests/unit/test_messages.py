"""Customer messages: every kind in every language, escaping, SMS splitting and .eml bytes.

Run as a script (``uv run python tests/unit/test_messages.py [N]``) to time N renders (subject,
text, HTML and SMS) plus .eml bytes; the tests themselves are not timed.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
import string
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib import messages
from pipelines.lib.messages import (
    KINDS,
    SMS_KINDS,
    TRANSACTIONAL,
    Message,
    Renderer,
    build_eml,
    is_gsm7,
    locale_for,
    sms_parts,
)

NBSP = "\u00a0"  # CLDR puts a no-break space between amount and currency sign
NNBSP = "\u202f"  # French group separator in CLDR

COUNTRY = {"en": "US", "de": "DE", "fr": "FR"}
CURRENCY = {"en": "USD", "de": "EUR", "fr": "EUR"}
TOTAL = {"en": "$1,234.50", "de": f"1.234,50{NBSP}€", "fr": f"1{NNBSP}234,50{NBSP}€"}
REFUND = {"en": "$34.50", "de": f"34,50{NBSP}€", "fr": f"34,50{NBSP}€"}
PROMISED = {"en": "December 3, 2026", "de": "3. Dezember 2026", "fr": "3 décembre 2026"}
BACKORDER_DATE = {"en": "December 10, 2026", "de": "10. Dezember 2026", "fr": "10 décembre 2026"}
DELIVERED = {"en": "December 2, 2026", "de": "2. Dezember 2026", "fr": "2 décembre 2026"}
NEUTRAL = {"en": "Hello,", "de": "Guten Tag,", "fr": "Bonjour,"}
PAY = {
    "en": "Please complete the payment of",
    "de": "Bitte schließen Sie die Zahlung über",
    "fr": "Merci de finaliser le paiement de",
}
ADDRESS = {
    "en": "Please check it and send us the correct address",
    "de": "Bitte prüfen Sie sie und teilen Sie uns die richtige Adresse mit",
    "fr": "Merci de la vérifier et de nous indiquer l’adresse correcte",
}
UNSUBSCRIBE = {"en": "review requests", "de": "Bewertungen", "fr": "demandes d’avis"}

TRACKING_URL = "https://track.example/ups?n=1Z999AA10123456784&lang=x"
TRACKING_PAGE = "https://shop.example/orders/AC-1001?key=k-77"


def make_context(language: str = "en", **changes: object) -> dict:
    country = COUNTRY[language]
    context = {
        "brand": "Acme Home",
        "support_email": "help@acme.example",
        "tracking_page_url": TRACKING_PAGE,
        "order": {
            "number": "AC-1001",
            "key": "k-77",
            "channel": "web",
            "customer_name": "Zoë Müller",
            "email": "zoe@example.com",
            "currency": CURRENCY[language],
            "total": Decimal("1234.50"),
            "ordered_at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
            "ship_to": {
                "name": "Zoë Müller",
                "address1": "Hauptstraße 5",
                "address2": "Hinterhaus",
                "city": "Springfield",
                "region": "IL" if country == "US" else "",
                "postal_code": "62701",
                "country": country,
            },
        },
        "lines": [
            {
                "sku": "KET-1",
                "name": "Enamel Kettle",
                "quantity": 2,
                "unit_price": Decimal("17.25"),
            },
            {
                "sku": "SHE-2",
                "name": "Percale Sheet Set",
                "quantity": 1,
                "unit_price": Decimal("1200"),
            },
        ],
        "holds": [
            {"reason": "AWAITING_PAYMENT", "detail": "card declined"},
            {"reason": "INCORRECT_ADDRESS", "detail": "street not found"},
        ],
        "backorders": [
            {
                "sku": "LMP-3",
                "name": "Brass Lamp",
                "quantity": 1,
                "promised_date": date(2026, 12, 10),
            }
        ],
        "parcels": [
            {
                "carrier": "UPS",
                "service": "Ground",
                "tracking_number": "1Z999AA10123456784",
                "tracking_url": TRACKING_URL,
                "promised_delivery_date": date(2026, 12, 3),
            }
        ],
        "delivered_at": datetime(2026, 12, 2, 15, 4, tzinfo=UTC),
        "promised_delivery_date": date(2026, 12, 3),
        "returned": [{"sku": "KET-1", "name": "Enamel Kettle", "quantity": 1}],
        "refund_amount": Decimal("34.50"),
        "currency": CURRENCY[language],
    }
    context.update(changes)
    return context


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def html_text(html: str) -> str:
    """The HTML with tags removed and the few entities we emit decoded."""
    text = re.sub(r"<[^>]+>", " ", html)
    return text.replace("&amp;", "&").replace("&#39;", "'").replace("&#34;", '"')


# --------------------------------------------------------------------------------------------
# Every kind in every language


@pytest.mark.parametrize("language", ["en", "de", "fr"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_every_language(renderer: Renderer, kind: str, language: str):
    message = renderer.render(kind, make_context(language), country=COUNTRY[language])
    assert isinstance(message, Message)
    assert (message.kind, message.language) == (kind, language)
    assert message.locale == f"{language}_{COUNTRY[language]}"
    plain_html = html_text(message.html)

    assert "AC-1001" in message.subject
    for body in (message.text, plain_html):
        assert "AC-1001" in body
        assert "Zoë Müller" in body
        assert "help@acme.example" in body
        assert ("Acme Home" in body) and body.count("{") == 0  # no unfilled placeholder
    assert message.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in message.html
    assert '<a href="mailto:help@acme.example"' in message.html
    assert message.text.endswith("\n") and "\n\n\n" not in message.text

    unsubscribe = UNSUBSCRIBE[language]
    if kind == "review_request":
        assert unsubscribe in message.text and unsubscribe in plain_html
    else:
        assert unsubscribe not in message.text and unsubscribe not in plain_html

    if kind in SMS_KINDS:
        assert len(message.sms) == 1, message.sms
        assert all(is_gsm7(part) for part in message.sms), message.sms
        assert "AC-1001" in message.sms[0]
    else:
        assert message.sms == ()

    if kind in {"shipped", "partially_shipped", "out_for_delivery", "delayed"}:
        for body in (message.text, plain_html):
            assert "UPS Ground" in body
            assert "1Z999AA10123456784" in body
            assert PROMISED[language] in body
        assert TRACKING_URL in message.text
        assert f'href="{TRACKING_URL.replace("&", "&amp;")}"' in message.html
        assert f'href="{TRACKING_PAGE}"' in message.html
        assert TRACKING_PAGE in message.text
        sms = "".join(message.sms)
        if kind == "delayed":
            assert PROMISED[language] in sms and TRACKING_PAGE in sms
        else:
            assert "UPS 1Z999AA10123456784" in sms

    if kind in {"shipped", "partially_shipped", "backordered"}:
        for body in (message.text, plain_html):
            assert "Brass Lamp" in body and BACKORDER_DATE[language] in body

    if kind == "order_confirmed":
        for body in (message.text, plain_html):
            assert TOTAL[language] in body
            assert "Enamel Kettle" in body and "Hauptstraße 5" in body

    if kind == "action_needed":
        for body in (message.text, plain_html):
            assert PAY[language] in body and TOTAL[language] in body
            assert ADDRESS[language] in body
            assert "Hauptstraße 5" in body and "Hinterhaus" in body  # the address we have
            assert "card declined" in body and "street not found" in body
            assert TRACKING_PAGE in body

    if kind == "delivered":
        for body in (message.text, plain_html):
            assert DELIVERED[language] in body
        assert DELIVERED[language] in message.sms[0]

    if kind == "return_received":
        for body in (message.text, plain_html):
            assert "1 × Enamel Kettle" in body

    if kind == "refund_issued":
        for body in (message.text, plain_html):
            assert REFUND[language] in body


def test_english_and_german_formatting_examples(renderer: Renderer):
    en = renderer.render("order_confirmed", make_context("en"), country="US")
    de = renderer.render("order_confirmed", make_context("de"), country="DE")
    assert "$1,234.50" in en.text and "November 28, 2026" in en.text
    assert f"1.234,50{NBSP}€" in de.text and "28. November 2026" in de.text
    assert "Springfield, IL 62701" in en.text and "United States" in en.text
    assert "62701 Springfield" in de.text and "Deutschland" in de.text
    assert en.subject == "Your Acme Home order AC-1001 is confirmed"
    assert de.subject == "Ihre Bestellung AC-1001 bei Acme Home ist bestätigt"


def test_country_picks_locale_and_currency_follows_the_order(renderer: Renderer):
    gb = renderer.render("refund_issued", make_context("en", currency="GBP"), country="gb")
    assert (gb.language, gb.locale) == ("en", "en_GB")
    assert "£34.50" in gb.text
    ch = renderer.render("refund_issued", make_context("de", currency="CHF"), country="CH")
    assert (ch.language, ch.locale) == ("de", "de_CH")
    assert f"CHF{NBSP}34.50" in ch.text
    jp = renderer.render("shipped", make_context("en"), country="JP")
    assert (jp.language, jp.locale) == ("en", "en")
    unknown = renderer.render("shipped", make_context("en"), country=None)
    assert (unknown.language, unknown.locale) == ("en", "en_US")


# --------------------------------------------------------------------------------------------
# Escaping and missing values


def test_html_is_escaped(renderer: Renderer):
    context = make_context("en")
    context["order"]["customer_name"] = "<script>alert('x')</script>"
    context["lines"][0]["name"] = 'Pots & Pans <b>"Pro"</b>'
    context["parcels"][0]["tracking_url"] = "javascript:alert(1)"
    context["brand"] = "A&B <Home>"
    message = renderer.render("order_confirmed", context, country="US")
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in message.html
    assert "Pots &amp; Pans &lt;b&gt;&#34;Pro&#34;&lt;/b&gt;" in message.html
    assert "A&amp;B &lt;Home&gt;" in message.html
    assert "<script>alert('x')</script>" in message.text  # plain text stays as it is
    shipped = renderer.render("shipped", context, country="US")
    assert "javascript:" not in shipped.html and "javascript:" not in shipped.text
    assert "1Z999AA10123456784" in shipped.html  # the number is still shown, unlinked


def test_missing_optional_values_do_not_crash(renderer: Renderer):
    context = make_context("de")
    context["order"]["customer_name"] = None
    context["parcels"] = [
        {
            "carrier": "DHL",
            "service": None,
            "tracking_number": "0034",
            "tracking_url": None,
            "promised_delivery_date": None,
        },
    ]
    context["backorders"] = [{"sku": "X", "name": "Lampe", "quantity": 1, "promised_date": None}]
    context["promised_delivery_date"] = None
    context["delivered_at"] = None
    del context["order"]["ship_to"]
    for kind in KINDS:
        message = renderer.render(kind, context, country="DE")
        assert message.text.startswith(NEUTRAL["de"] + "\n")
        assert f">{NEUTRAL['de']}</p>" in message.html
        assert "None" not in message.text and "None" not in message.html
        assert "Voraussichtliche Zustellung" not in message.text
    shipped = renderer.render("shipped", context, country="DE")
    assert "DHL, Sendungsnummer 0034" in shipped.text
    assert "1 × Lampe" in shipped.text
    assert "bis zum" not in renderer.render("delayed", context, country="DE").text


def test_bare_minimum_context_renders_every_kind(renderer: Renderer):
    for kind in KINDS:
        for country in ("US", "DE", "FR"):
            message = renderer.render(kind, {"order": {"number": "N-1"}}, country=country)
            assert "N-1" in message.subject and "N-1" in message.text


def test_unknown_kind_and_missing_order_number_raise(renderer: Renderer):
    with pytest.raises(ValueError, match="unknown message kind"):
        renderer.render("invoice", make_context(), country="US")
    with pytest.raises(ValueError, match="order"):
        renderer.render("shipped", {"brand": "x"}, country="US")


def test_kinds_and_sets():
    assert len(KINDS) == 11
    assert frozenset(KINDS) - {"review_request"} == TRANSACTIONAL
    assert SMS_KINDS <= TRANSACTIONAL


# --------------------------------------------------------------------------------------------
# Locale, catalogs, templates


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("US", ("en", "en_US")),
        ("GB", ("en", "en_GB")),
        ("CA", ("en", "en_CA")),
        ("AU", ("en", "en_AU")),
        ("IE", ("en", "en_IE")),
        ("DE", ("de", "de_DE")),
        ("AT", ("de", "de_AT")),
        ("CH", ("de", "de_CH")),
        ("LI", ("de", "de_LI")),
        ("FR", ("fr", "fr_FR")),
        ("BE", ("fr", "fr_BE")),
        ("LU", ("fr", "fr_LU")),
        ("MC", ("fr", "fr_MC")),
        ("JP", ("en", "en")),
        ("NL", ("en", "en")),
        (" de ", ("de", "de_DE")),
        ("fr", ("fr", "fr_FR")),
        (None, ("en", "en_US")),
        ("", ("en", "en_US")),
        ("XX", ("en", "en_US")),
        ("USA", ("en", "en_US")),
    ],
)
def test_locale_for(country: str | None, expected: tuple[str, str]):
    assert locale_for(country) == expected


def test_catalogs_have_the_same_keys_and_placeholders():
    catalogs = messages.load_catalogs(messages.DEFAULT_TEMPLATES)
    assert set(catalogs) >= {"en", "de", "fr"}
    english = catalogs["en"]
    for language, entries in catalogs.items():
        assert set(entries) == set(english), language
        for key, wording in entries.items():
            assert messages.placeholders(wording) == messages.placeholders(english[key]), (
                language,
                key,
            )
            if key.rsplit(".", 1)[1].startswith("sms"):
                assert is_gsm7(wording), (language, key, wording)
    for kind in KINDS:
        assert f"{kind}.subject" in english


def test_inlined_includes_render_like_real_includes(renderer: Renderer):
    plain = Renderer(inline_includes=False)
    for kind in KINDS:
        for language in ("en", "de", "fr"):
            context = make_context(language)
            context["parcels"] = context["parcels"] * 2
            country = COUNTRY[language]
            assert renderer.render(kind, context, country=country) == plain.render(
                kind, context, country=country
            )


@pytest.mark.parametrize(
    "locale_name",
    [
        "en_US",
        "en_GB",
        "en",
        "en_IN",
        "de_DE",
        "de_CH",
        "de_AT",
        "fr_FR",
        "fr_CH",
        "fr_BE",
        "ja_JP",
        "ar_EG",
    ],
)
def test_money_matches_babel(locale_name: str):
    formatter = messages._Formatter(locale_name)
    rng = random.Random(locale_name)
    for currency in ("USD", "EUR", "GBP", "CHF", "JPY", "KWD"):
        for _ in range(300):
            value = Decimal(rng.randint(0, 10**9)).scaleb(-rng.randint(0, 4))
            expected = format_currency(value, currency, locale=locale_name)
            assert formatter.money(value, currency) == expected, (value, currency)
        assert formatter.money(Decimal("-12.5"), currency) == format_currency(
            Decimal("-12.5"), currency, locale=locale_name
        )
    assert formatter.money(None, "USD") == ""


# --------------------------------------------------------------------------------------------
# SMS


def gsm_septets(text: str) -> int:
    return sum(2 if c in "\f^{}\\[~]|€" else 1 for c in text)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_parts(text: str, parts: tuple[str, ...]) -> None:
    assert "".join(parts) == text  # nothing dropped, nothing added
    assert all(parts)
    if is_gsm7(text):
        limit_single, limit_part, size = 160, 153, gsm_septets
    else:
        limit_single, limit_part, size = 70, 67, utf16_units
    if len(parts) == 1:
        assert size(parts[0]) <= limit_single
    else:
        assert size(text) > limit_single
        assert all(size(part) <= limit_part for part in parts)


def test_sms_gsm_single_and_concatenated():
    assert sms_parts("") == ()
    assert sms_parts("a" * 160) == ("a" * 160,)
    parts = sms_parts("a" * 161)
    assert [len(p) for p in parts] == [153, 8]
    check_parts("a" * 161, parts)
    assert len(sms_parts("a" * 306)) == 2 and len(sms_parts("a" * 307)) == 3


def test_sms_extension_characters_count_two_septets():
    assert is_gsm7("Preis: 5 € [inkl.] {x} ~ ^ \\ |")
    assert sms_parts("a" * 158 + "€") == ("a" * 158 + "€",)  # 160 septets
    parts = sms_parts("a" * 159 + "€")  # 161 septets
    assert parts == ("a" * 153, "a" * 6 + "€")
    # an escape pair never straddles parts: 152 septets + € would make 154
    parts = sms_parts("a" * 152 + "€" + "b" * 20)
    assert parts[0] == "a" * 152 and parts[1].startswith("€")
    check_parts("a" * 152 + "€" + "b" * 20, parts)


def test_sms_non_gsm_goes_ucs2():
    assert not is_gsm7("Łódź") and not is_gsm7("ok 👍") and not is_gsm7("ç")
    assert sms_parts("ł" * 70) == ("ł" * 70,)
    parts = sms_parts("ł" * 71)
    assert [len(p) for p in parts] == [67, 4]
    # an emoji is two UTF-16 code units and is never split
    assert sms_parts("😀" * 35) == ("😀" * 35,)  # 70 units
    parts = sms_parts("😀" * 36)  # 72 units: 33 emoji (66 units) + 3
    assert parts == ("😀" * 33, "😀" * 3)
    text = "x" + "😀" * 40
    check_parts(text, sms_parts(text))


def test_sms_prefers_cutting_at_a_space():
    text = " ".join(["parcel"] * 40)  # 279 characters
    parts = sms_parts(text)
    check_parts(text, parts)
    assert len(parts) == 2
    assert parts[0].endswith("parcel ") and parts[1].startswith("parcel")  # space stays left
    # no space within the last 20 characters: cut hard at the limit
    text = "a b" + "c" * 200
    assert sms_parts(text)[0] == text[:153]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab €[ ł😀\n" + string.ascii_letters)), max_size=700))
def test_sms_parts_property(text: str):
    parts = sms_parts(text)
    if text:
        check_parts(text, parts)
    else:
        assert parts == ()


def test_long_sms_from_a_render_splits(renderer: Renderer):
    context = make_context("en")
    context["holds"] = [
        {"reason": "AWAITING_PAYMENT", "detail": ""},
        {"reason": "INCORRECT_ADDRESS", "detail": ""},
        {"reason": "OTHER", "detail": ""},
    ]
    context["tracking_page_url"] = "https://shop.example/orders/" + "x" * 60
    message = renderer.render("action_needed", context, country="US")
    assert len(message.sms) == 2
    check_parts("".join(message.sms), message.sms)


# --------------------------------------------------------------------------------------------
# .eml


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_eml_round_trips(renderer: Renderer):
    message = renderer.render("shipped", make_context("de"), country="DE")
    sent = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    raw = build_eml(
        message,
        sender="Acme Home <noreply@acme.example>",
        recipient="Zoë Müller <zoe@example.com>",
        message_id="m-1@acme.example",
        date=sent,
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert raw.isascii()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    parsed = parse(raw)
    assert (
        parsed["Subject"]
        == message.subject
        == "Ihre Bestellung AC-1001 bei Acme Home wurde versandt"
    )
    assert parsed["From"].addresses[0].addr_spec == "noreply@acme.example"
    assert parsed["To"].addresses[0].display_name == "Zoë Müller"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.com"
    assert parsed["Date"].datetime == sent
    assert parsed["Message-ID"] == "<m-1@acme.example>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] is None
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == message.html.rstrip("\n")
    assert not parsed.defects and not plain.defects and not html.defects


def test_eml_utf8_subject_and_unsubscribe_header():
    subject = "Ihre Bestellung … ü " + "Überraschung " * 8
    message = Message(
        kind="review_request",
        language="de",
        locale="de_DE",
        subject=subject,
        text="Hallo,\n\nÜberall grüße " + "x" * 200 + "\n",
        html="<p>Grüße &amp; mehr</p>\n",
        sms=(),
        support_email="help@acme.example",
    )
    raw = build_eml(
        message,
        sender="noreply@acme.example",
        recipient="a@example.com",
        message_id="<x@y>",
        date=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"=?utf-8?b?" in head
    parsed = parse(raw)
    assert parsed["Subject"] == " ".join(subject.split())
    assert parsed["List-Unsubscribe"] == "<mailto:help@acme.example?subject=unsubscribe>"
    plain = parsed.get_body(preferencelist=("plain",)).get_content()
    assert plain.replace("\r\n", "\n") == message.text
    assert parsed.get_body(preferencelist=("html",)).get_content().startswith("<p>Grüße &amp;")


def test_eml_long_ascii_subject_folds_and_rejects_bad_input():
    message = Message("shipped", "en", "en_US", "Order " + "word " * 30, "t\n", "<p>h</p>", ())
    raw = build_eml(
        message,
        sender="a@b.example",
        recipient="c@d.example",
        message_id="1@b",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parse(raw)["Subject"] == " ".join(message.subject.split())
    with pytest.raises(ValueError):
        build_eml(
            message,
            sender="a@b.example",
            recipient="c@d.example\r\nBcc: x@y.example",
            message_id="1@b",
            date=datetime(2026, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(ValueError):
        build_eml(
            message,
            sender="a@b.example",
            recipient="c@d.example",
            message_id="1@b",
            date=datetime(2026, 1, 1),
        )


# --------------------------------------------------------------------------------------------
# Speed (by hand)


def _bench_jobs(count: int) -> list[tuple[str, dict, str | None]]:
    rng = random.Random(7)
    countries = ["US", "US", "GB", "CA", "DE", "DE", "AT", "CH", "FR", "BE", "JP", None]
    jobs = []
    for i in range(count):
        language = rng.choice(["en", "de", "fr"])
        context = make_context(language)
        context["order"] = dict(
            context["order"],
            number=f"AC-{100000 + i}",
            total=Decimal(rng.randint(100, 900000)) / 100,
        )
        context["lines"] = [
            dict(line, unit_price=Decimal(rng.randint(100, 50000)) / 100)
            for line in context["lines"]
        ]
        base = date(2026, 11, 1) + timedelta(days=rng.randint(0, 60))
        context["parcels"] = [
            dict(context["parcels"][0], tracking_number=f"1Z{i:016d}", promised_delivery_date=base)
        ]
        context["refund_amount"] = Decimal(rng.randint(100, 50000)) / 100
        jobs.append((KINDS[i % len(KINDS)], context, rng.choice(countries)))
    return jobs


def main(count: int) -> None:
    jobs = _bench_jobs(count)
    started = time.perf_counter()
    renderer = Renderer()
    sent = datetime(2026, 12, 1, tzinfo=UTC)
    size = 0
    for i, (kind, context, country) in enumerate(jobs):
        message = renderer.render(kind, context, country=country)
        size += len(
            build_eml(
                message,
                sender="Acme Home <noreply@acme.example>",
                recipient=f"c{i}@example.com",
                message_id=f"m{i}@acme.example",
                date=sent,
            )
        )
    elapsed = time.perf_counter() - started
    print(
        f"{count} messages + .eml in {elapsed:.2f} s ({elapsed / count * 1e6:.0f} µs each, "
        f"{size / count:.0f} bytes of .eml on average)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
