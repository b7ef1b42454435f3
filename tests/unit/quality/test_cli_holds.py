"""`oms holds`: the exception queue as ops read it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.project import get_settings
from tests.orders import good_order


@pytest.fixture
def queue(platform, monkeypatch):
    platform.add(good_order("shopify:1", payment_status="pending"))
    platform.add(good_order("shopify:2", ship_postal_code="9410", ship_address1="2 Pine St"))
    platform.add(good_order("shopify:3", ship_address1="3 Oak St"))
    platform.run()
    platform.close()  # the CLI reads the warehouse file itself
    monkeypatch.setenv("OMS_WAREHOUSE", str(platform.root / "oms.duckdb"))
    monkeypatch.setenv("OMS_REPORTING", str(platform.root / "reporting.duckdb"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_holds_lists_each_open_hold_with_its_reason_detail_and_age(queue):
    out = CliRunner().invoke(app, ["holds"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "open holds (2, oldest first)" in out.output
    assert "shopify:1" in out.output and "AWAITING_PAYMENT" in out.output
    assert "shopify:2" in out.output and 'postal code "9410" is not valid for US' in out.output
    assert "shopify:3" not in out.output  # ready: nothing to work on
    assert "by reason: " in out.output


def test_holds_json_and_reason_filter(queue):
    out = CliRunner().invoke(app, ["holds", "--json", "--reason", "awaiting_payment"])
    data = json.loads(out.stdout)
    assert [(h["order_key"], h["reason"], h["status"]) for h in data["holds"]] == [
        ("shopify:1", "AWAITING_PAYMENT", "on_hold")
    ]
    assert data["holds"][0]["detail"] == 'payment is "pending" (needs paid or authorized)'
    assert data["holds"][0]["age_hours"] >= 0
    assert data["source"].startswith("warehouse ")


def test_holds_refuses_an_unknown_reason(queue):
    out = CliRunner().invoke(app, ["holds", "--reason", "LATE"])
    assert out.exit_code == 2
    assert "reason must be one of" in out.output
