"""Customer messages for order notifications: email subject, plain text, HTML and SMS.

A pure module (no database, no Dagster): the caller hands over a kind, a plain context dict
and the customer's country, and gets back a :class:`Message`; :func:`build_eml` turns one into
the bytes of a MIME email. Rendering the four formats of 100,000 messages and building their
.eml bytes takes about 12 s on one (shared, slowish) core, ~95 us a render plus ~25 us an .eml
(``uv run python tests/unit/test_messages.py [N]`` measures it).

Layout of ``pipelines/templates/messages/``:

* ``i18n/<language>.toml`` -- the customer-visible wording, one catalog per language (``en``,
  ``de``, ``fr``). Translators edit these files only. Keys are ``<table>.<key>``; text in
  ``{braces}`` is a placeholder the templates fill in (keep the names, move them freely). A key
  missing from a translation falls back to English. SMS wording (``sms_*`` keys) should stay
  within the GSM-7 alphabet (no ê, ç, ’ or €), or the SMS costs more than twice as much.
* ``html/<kind>.html`` extends ``html/_layout.html`` (brand header, footer with the support
  address and, for marketing messages, the unsubscribe sentence). Autoescaped.
* ``text/<kind>.txt`` extends ``text/_layout.txt``; ``sms/<kind>.txt`` for the kinds in
  :data:`SMS_KINDS`. Partials (``_parcels``, ``_items``, ...) are included with context.
* The subject is the catalog's ``<kind>.subject`` with ``{brand}`` and ``{number}``.

Inside templates: ``t("key", name=value)`` looks up the catalog (in HTML the wording is
escaped and so are the values, except ``Markup`` values such as a link built in the template);
filters ``money(amount, currency=order currency)``, ``date``, ``datetime`` format for the
message locale with Babel; ``safe_url`` keeps only http(s) URLs. Variables: the caller's
context plus ``kind``, ``language``, ``locale``, ``subject``, ``greeting`` and
``address_lines`` (the ship-to address, formatted for its country).

Decisions worth knowing about:

* **Locale.** German for DE/AT/CH/LI, French for FR/BE/LU/MC, English elsewhere. Formatting
  uses the Babel locale ``<language>_<COUNTRY>`` when Babel has it *and* CLDR lists the
  language as official or de-facto in that country (en_US, en_GB, en_CA, en_AU, de_CH, fr_BE,
  ...); otherwise the language alone (JP -> ``en``). No or an unknown country -> ``en_US``.
* **Speed.** Templates are compiled once per :class:`Renderer` (``auto_reload`` off) and the
  catalogs are loaded once. Money goes through a per-(locale, currency) fast formatter that
  is checked against ``babel.numbers.format_currency`` on sample values when it is built and
  falls back to Babel where they differ; dates are cached per locale.
* **SMS.** Whitespace is collapsed to single spaces; :func:`sms_parts` splits on the GSM 03.38
  / UCS-2 limits and never drops a character: ``"".join(sms_parts(text)) == text``. When a
  part is cut at a space, the space stays at the end of that part.
* **.eml.** :func:`build_eml` writes the MIME by hand (``email.message.EmailMessage`` costs
  about 0.3 ms a message): CRLF line ends, multipart/alternative with a quoted-printable UTF-8
  text part and a base64 UTF-8 HTML part (base64 is twice as fast as quoted-printable on the
  3-4 KB of HTML), RFC 2047 encoded-word subjects folded under 78 characters, a constant
  boundary starting with ``=_`` (which neither encoding can produce). Marketing kinds get
  ``List-Unsubscribe: <mailto:support?subject=unsubscribe>`` from ``Message.support_email``.
* **Jinja speed-ups.** Partials are pasted into their callers at load time (see
  ``_InliningLoader``), ``obj.name`` on a dict is a key lookup first, and templates render on
  a shared context; together about twice as fast as plain ``Template.render``.
"""

from __future__ import annotations

import binascii
import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date as _date
from datetime import datetime as _datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime as _rfc2822_date
from email.utils import formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from babel import Locale, localedata
from babel.dates import format_date, format_datetime
from babel.languages import get_official_languages
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
)
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Template, meta, pass_context
from jinja2.runtime import new_context
from markupsafe import Markup, escape

