"""Reaching the dashboards as a user does, and reading what they show, for the page tests."""

from __future__ import annotations

import io
import json

import duckdb
import polars as pl
from streamlit.testing.v1 import AppTest

from pipelines.project import DASHBOARDS_DIR, Settings


def open_page(page: str) -> AppTest:
    """The app from its default page, then ``page`` (e.g. "app_pages/orders.py") through the
    navigation, with no exception on the way."""
    app = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception, app.exception
    app = app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
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


def chart_titled(app: AppTest, axis_title: str) -> pl.DataFrame:
    """The data of the one chart whose y axis has this title."""
    (chart,) = [
        c for c in charts(app) if c["spec"]["encoding"].get("y", {}).get("title") == axis_title
    ]
    (frame,) = chart["data"]
    return frame


def snapshot_rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Straight from the published snapshot, as the tests' independent reading."""
    with duckdb.connect(str(settings.reporting_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
