"""The allocation stage on a real warehouse: commit, backorder, re-broker, release."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.defs.inventory import UNACCOUNTED_SQL
from pipelines.lib import brokering
from pipelines.lib.warehouse import scalar
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import DALLAS, NYC, SF


def ready(key: str, where: dict, **changes) -> dict:
    return good_order(key, status="ready", **where, **changes)


def line(key: str, line_no: int, sku: str, quantity: int) -> dict:
    return good_line(key, line_no, sku=sku, quantity=quantity)


def accounted(stock) -> None:
    """The stage's invariants: nothing over-committed, every open unit placed."""
    assert scalar(stock.con, UNACCOUNTED_SQL) == 0
    over = scalar(
        stock.con,
        "SELECT count(*) FROM (SELECT sum(on_hand_delta) AS h, sum(committed_delta) AS c "
        "FROM oms.inventory_movements GROUP BY warehouse_id, sku) WHERE c > h OR c < 0",
    )
    assert over == 0


def test_the_nearest_warehouse_that_can_fill_the_order_takes_it_and_commits(stock):
    stock.count(
        {("WH-CA", "SKU-00001"): 5, ("WH-NJ", "SKU-00001"): 5, ("WH-TX", "SKU-00001"): 5},
        T0 - timedelta(days=1),
    )
    stock.book()
    stock.add(ready("shopify:1", SF), [line("shopify:1", 1, "SKU-00001", 2)])
    stock.add(ready("shopify:2", NYC), [line("shopify:2", 1, "SKU-00001", 3)])
    result = stock.allocate()
    assert result.units_allocated == 5
    assert stock.allocations("shopify:1") == [(1, "WH-CA", 2, "single")]
    assert stock.allocations("shopify:2") == [(1, "WH-NJ", 3, "single")]
    assert stock.status("shopify:1") == "allocated"
    assert stock.position("WH-CA", "SKU-00001") == {"on_hand": 5, "committed": 2}
    commits = stock.ledger().filter(reason="commit")
    assert sorted(commits["reference"].to_list()) == ["shopify:1#1", "shopify:2#1"]
    (event,) = [e for e in stock.events("shopify:1") if e[0] == "allocated"]
    assert event[1] == "2 of 2 units allocated (2 now from WH-CA, single)"
    positions = dict(
        stock.con.execute(
            "SELECT warehouse_id, atp FROM oms.inventory_positions WHERE sku = 'SKU-00001'"
        ).fetchall()
    )
    assert positions["WH-CA"] == 3 and positions["WH-NJ"] == 2 and positions["WH-GA"] == 0
    accounted(stock)


def test_a_short_order_splits_and_backorders_the_rest_with_a_promise(stock):
    stock.count({("WH-CA", "SKU-00002"): 2, ("WH-TX", "SKU-00002"): 1}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("woocommerce:7", SF), [line("woocommerce:7", 1, "SKU-00002", 5)])
    stock.allocate()
    assert stock.allocations("woocommerce:7") == [
        (1, "WH-CA", 2, "split"),
        (1, "WH-TX", 1, "split"),
    ]
    assert stock.status("woocommerce:7") == "partially_allocated"
    (waiting,) = stock.backorders("woocommerce:7")
    assert waiting["quantity"] == 2
    assert waiting["reason"] == "no_stock"
    # Nearest warehouse that stocks the SKU is WH-CA, whose lead time is 9 days.
    assert waiting["promised_warehouse_id"] == "WH-CA"
    assert waiting["promised_date"] == T0.date() + timedelta(days=9)
    events = dict(stock.events("woocommerce:7"))
    assert "2 backordered, promised 2026-11-29" in events["partially_allocated"]
    accounted(stock)


def test_a_ship_complete_order_is_never_split(stock):
    stock.count({("WH-CA", "SKU-00002"): 2, ("WH-TX", "SKU-00002"): 3}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("phone:9", SF, ship_complete=True), [line("phone:9", 1, "SKU-00002", 4)])
    stock.allocate()
    assert stock.allocations("phone:9") == []
    assert stock.status("phone:9") == "backordered"
    (waiting,) = stock.backorders("phone:9")
    assert (waiting["quantity"], waiting["reason"]) == (4, "ship_complete")
    assert "no single warehouse can fill it" in waiting["detail"]
    accounted(stock)


def test_stock_arriving_re_brokers_backorders_highest_priority_first(stock):
    stock.add(ready("shopify:10", NYC), [line("shopify:10", 1, "SKU-00003", 2)])
    stock.add(
        ready("shopify:11", NYC, service_level="overnight", ordered_at=T0),
        [line("shopify:11", 1, "SKU-00003", 2)],
    )
    stock.allocate()
    assert stock.status("shopify:10") == stock.status("shopify:11") == "backordered"
    # Two units arrive: the overnight order, placed later, gets them.
    stock.receive({("WH-NJ", "SKU-00003"): 2}, T0)
    stock.book(T0 + timedelta(hours=1))
    result = stock.allocate(T0 + timedelta(hours=1))
    assert result.backorders_filled == 1
    assert stock.allocations("shopify:11") == [(1, "WH-NJ", 2, "single")]
    assert stock.status("shopify:11") == "allocated"
    assert stock.status("shopify:10") == "backordered"
    assert [b["status"] for b in stock.backorders("shopify:11")] == ["filled"]
    assert [b["status"] for b in stock.backorders("shopify:10")] == ["open"]
    accounted(stock)