__all__ = [
    "DEFAULT_TEMPLATES",
    "KINDS",
    "SMS_KINDS",
    "TRANSACTIONAL",
    "Message",
    "Renderer",
    "build_eml",
    "is_gsm7",
    "locale_for",
    "sms_parts",
]

KINDS = (
    "order_confirmed",
    "action_needed",
    "backordered",
    "partially_shipped",
    "shipped",
    "out_for_delivery",
    "delivered",
    "delayed",
    "return_received",
    "refund_issued",
    "review_request",
)
TRANSACTIONAL = frozenset(KINDS) - {"review_request"}  # review_request is marketing
SMS_KINDS = frozenset(
    {"action_needed", "shipped", "partially_shipped", "out_for_delivery", "delivered", "delayed"}
)

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "messages"

BASE_LANGUAGE = "en"
DEFAULT_LOCALE = ("en", "en_US")
LANGUAGE_BY_COUNTRY = {
    "DE": "de",
    "AT": "de",
    "CH": "de",
    "LI": "de",
    "FR": "fr",
    "BE": "fr",
    "LU": "fr",
    "MC": "fr",
}


@dataclass(frozen=True)
class Message:
    kind: str
    language: str  # "en", "de", "fr"
    locale: str  # Babel locale used for formatting, e.g. "en_US", "de_DE", "en_GB"
    subject: str
    text: str  # plain-text email body
    html: str  # HTML email body (autoescaped)
    sms: tuple[str, ...]  # SMS parts ready to send; () for kinds not in SMS_KINDS
    support_email: str = ""  # from the context; the List-Unsubscribe mailto of marketing mail


# --------------------------------------------------------------------------------------------
# Locale


@lru_cache(maxsize=1024)
def _known_countries() -> frozenset[str]:
    return frozenset(
        code for code in Locale.parse("en").territories if len(code) == 2 and code.isalpha()
    )


@lru_cache(maxsize=1024)
def locale_for(country: str | None) -> tuple[str, str]:
    """(language, Babel locale) for an ISO 3166 alpha-2 country code (any case)."""
    if not country:
        return DEFAULT_LOCALE
    code = country.strip().upper()
    if code not in _known_countries():
        return DEFAULT_LOCALE
    language = LANGUAGE_BY_COUNTRY.get(code, BASE_LANGUAGE)
    candidate = f"{language}_{code}"
    if localedata.exists(candidate) and language in get_official_languages(code, de_facto=True):
        return language, candidate
    return language, language


# --------------------------------------------------------------------------------------------
# Formatting (money, dates) per locale


def _to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, ChainableUndefined):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


class _MoneyFormat:
    """Locale + currency formatting as ``template.format(grouped digits)``, Babel-checked."""

    SAMPLES = ("0", "0.5", "7", "12.345", "999.995", "1000", "1234.5", "100000", "1234567.891")

    def __init__(self, locale: Locale, currency: str) -> None:
        self.locale = locale
        self.currency = currency
        self.precision = get_currency_precision(currency)
        self.quantum = Decimal(1).scaleb(-self.precision)
        self.table = str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})
        self.spec = f",.{self.precision}f"
        sentinel = Decimal("1234567.891")
        babel_text = format_currency(sentinel, currency, locale=locale)
        number = self._digits(sentinel)
        self.template: str | None = None
        if babel_text.count(number) == 1:
            self.template = babel_text.replace("{", "{{").replace("}", "}}").replace(number, "{}")
            for sample in self.SAMPLES:
                value = Decimal(sample)
                if self.format(value) != format_currency(value, currency, locale=locale):
                    self.template = None
                    break

    def _digits(self, value: Decimal) -> str:
        return format(value.quantize(self.quantum), self.spec).translate(self.table)

    def format(self, value: Decimal) -> str:
        if self.template is None or value < 0:
            return format_currency(value, self.currency, locale=self.locale)
        return self.template.format(self._digits(value))


