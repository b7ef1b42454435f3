"""The analytics pages' global filters: a period, channels and warehouses, in the sidebar.

The choices live in ``st.session_state`` under the keys below, so they follow the user from
page to page (``keep`` stops Streamlit from forgetting a widget's value on a page that does
not draw it). A page calls :func:`sidebar` and gets a :class:`Filters` to build its queries
with; periods end at the latest order date in the snapshot, so a quiet weekend or an old
demo never shows an empty "last 7 days".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import streamlit as st

from dashboards import data

PERIOD_KEY = "filter_period"
DATES_KEY = "filter_dates"
CHANNELS_KEY = "filter_channels"
WAREHOUSES_KEY = "filter_warehouses"
KEYS = (PERIOD_KEY, DATES_KEY, CHANNELS_KEY, WAREHOUSES_KEY)
#: Pages' own choices that should also survive a visit to another page.
PAGE_KEYS = ("orders_status", "orders_search")

#: Preset periods (days, ending at the latest order date); None: everything.
PERIODS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "All dates": None}
CUSTOM = "Custom range"
DEFAULT_PERIOD = "Last 30 days"


@dataclass(frozen=True)
class Filters:
    """What the user picked. Empty ``channels``/``warehouses`` mean all of them."""

    start: date
    end: date
    channels: tuple[str, ...] = ()
    warehouses: tuple[str, ...] = ()
    #: False when the page cannot cut its figures by channel or warehouse.
    by_channel: bool = True
    by_warehouse: bool = True

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one (for "change vs previous")."""
        return replace(
            self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1)
        )

    def where(
        self,
        date_column: str | None = None,
        channel_column: str | None = None,
        warehouse_column: str | None = None,
    ) -> tuple[str, tuple]:
        """A SQL condition (``true`` when nothing applies) and its parameters, for the
        columns a query has: a date between start and end, a channel and a warehouse among
        the picked ones."""
        parts: list[str] = []
        params: list = []
        if date_column:
            parts.append(f"{date_column} BETWEEN ? AND ?")
            params += [self.start, self.end]
        for column, picked in (
            (channel_column, self.channels),
            (warehouse_column, self.warehouses),
        ):
            if column and picked:
                parts.append(f"{column} IN ({', '.join('?' for _ in picked)})")
                params += picked
        return (" AND ".join(parts) or "true"), tuple(params)

    def describe(self) -> str:
        """The filters that apply, in words, for captions."""
        words = [f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"]
        if self.by_channel:
            words.append(", ".join(self.channels) or "all channels")
        if self.by_warehouse:
            words.append(", ".join(self.warehouses) or "all warehouses")
        return " · ".join(words)


@dataclass(frozen=True)
class Choices:
    """What the snapshot offers to filter on."""

    first_date: date
    last_date: date
    channels: tuple[str, ...]
    warehouses: tuple[str, ...]


def keep() -> None:
    """Carry the filters over to the next page. Streamlit drops a widget's value when a run
    does not draw it; setting the key again makes it an ordinary session value. Call on every
    run, before the page."""
    for key in KEYS + PAGE_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def choices() -> Choices | None:
    """Dates, channels and warehouses in the snapshot; None when it holds no order yet."""
    bounds = data.query(
        "SELECT min(order_date) AS first, max(order_date) AS last FROM analytics.fct_orders"
    )
    if bounds is None or bounds["first"][0] is None:
        return None
    channels = data.query("SELECT DISTINCT channel FROM analytics.fct_orders ORDER BY channel")
    warehouses = data.query(
        "SELECT warehouse_id FROM analytics.dim_warehouses ORDER BY warehouse_id"
    )
    return Choices(
        bounds["first"][0],
        bounds["last"][0],
        tuple(channels["channel"]) if channels is not None else (),
        tuple(warehouses["warehouse_id"]) if warehouses is not None else (),
    )


def _period(preset: str, offered: Choices) -> tuple[date, date]:
    days = PERIODS.get(preset)
    if days is None:
        return offered.first_date, offered.last_date
    return max(offered.first_date, offered.last_date - timedelta(days=days - 1)), offered.last_date


def _clip(day: date, offered: Choices) -> date:
    return min(max(day, offered.first_date), offered.last_date)


def sidebar(channel: bool = True, warehouse: bool = True) -> Filters | None:
    """Draw the filters in the sidebar and return the user's choice; None when the snapshot
    has no order yet (the page shows its empty state). A page passes ``channel=False`` or
    ``warehouse=False`` when its figures cannot be cut that way: the control stays visible
    but disabled, with the reason, and its value is kept for the other pages."""
    offered = choices()
    if offered is None:
        return None
    state = st.session_state
    # Values from an older snapshot may be gone from this one: keep only what still exists.
    state.setdefault(PERIOD_KEY, DEFAULT_PERIOD)
    state[CHANNELS_KEY] = [c for c in state.get(CHANNELS_KEY, []) if c in offered.channels]
    state[WAREHOUSES_KEY] = [w for w in state.get(WAREHOUSES_KEY, []) if w in offered.warehouses]
    picked = state.get(DATES_KEY) or _period(state[PERIOD_KEY], offered)
    state[DATES_KEY] = tuple(_clip(day, offered) for day in picked)

    bar = st.sidebar
    bar.header("Filters")
    preset = bar.selectbox("Period", [*PERIODS, CUSTOM], key=PERIOD_KEY)
    if preset == CUSTOM:
        bar.date_input(
            "Order dates",
            key=DATES_KEY,
            min_value=offered.first_date,
            max_value=offered.last_date,
            format="YYYY-MM-DD",
        )
    else:
        state[DATES_KEY] = _period(preset, offered)
    dates = state[DATES_KEY]
    start, end = (dates[0], dates[-1]) if dates else _period(DEFAULT_PERIOD, offered)
    bar.caption(
        f"{start:%Y-%m-%d} to {end:%Y-%m-%d}; orders in the snapshot run to "
        f"{offered.last_date:%Y-%m-%d}."
    )
    bar.multiselect(
        "Channels",
        offered.channels,
        key=CHANNELS_KEY,
        placeholder="All channels",
        disabled=not channel,
        help=None if channel else "This page's figures are not kept per channel.",
    )
    bar.multiselect(
        "Warehouses",
        offered.warehouses,
        key=WAREHOUSES_KEY,
        placeholder="All warehouses",
        disabled=not warehouse,
        help=None
        if warehouse
        else "This page's figures are per order or channel; an order may ship from several "
        "warehouses.",
    )
    return Filters(
        start,
        end,
        tuple(state[CHANNELS_KEY]) if channel else (),
        tuple(state[WAREHOUSES_KEY]) if warehouse else (),
        by_channel=channel,
        by_warehouse=warehouse,
    )


def comparable(picked: Filters) -> Filters | None:
    """The period just before ``picked`` when the snapshot covers all of it, else None: a
    change against a period only partly in the snapshot (the first weeks after go-live, a
    short demo) would read as growth that is not there."""
    offered = choices()
    before = picked.previous()
    if offered is None or before.start < offered.first_date:
        return None
    return before


def open_ended(picked: Filters) -> Filters:
    """The period with open ends where it meets the snapshot's first or last order date, for
    sections counting on a later date (a ship date, a stock movement): what happened after
    the newest order (or before the oldest) still shows in "all dates" or "last 7 days"."""
    offered = choices()
    if offered is None:
        return picked
    return replace(
        picked,
        start=date.min if picked.start <= offered.first_date else picked.start,
        end=date.max if picked.end >= offered.last_date else picked.end,
    )


def empty_state(what: str = "orders") -> None:
    """The message every analytics page shows before the first batch."""
    st.info(
        f"No {what} yet — drop channel exports in data/inbox and run the batch "
        "(`make run` creates demo data and runs it)."
    )