def test_a_cancelled_order_releases_its_committed_stock(stock):
    stock.count({("WH-TX", "SKU-00001"): 3}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        ready("amazon:1", DALLAS),
        [line("amazon:1", 1, "SKU-00001", 2), line("amazon:1", 2, "SKU-00004", 1)],
    )
    stock.allocate()
    assert stock.position("WH-TX", "SKU-00001")["committed"] == 2
    assert [b["sku"] for b in stock.backorders("amazon:1")] == ["SKU-00004"]
    stock.update("amazon:1", T0 + timedelta(hours=1), status="cancelled")
    result = stock.allocate(T0 + timedelta(hours=2))
    assert result.released == {"order cancelled": 1}
    assert stock.allocations("amazon:1") == []
    assert stock.allocations("amazon:1", status="cancelled") == [(1, "WH-TX", 2, "split")]
    assert stock.position("WH-TX", "SKU-00001") == {"on_hand": 3, "committed": 0}
    assert [b["status"] for b in stock.backorders("amazon:1")] == ["cancelled"]
    released = [d for e, d in stock.events("amazon:1") if e == "stock_released"]
    assert released == ["order cancelled: 2 x SKU-00001 at WH-TX"]
    # The release is a new movement; the commit is still in the ledger.
    assert stock.ledger().filter(reference="amazon:1#1")["reason"].to_list() == [
        "commit",
        "release",
    ]


def test_an_order_the_channel_fulfilled_is_not_shipped_again(stock):
    stock.count({("WH-NJ", "SKU-00001"): 5}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        ready("woocommerce:15", NYC, fulfilled_by_channel=True, channel_status="completed"),
        [line("woocommerce:15", 1, "SKU-00001", 1)],
    )
    result = stock.allocate()
    assert result.fulfilled_by_channel == 1
    assert stock.allocations("woocommerce:15") == []
    assert stock.status("woocommerce:15") == "shipped"
    assert ("shipped", "fulfilled by the channel (completed); nothing shipped from our stock") in (
        stock.events("woocommerce:15")
    )
    assert stock.position("WH-NJ", "SKU-00001")["committed"] == 0


def test_stock_counted_short_withdraws_the_lowest_priority_allocation(stock):
    pair = ("WH-NJ", "SKU-00001")
    stock.count({pair: 4, ("WH-GA", "SKU-00001"): 1}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        ready("shopify:20", NYC, ordered_at=T0 - timedelta(hours=5)),
        [line("shopify:20", 1, "SKU-00001", 2)],
    )
    stock.add(
        ready("shopify:21", NYC, ordered_at=T0 - timedelta(hours=4)),
        [line("shopify:21", 1, "SKU-00001", 2)],
    )
    stock.allocate()
    assert stock.position(*pair) == {"on_hand": 4, "committed": 4}
    # A count finds only 2: the later order gives its units back and is placed again,
    # from WH-GA's one unit and a backorder for the other.
    stock.count({pair: 2}, T0, kind="count")
    stock.book(T0 + timedelta(minutes=30))
    result = stock.allocate(T0 + timedelta(hours=1))
    assert result.released == {"stock counted short": 1}
    assert stock.allocations("shopify:20") == [(1, "WH-NJ", 2, "single")]
    assert stock.allocations("shopify:21") == [(1, "WH-GA", 1, "split")]
    assert stock.allocations("shopify:21", status="withdrawn") == [(1, "WH-NJ", 2, "single")]
    assert stock.status("shopify:21") == "partially_allocated"
    assert stock.position(*pair) == {"on_hand": 2, "committed": 2}
    accounted(stock)


def test_a_line_that_changed_gives_its_stock_back_and_is_placed_again(stock):
    stock.count({("WH-CA", "SKU-00001"): 10}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("shopify:30", SF), [line("shopify:30", 1, "SKU-00001", 5)])
    stock.allocate()
    stock.con.execute(
        "UPDATE oms.order_lines SET quantity = 3 WHERE order_key = 'shopify:30' AND line_no = 1"
    )
    result = stock.allocate(T0 + timedelta(hours=1))
    assert result.released == {"order line changed": 1}
    assert stock.allocations("shopify:30") == [(1, "WH-CA", 3, "single")]
    assert stock.position("WH-CA", "SKU-00001")["committed"] == 3
    accounted(stock)