class _Formatter:
    """Money and date formatting for one Babel locale, with small caches."""

    CACHE_LIMIT = 20_000

    def __init__(self, locale_name: str) -> None:
        self.locale_name = locale_name
        self.locale = Locale.parse(locale_name)
        self._money_formats: dict[str, _MoneyFormat] = {}
        self._money: dict[tuple[Decimal, str], str] = {}
        self._dates: dict[_date, str] = {}
        self._territories = self.locale.territories

    def money(self, amount: Any, currency: str) -> str:
        value = _to_decimal(amount)
        if value is None or not currency:
            return ""
        key = (value, currency)
        text = self._money.get(key)
        if text is None:
            fmt = self._money_formats.get(currency)
            if fmt is None:
                fmt = self._money_formats[currency] = _MoneyFormat(self.locale, currency)
            text = fmt.format(value)
            if len(self._money) >= self.CACHE_LIMIT:
                self._money.clear()
            self._money[key] = text
        return text

    def date(self, value: Any) -> str:
        if isinstance(value, _datetime):
            value = value.date()
        elif not isinstance(value, _date):
            return ""
        text = self._dates.get(value)
        if text is None:
            text = format_date(value, "long", locale=self.locale)
            if len(self._dates) >= self.CACHE_LIMIT:
                self._dates.clear()
            self._dates[value] = text
        return text

    def datetime(self, value: Any) -> str:
        if not isinstance(value, _datetime):
            return self.date(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, "medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def country_name(self, code: str) -> str:
        return self._territories.get(code, code)


# The filters find the message's formatter and catalog in the render context (``ctx.parent``
# holds the variables passed to ``render``; a plain dict lookup is the cheapest way in).


@pass_context
def _money_filter(ctx: Any, amount: Any, currency: str | None = None) -> str:
    return ctx.parent["_fmt"].money(amount, currency or ctx.parent["_currency"])


@pass_context
def _date_filter(ctx: Any, value: Any) -> str:
    return ctx.parent["_fmt"].date(value)


@pass_context
def _datetime_filter(ctx: Any, value: Any) -> str:
    return ctx.parent["_fmt"].datetime(value)


_HTML_SAFE_TYPES = frozenset({Markup, int, Decimal})  # their str() needs no escaping
_markup = str.__new__


@pass_context
def _t_filter(ctx: Any, key: str, /, **values: Any) -> str:
    """``"table.key"|t(name=value)``: the catalog wording with its placeholders filled in.

    In autoescaped (HTML) templates the wording and the values are escaped (``Markup`` values,
    such as a link built in the template, pass as they are) and the result is ``Markup``.
    """
    catalog = ctx.parent["_catalog"]
    if ctx.eval_ctx.autoescape:
        wording = catalog.escaped[key]
        if values:
            wording = wording.format_map(
                {
                    name: v if v.__class__ in _HTML_SAFE_TYPES else escape(v)
                    for name, v in values.items()
                }
            )
        return _markup(Markup, wording)  # str.__new__: skips Markup.__new__'s Python checks
    wording = catalog.entries[key]
    return wording.format_map(values) if values else wording


_URL_SPACE = re.compile(r"\s")


def _safe_url(value: Any) -> str:
    """The URL if it is http(s), else "" (keeps ``javascript:`` and friends out of hrefs)."""
    if not isinstance(value, str):
        return ""
    url = value.strip()
    head = url[:8].lower()
    if head.startswith(("https://", "http://")) and not _URL_SPACE.search(url):
        return url
    return ""


# --------------------------------------------------------------------------------------------
# Catalogs


class _Catalog:
    """One language's wording, as written and HTML-escaped (braces survive escaping)."""

    def __init__(self, language: str, entries: Mapping[str, str]) -> None:
        self.language = language
        self.entries = dict(entries)
        self.escaped = {key: str(escape(value)) for key, value in self.entries.items()}


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise ValueError(f"catalog entry {name!r} must be text, not {type(value).__name__}")
    return flat


def load_catalogs(templates_dir: Path) -> dict[str, dict[str, str]]:
    """Every ``i18n/<language>.toml`` as flat ``{"table.key": wording}`` dicts (no fallback)."""
    catalogs: dict[str, dict[str, str]] = {}
    for path in sorted((templates_dir / "i18n").glob("*.toml")):
        with path.open("rb") as handle:
            catalogs[path.stem] = _flatten(tomllib.load(handle))
    if BASE_LANGUAGE not in catalogs:
        raise ValueError(f"no {BASE_LANGUAGE}.toml catalog in {templates_dir / 'i18n'}")
    return catalogs


def placeholders(wording: str) -> set[str]:
    """The ``{names}`` used in one catalog entry."""
    return {field for _, field, _, _ in string.Formatter().parse(wording) if field}


# --------------------------------------------------------------------------------------------
# Addresses

_CITY_REGION_POSTAL = frozenset({"US", "CA", "AU", "PR"})
_CITY_THEN_POSTAL = frozenset({"GB", "IE", "IM", "JE", "GG"})


def _address_lines(address: Any, formatter: _Formatter) -> list[str]:
    if not isinstance(address, Mapping):
        return []

    def part(name: str) -> str:
        value = address.get(name)
        return str(value).strip() if value is not None else ""

    country = part("country").upper()
    city, region, postal = part("city"), part("region"), part("postal_code")
    lines = [part("name"), part("address1"), part("address2")]
    if country in _CITY_REGION_POSTAL:
        tail = " ".join(x for x in (region, postal) if x)
        lines.append(", ".join(x for x in (city, tail) if x))
    elif country in _CITY_THEN_POSTAL:
        lines += [city, region, postal]
    else:
        lines += [" ".join(x for x in (postal, city) if x), region]
    if country:
        lines.append(formatter.country_name(country))
    return [line for line in lines if line]


# --------------------------------------------------------------------------------------------
# Renderer

_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


_INCLUDE = re.compile(r'^[ \t]*\{%-?\s*include\s+"([^"]+)"\s*-?%\}[ \t]*\n?', re.MULTILINE)


class _InliningLoader(FileSystemLoader):
    """Pastes ``{% include "name" %}`` partials into the including template at load time.

    An include costs a new render context on every render; pasted in, the partial compiles
    into its caller, which renders the same text (trim_blocks eats the newline after the tag
    and Jinja drops the partial's final newline, so the paste drops both). Partials share the
    caller's variables, as included templates with context do. Line numbers in error
    messages refer to the expanded text.
    """

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        return self._expand(environment, source, (template,)), filename, uptodate

    def _expand(self, environment: Environment, source: str, stack: tuple[str, ...]) -> str:
        def paste(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in stack:
                raise ValueError(f"recursive include of {name!r} via {' -> '.join(stack)}")
            inner = super(_InliningLoader, self).get_source(environment, name)[0]
            inner = self._expand(environment, inner, (*stack, name))
            body = inner[:-1] if inner.endswith("\n") else inner
            # A partial ending in a tag keeps its newline for trim_blocks to eat, or the tag
            # would eat the caller's next newline instead (tests compare with real includes).
            return inner if body.endswith(("%}", "#}")) else body

        return _INCLUDE.sub(paste, source)


class _Environment(Environment):
    """Looks ``obj.name`` up as a key first when ``obj`` is a dict (the context is plain dicts).

    Jinja's default tries the attribute first and pays for an AttributeError on every
    ``order.number``; this is about three times faster and gives the same values.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class _KindTemplates(NamedTuple):
    text: Template
    html: Template
    sms: Template | None
    uses_address: bool  # whether any of them reads ``address_lines``


class Renderer:
    """Renders :class:`Message` objects; build one and reuse it (templates compile once)."""

    def __init__(self, templates_dir: Path = DEFAULT_TEMPLATES, *, inline_includes: bool = True):
        self.templates_dir = Path(templates_dir)
        loader_class = _InliningLoader if inline_includes else FileSystemLoader
        self.env = _Environment(
            loader=loader_class(str(self.templates_dir)),
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters.update(
            t=_t_filter,
            money=_money_filter,
            date=_date_filter,
            datetime=_datetime_filter,
            safe_url=_safe_url,
        )
        raw = load_catalogs(self.templates_dir)
        base = raw[BASE_LANGUAGE]
        self.catalogs = {
            language: _Catalog(language, {**base, **entries}) for language, entries in raw.items()
        }
        self.languages = tuple(sorted(self.catalogs))
        self._templates = {kind: self._load(kind) for kind in KINDS}
        self._formatters: dict[str, _Formatter] = {}

    def _load(self, kind: str) -> _KindTemplates:
        names = [f"text/{kind}.txt", f"html/{kind}.html"]
        if kind in SMS_KINDS:
            names.append(f"sms/{kind}.txt")
        uses_address = False
        pending, seen = list(names), set()
        while pending:  # the templates and every layout or partial they pull in
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            tree = self.env.parse(self.env.loader.get_source(self.env, name)[0], name)
            uses_address |= "address_lines" in meta.find_undeclared_variables(tree)
            pending.extend(ref for ref in meta.find_referenced_templates(tree) if ref)
        return _KindTemplates(
            text=self.env.get_template(names[0]),
            html=self.env.get_template(names[1]),
            sms=self.env.get_template(names[2]) if len(names) > 2 else None,
            uses_address=uses_address,
        )

    def _run(self, template: Template, values: dict[str, Any]) -> str:
        # Template.render(values) copies the variables twice and walks the template globals;
        # a shared context uses them as they are (they already include the globals).
        try:
            context = new_context(self.env, template.name, template.blocks, values, shared=True)
            return "".join(template.root_render_func(context))
        except Exception:
            self.env.handle_exception()

    def formatter(self, locale_name: str) -> _Formatter:
        fmt = self._formatters.get(locale_name)
        if fmt is None:
            fmt = self._formatters[locale_name] = _Formatter(locale_name)
        return fmt

    def render(self, kind: str, context: Mapping[str, Any], *, country: str | None) -> Message:
        templates = self._templates.get(kind)
        if templates is None:
            raise ValueError(f"unknown message kind {kind!r}; expected one of {KINDS}")
        order = context.get("order")
        if not isinstance(order, Mapping) or not order.get("number"):
            raise ValueError("the context needs an order with a number")
        language, locale_name = locale_for(country)
        if language not in self.catalogs:
            language = BASE_LANGUAGE
        catalog = self.catalogs[language]
        fmt = self.formatter(locale_name)

        number = str(order["number"])
        brand = str(context.get("brand") or "")
        name = order.get("customer_name")
        name = name.strip() if isinstance(name, str) else ""
        entries = catalog.entries
        greeting = (
            entries["common.greeting"].format(name=name)
            if name
            else entries["common.greeting_neutral"]
        )
        subject = " ".join(entries[f"{kind}.subject"].format(brand=brand, number=number).split())
        values = {**self.env.globals, **context}
        values.update(
            kind=kind,
            language=language,
            locale=locale_name,
            subject=subject,
            greeting=greeting,
            address_lines=(
                _address_lines(order.get("ship_to"), fmt) if templates.uses_address else ()
            ),
            _catalog=catalog,
            _fmt=fmt,
            _currency=order.get("currency") or "",
        )
        text = _BLANK_LINES.sub("\n\n", self._run(templates.text, values)).strip() + "\n"
        sms: tuple[str, ...] = ()
        if templates.sms is not None:
            sms = sms_parts(" ".join(self._run(templates.sms, values).split()))
        html = self._run(templates.html, values)
        support = str(context.get("support_email") or "")
        return Message(kind, language, locale_name, subject, text, html, sms, support)


# --------------------------------------------------------------------------------------------
# SMS

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")  # sent as ESC + char: two septets each
_GSM = _GSM_BASIC | _GSM_EXTENSION

GSM_SINGLE, GSM_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units
SPACE_LOOKBACK = 20  # characters: cut at the last space this close to the limit


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM 03.38 basic or extension table."""
    return _GSM.issuperset(text)


def gsm7_septets(text: str) -> int:
    return len(text) + sum(text.count(c) for c in _GSM_EXTENSION if c in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _gsm_weight(char: str) -> int:
    return 2 if char in _GSM_EXTENSION else 1


def _ucs2_weight(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _split(text: str, limit: int, weight: Callable[[str], int]) -> tuple[str, ...]:
    parts: list[str] = []
    start, end = 0, len(text)
    while start < end:
        used, i = 0, start
        while i < end:
            w = weight(text[i])
            if used + w > limit:
                break
            used += w
            i += 1
        if i >= end:
            parts.append(text[start:])
            break
        cut = i
        space = text.rfind(" ", max(start + 1, i - SPACE_LOOKBACK), i)
        if space != -1:
            cut = space + 1
        parts.append(text[start:cut])
        start = cut
    return tuple(parts)


def sms_parts(text: str) -> tuple[str, ...]:
    """Split ``text`` into SMS parts: GSM-7 160 / 153 septets, else UCS-2 70 / 67 code units.

    Nothing is dropped or added: ``"".join(parts) == text``. A cut prefers the last space within
    the final ``SPACE_LOOKBACK`` characters of a part and leaves that space at the end of the
    part. GSM extension characters (two septets) and surrogate pairs are never split.
    """
    if not text:
        return ()
    if is_gsm7(text):
        if gsm7_septets(text) <= GSM_SINGLE:
            return (text,)
        return _split(text, GSM_PART, _gsm_weight)
    if ucs2_units(text) <= UCS2_SINGLE:
        return (text,)
    return _split(text, UCS2_PART, _ucs2_weight)


# --------------------------------------------------------------------------------------------
# .eml

_BOUNDARY = "=_oms_alternative_7b1f"  # "=_" never occurs in quoted-printable output
_TEXT_PART_HEAD = (
    f"\r\n\r\n--{_BOUNDARY}\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
).encode("ascii")
# The CRLF before a boundary belongs to the boundary: the extra one keeps the body's last line
# end, so a parsed part reads back exactly as rendered.
_HTML_PART_HEAD = (
    f"\r\n--{_BOUNDARY}\r\n"
    'Content-Type: text/html; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n"
).encode("ascii")
_END = f"\r\n--{_BOUNDARY}--\r\n".encode("ascii")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _header_text(value: str) -> str:
    return " ".join(_HEADER_UNSAFE.sub(" ", value).split())


def _base64(text: str) -> bytes:
    encoded = binascii.b2a_base64(text.encode("utf-8"), newline=False)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    lines.append(b"")
    return b"\r\n".join(lines)


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    encoded = binascii.b2a_qp(body.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


def _encode_subject(subject: str) -> str:
    """The Subject header value: plain folded ASCII, or RFC 2047 base64 encoded-words."""
    subject = _header_text(subject)
    if subject.isascii() and "=?" not in subject:
        lines: list[str] = []
        current = ""
        room = 78 - len("Subject: ")
        for word in subject.split(" "):
            candidate = f"{current} {word}" if current else word
            if len(candidate) > room and current:
                lines.append(current)
                current, room = word, 77
            else:
                current = candidate
        lines.append(current)
        return "\r\n ".join(lines)
    words: list[str] = []
    chunk = b""
    for char in subject:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 42:  # 42 bytes: 56 base64 chars, a 68-char word
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return "\r\n ".join(
        f"=?utf-8?b?{binascii.b2a_base64(w, newline=False).decode()}?=" for w in words
    )


_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _format_address(value: str) -> str:
    """A From/To header value: a bare ASCII address as it is, else via ``formataddr``."""
    if _SIMPLE_ADDRESS.fullmatch(value):
        return value
    return _format_named_address(value)


@lru_cache(maxsize=4096)
def _format_named_address(value: str) -> str:
    value = value.strip()
    if _HEADER_UNSAFE.search(value):
        raise ValueError(f"control characters in address {value!r}")
    name, addr = parseaddr(value)
    if not addr or "@" not in addr:
        raise ValueError(f"not an email address: {value!r}")
    local, _, domain = addr.rpartition("@")
    if not local.isascii():
        raise ValueError(f"non-ASCII local part needs SMTPUTF8: {value!r}")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return formataddr((name, f"{local}@{domain}"), charset="utf-8")


def address_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be the recipient of a message :func:`build_eml` writes, or None."""
    if value is None or not value.strip():
        return "no email address"
    try:
        _format_address(value.strip())
    except ValueError as exc:
        return f"unusable email address: {exc}"
    return None


@lru_cache(maxsize=1024)
def _date_header(value: _datetime) -> str:
    return _rfc2822_date(value)


def build_eml(
    message: Message, *, sender: str, recipient: str, message_id: str, date: _datetime
) -> bytes:
    """The message as RFC 5322 / MIME bytes (CRLF): multipart/alternative, text then HTML."""
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    message_id = message_id.strip()
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    if _HEADER_UNSAFE.search(message_id) or " " in message_id or "@" not in message_id:
        raise ValueError(f"bad Message-ID {message_id!r}")
    sender_header = _format_address(sender)
    headers = [
        f"From: {sender_header}",
        f"To: {_format_address(recipient)}",
        f"Subject: {_encode_subject(message.subject)}",
        f"Date: {_date_header(date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Auto-Submitted: auto-generated",
    ]
    if message.kind not in TRANSACTIONAL:
        _, unsubscribe = parseaddr(_format_address(message.support_email or sender))
        headers.append(f"List-Unsubscribe: <mailto:{unsubscribe}?subject=unsubscribe>")
    headers.append(f'Content-Type: multipart/alternative; boundary="{_BOUNDARY}"')
    head = "\r\n".join(headers).encode("ascii")
    return b"".join(
        (head, _TEXT_PART_HEAD, _qp(message.text), _HTML_PART_HEAD, _base64(message.html), _END)
    )
