"""Reaching the dashboards as a user does, and reading what they show, for the page tests."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import duckdb
import pandas as pd
import polars as pl
from streamlit.testing.v1 import AppTest

from pipelines.project import DASHBOARDS_DIR, Settings


def open_page(page: str, period: str | None = None) -> AppTest:
    """The app from its default page, then ``page`` (e.g. "app_pages/orders.py") through the
    navigation, with no exception on the way; then, if given, the ``period`` picked (e.g.
    "All dates")."""
    app = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception, app.exception
    app = app.switch_page(page).run()
    assert not app.exception, app.exception
    if period:
        app = pick(app, period=period)
    return app


def pick(
    app: AppTest,
    *,
    warehouse: str | None = None,
    channel: str | None = None,
    period: str | None = None,
    day: date | None = None,
    dates: tuple[date, date] | None = None,
) -> AppTest:
    """Set the sidebar filters as a user would, rerunning the page after each, with no
    exception: a warehouse, a channel, a period by name, or a custom range of one ``day``
    or of ``dates`` (start, end)."""
    if warehouse:
        app = app.sidebar.multiselect(key="filter_warehouses").select(warehouse).run()
    if channel:
        app = app.sidebar.multiselect(key="filter_channels").select(channel).run()
    if day:
        dates = (day, day)
    if dates:
        period = "Custom range"
    if period:
        app = app.sidebar.selectbox(key="filter_period").select(period).run()
    if dates:
        app = app.sidebar.date_input(key="filter_dates").set_value(dates).run()
    assert not app.exception, app.exception
    return app


def table(app: AppTest, column: str) -> pd.DataFrame:
    """The one table of the page that has ``column``."""
    (found,) = [d.value for d in app.dataframe if column in d.value.columns]
    return found


def metrics(app: AppTest, *, with_delta: bool = False) -> dict:
    """The metric tiles: label → value, or with ``with_delta`` label → (value, delta), the
    delta "" where the tile shows none."""
    if with_delta:
        return {m.label: (m.value, m.delta) for m in app.metric}
    return {m.label: m.value for m in app.metric}


def deltas(app: AppTest) -> dict[str, str | None]:
    return {m.label: (m.proto.delta or None) for m in app.metric}


def charts(app: AppTest) -> list[dict]:
    """Each Altair chart on the page: its Vega-Lite spec and its data as Polars frames."""
    found = []
    for element in app.get("arrow_vega_lite_chart") + app.get("vega_lite_chart"):
        proto = element.proto
        frames = [pl.read_ipc_stream(io.BytesIO(d.data.data)) for d in proto.datasets]
        if proto.HasField("data") and proto.data.data:
            frames.append(pl.read_ipc_stream(io.BytesIO(proto.data.data)))
        found.append({"spec": json.loads(proto.spec), "data": frames})
    return found


def chart_titled(
    app: AppTest, y: str | None = None, *, x: str | None = None, missing_ok: bool = False
) -> pl.DataFrame | None:
    """The rows of the one chart whose y axis (and, if given, x axis) has this title; with
    ``missing_ok``, None when the page draws no such chart."""

    def title(chart: dict, axis: str) -> str | None:
        return chart["spec"].get("encoding", {}).get(axis, {}).get("title")

    matching = [
        c
        for c in charts(app)
        if (y is None or title(c, "y") == y) and (x is None or title(c, "x") == x)
    ]
    if missing_ok and not matching:
        return None
    (chart,) = matching
    (frame,) = chart["data"]
    return frame


def snapshot(settings: Settings, *, warehouse: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection, in UTC, to the published snapshot (with ``warehouse``, to the
    operational warehouse instead), as the tests' independent reading."""
    path = settings.warehouse_path if warehouse else settings.reporting_path
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


def snapshot_rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Straight from the published snapshot, as the tests' independent reading."""
    with snapshot(settings) as con:
        return con.execute(sql, params or []).fetchall()


def shown(markdown: str) -> str:
    """Markdown source as the reader sees it: the pages escape outside text
    (dashboards/markdown.py), so the backslashes go."""
    return re.sub(r"\\(.)", r"\1", str(markdown))
