"""Validation over time: re-checks, idempotency, configuration, results kept, Data Docs."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import polars as pl
import pytest

from pipelines.lib.quality.config import ConfigError, load_config
from pipelines.lib.quality.contacts import _check_in_workers, check_values
from pipelines.lib.quality.suites import RULES, SuiteInputs, build_checks
from tests.orders import REFERENCE, T0, good_order


def test_a_payment_held_order_goes_ready_when_a_later_export_says_paid(platform):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    assert platform.status("shopify:1001") == "on_hold"

    platform.update("shopify:1001", T0 + timedelta(hours=1), payment_status="paid")
    result = platform.run(at=T0 + timedelta(hours=2)).validation
    assert (result.validated, result.ready, result.cleared) == (1, 1, 1)
    assert platform.status("shopify:1001") == "ready"
    (hold,) = platform.holds(open_only=False).iter_rows(named=True)
    assert hold["resolution"] == "cleared"
    assert hold["resolved_by"] == "validation"
    assert [e for e, _ in platform.events("shopify:1001")] == ["on_hold", "ready"]


def test_an_update_that_fixes_one_of_two_problems_keeps_the_order_held_and_says_so(platform):
    platform.add(good_order(payment_status="pending", ship_postal_code="9410"))
    platform.run()
    platform.update("shopify:1001", T0 + timedelta(hours=1), payment_status="paid")
    platform.run(at=T0 + timedelta(hours=2))
    assert platform.status("shopify:1001") == "on_hold"
    assert platform.holds()["reason"].to_list() == ["INCORRECT_ADDRESS"]
    events = platform.events("shopify:1001")
    assert [e for e, _ in events] == ["on_hold", "on_hold"]
    assert "AWAITING_PAYMENT" not in events[-1][1]


def test_running_again_on_unchanged_data_changes_nothing(platform):
    platform.add(good_order("shopify:1", payment_status="pending"))
    platform.add(good_order("shopify:2", ship_address1="2 Pine St"))
    platform.run()
    snapshot = [
        platform.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("oms.orders", "oms.order_holds", "oms.order_events")
    ]
    again = platform.run().validation
    assert again.validated == 0
    assert [
        platform.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("oms.orders", "oms.order_holds", "oms.order_events")
    ] == snapshot


def test_an_order_cancelled_while_held_has_its_holds_closed(platform):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    platform.con.execute("UPDATE oms.orders SET status = 'cancelled'")  # as intake does
    result = platform.run().validation
    assert result.closed_by_cancellation == 1
    (hold,) = platform.holds(open_only=False).iter_rows(named=True)
    assert (hold["resolution"], hold["resolved_by"]) == ("cancelled", "channel")


def test_each_run_keeps_the_suite_results(platform):
    platform.add(good_order("shopify:1", payment_status="pending"))
    platform.add(good_order("shopify:2", ship_address1="2 Pine St"))
    platform.run()
    results = pl.DataFrame(
        platform.con.execute(
            "SELECT suite, rule, success, element_count, unexpected_count, orders_affected "
            "FROM quality.expectation_results"
        ).fetchall(),
        orient="row",
        schema=["suite", "rule", "success", "rows", "unexpected", "orders"],
    )
    assert set(results["suite"]) == {"orders", "order_lines"}
    assert set(results["rule"]) == set(RULES)
    payment = results.filter(pl.col("rule") == "payment").row(0, named=True)
    assert payment == {
        "suite": "orders",
        "rule": "payment",
        "success": False,
        "rows": 2,
        "unexpected": 1,
        "orders": 1,
    }
    assert results.filter(pl.col("rule") != "payment")["success"].all()


def test_data_docs_are_built_where_asked(platform, tmp_path):
    platform.add(good_order(payment_status="pending"))
    result = platform.run(docs=tmp_path / "quality").validation
    assert result.docs_index == tmp_path / "quality" / "index.html"
    page = result.docs_index.read_text(encoding="utf-8")
    assert "orders" in page and "order_lines" in page
    assert list((tmp_path / "quality" / "validations").rglob("*.html"))


def test_a_rule_set_to_warn_records_the_finding_and_lets_the_order_proceed(
    platform, reference_copy
):
    text = (REFERENCE / "validation.toml").read_text(encoding="utf-8")
    text = text.replace(
        '[rules.payment]\nreason = "AWAITING_PAYMENT"\nseverity = "hold"',
        '[rules.payment]\nreason = "AWAITING_PAYMENT"\nseverity = "warn"',
    )
    platform.add(good_order(payment_status="pending"))
    platform.run(reference_dir=reference_copy(text))
    assert platform.status("shopify:1001") == "ready"
    assert platform.holds()[["reason", "severity"]].rows() == [("AWAITING_PAYMENT", "warn")]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("[rules.payment]", "[rules.paymnet]"), "rules not configured"),
        (lambda t: t.replace('severity = "warn"\n', 'severity = "maybe"\n', 1), "not hold or warn"),
        (lambda t: t.replace('reason = "HIGH_RISK"', 'reason = "RISKY"'), "is not one of"),
        (lambda t: t.replace("duplicate_window_hours = 24\n", ""), "duplicate_window_hours"),
    ],
    ids=["misspelt rule", "bad severity", "bad reason", "missing setting"],
)
def test_a_broken_configuration_stops_the_stage_with_a_clear_error(reference_copy, edit, message):
    text = edit((REFERENCE / "validation.toml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError, match=message):
        load_config(reference_copy(text), RULES)


def test_the_configuration_names_exactly_the_rules_the_suites_use():
    with (REFERENCE / "validation.toml").open("rb") as fh:
        configured = list(tomllib.load(fh)["rules"])
    inputs = SuiteInputs(frozenset(), frozenset(), ("paid",), ("phone",), 1.0)
    used = list(dict.fromkeys(check.rule for check in build_checks(inputs)))
    assert used == list(RULES)
    assert sorted(configured) == sorted(RULES)


def test_contact_checks_give_the_same_answers_in_worker_processes():
    emails = ["a@example.com", "not an email", "b@@x.org", "ünïcode@example.de"] * 3
    phones = [("+1 415 555 0134", "US"), ("12", "US"), ("030 1234567", "DE"), ("x", None)] * 3
    assert _check_in_workers(emails, phones, 2) == check_values(emails, phones)


def test_data_docs_show_the_last_validation_only(platform, tmp_path):
    docs = tmp_path / "quality"
    platform.add(good_order("shopify:1", payment_status="pending"))
    platform.run(docs=docs)
    platform.add(good_order("shopify:2", ship_address1="2 Pine St"))
    platform.run(docs=docs)
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 2  # one per suite, of the second run
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_data_docs_never_show_a_customers_contact_data(platform, tmp_path):
    """Analysts open the Data Docs: a failing email or phone is counted there, never quoted;
    the hold that ops work from still says what failed."""
    docs = tmp_path / "quality"
    platform.add(good_order("shopify:1", email="ana.ruiz@example", phone="12"))
    platform.add(good_order("shopify:2", ship_name=None, ship_address1="7 Secret Lane"))
    platform.run(docs=docs)
    pages = "\n".join(p.read_text("utf-8") for p in (docs / "validations").rglob("*.html"))
    assert "email_problem" in pages  # the failing expectation is there
    for value in ("ana.ruiz@example", "Ana Ruiz", "7 Secret Lane", "1 Market St"):
        assert value not in pages, value
    details = " ".join(platform.holds("shopify:1")["detail"].to_list())
    assert 'email "ana.ruiz@example" is not valid' in details