def test_a_second_run_with_nothing_new_changes_nothing(stock):
    stock.count({("WH-CA", "SKU-00001"): 1}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("shopify:40", SF), [line("shopify:40", 1, "SKU-00001", 3)])
    stock.allocate()
    tables = ("oms.allocations", "oms.inventory_movements", "oms.order_events", "oms.backorders")

    def snapshot():
        return {t: stock.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}

    before = snapshot()
    result = stock.allocate(T0 + timedelta(minutes=30))
    assert result.units_allocated == 0
    # Not a row written: the backorder keeps its shortfall, promise and bookkeeping.
    assert snapshot() == before
    (row,) = stock.backorders("shopify:40")
    assert (row["quantity"], row["promised_date"]) == (2, T0.date() + timedelta(days=9))


def test_a_promise_that_passed_is_made_again(stock):
    stock.add(ready("shopify:50", NYC), [line("shopify:50", 1, "SKU-00004", 1)])
    stock.allocate()
    (first,) = stock.backorders("shopify:50")
    later = T0 + timedelta(days=8)
    result = stock.allocate(later)
    (second,) = stock.backorders("shopify:50")
    # WH-NJ promises in 5 days: 2026-11-25 passed on 11-28, so it is now 12-03.
    assert first["promised_date"] == date(2026, 11, 25)
    assert second["promised_date"] == date(2026, 12, 3)
    assert result.repromised == 1
    events = dict(stock.events("shopify:50"))
    assert events["backorder_repromised"] == (
        "SKU-00004 was promised for 2026-11-25, now for 2026-12-03"
    )


def test_a_failure_mid_stage_leaves_the_previous_state(stock, monkeypatch):
    stock.count({("WH-CA", "SKU-00001"): 5}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("shopify:60", SF), [line("shopify:60", 1, "SKU-00001", 2)])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(brokering, "_update_statuses", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        stock.allocate()
    assert stock.allocations("shopify:60") == []
    assert stock.ledger().filter(reason="commit").is_empty()
    assert stock.backorders("shopify:60") == []
    assert stock.status("shopify:60") == "ready"
    monkeypatch.undo()
    stock.allocate()
    assert stock.status("shopify:60") == "allocated"


def test_a_bad_allocation_setting_is_refused(stock):
    (stock.reference / "allocation.toml").write_text("[allocation]\nmax_splits = 0\n")
    with pytest.raises(ValueError, match="max_splits must be a whole number >= 1"):
        stock.allocate()
    (stock.reference / "allocation.toml").write_text("[allocation]\nmax_split = 2\n")
    with pytest.raises(ValueError, match="unknown setting"):
        stock.allocate()


def test_max_splits_from_the_settings_file_limits_the_split(stock):
    (stock.reference / "allocation.toml").write_text("[allocation]\nmax_splits = 1\n")
    stock.count({("WH-CA", "SKU-00002"): 2, ("WH-TX", "SKU-00002"): 2}, T0 - timedelta(days=1))
    stock.book()
    stock.add(ready("shopify:70", SF), [line("shopify:70", 1, "SKU-00002", 3)])
    stock.allocate()
    assert stock.allocations("shopify:70") == [(1, "WH-CA", 2, "split")]
    (waiting,) = stock.backorders("shopify:70")
    assert (waiting["quantity"], waiting["reason"]) == (1, "split_limit")
    assert "already ships from 1 warehouse(s), the most max_splits allows" in waiting["detail"]


def test_a_changed_allocated_order_is_judged_again_and_held_orders_give_stock_back(stock):
    stock.count({("WH-CA", "SKU-00001"): 5}, T0 - timedelta(days=1))
    stock.book()
    stock.add(good_order("shopify:80", **SF), [line("shopify:80", 1, "SKU-00001", 2)])
    stock.run(reference_dir=stock.reference)
    stock.allocate()
    assert stock.status("shopify:80") == "allocated"
    # A later export changes the street: validated again, still fine, still allocated, and
    # no new status event (the allocation stands).
    stock.update("shopify:80", T0 + timedelta(hours=1), ship_address1="2 Market St")
    stock.run(T0 + timedelta(hours=1, minutes=1), reference_dir=stock.reference)
    assert stock.status("shopify:80") == "allocated"
    events = [e for e, _ in stock.events("shopify:80")]
    assert events.count("ready") == 1 and events.count("allocated") == 1
    # Another export breaks the postal code: on hold, and the stock goes back.
    stock.update("shopify:80", T0 + timedelta(hours=2), ship_postal_code="ABC")
    stock.run(T0 + timedelta(hours=2, minutes=1), reference_dir=stock.reference)
    assert stock.status("shopify:80") == "on_hold"
    result = stock.allocate(T0 + timedelta(hours=2, minutes=2))
    assert result.released == {"order back in validation": 1}
    assert stock.position("WH-CA", "SKU-00001")["committed"] == 0
    assert stock.status("shopify:80") == "on_hold"
    accounted(stock)
