"""Working the queue: release, cancel and correct decisions from the inbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from pipelines.project import REPO_ROOT
from tests.orders import T0, good_line, good_order

# Decided between the first batch (T0 + 1 min) and the second (T0 + 2 min).
ALICE = {"decided_by": "alice", "decided_at": "2026-11-20T15:01:30Z"}


def decisions(platform) -> list[dict]:
    cursor = platform.con.execute("SELECT * FROM oms.hold_decisions ORDER BY source_row")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_release_puts_a_held_order_to_ready_and_records_who_and_why(platform):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    platform.decide(
        [{"order_key": "shopify:1001", "action": "release", "note": "paid by phone", **ALICE}]
    )
    stage = platform.run()
    assert (stage.decisions.applied, stage.decisions.rejected) == (1, 0)
    assert platform.status("shopify:1001") == "ready"
    (hold,) = platform.holds(open_only=False).iter_rows(named=True)
    assert hold["resolution"] == "released"
    assert hold["resolved_by"] == "alice"
    assert hold["resolution_note"] == "paid by phone"
    assert hold["resolved_at"].isoformat() == "2026-11-20T15:01:30+00:00"
    assert platform.events("shopify:1001")[-2:] == [
        ("hold_released", "hold released (AWAITING_PAYMENT) by alice: paid by phone"),
        ("ready", "released from hold by alice: paid by phone"),
    ]
    (decision,) = decisions(platform)
    assert (decision["status"], decision["outcome"]) == (
        "applied",
        "released AWAITING_PAYMENT; order is ready",
    )
    # The decisions file was archived and registered like any inbox file.
    assert not list(platform.inbox.iterdir())
    assert platform.con.execute(
        "SELECT detected_format, status, orders FROM raw.files"
    ).fetchall() == [("hold decisions", "processed", 1)]


def test_a_released_rule_does_not_hold_the_order_again_when_it_is_revalidated(platform):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    platform.decide([{"order_key": "shopify:1001", "action": "release", **ALICE}])
    platform.run()
    platform.update("shopify:1001", T0 + timedelta(hours=1), ship_name="Ana M. Ruiz")
    assert platform.run(at=T0 + timedelta(hours=2)).validation.validated == 1
    assert platform.status("shopify:1001") == "ready"


def test_release_of_one_reason_leaves_the_other_holds(platform):
    platform.add(good_order(payment_status="pending", ship_postal_code="9410"))
    platform.run()
    platform.decide(
        [{"order_key": "shopify:1001", "action": "release", "reason": "AWAITING_PAYMENT", **ALICE}]
    )
    platform.run()
    assert platform.status("shopify:1001") == "on_hold"
    assert platform.holds()["reason"].to_list() == ["INCORRECT_ADDRESS"]
    assert decisions(platform)[0]["outcome"] == (
        "released AWAITING_PAYMENT; order still held for other reasons"
    )


def test_cancel_ends_the_order_and_its_holds(platform):
    platform.add(good_order(ship_postal_code="9410"))
    platform.run()
    platform.decide(
        [{"order_key": "shopify:1001", "action": "cancel", "note": "customer asked", **ALICE}]
    )
    platform.run()
    assert platform.status("shopify:1001") == "cancelled"
    (hold,) = platform.holds(open_only=False).iter_rows(named=True)
    assert (hold["resolution"], hold["resolved_by"]) == ("cancelled", "alice")
    assert platform.events("shopify:1001")[-1] == (
        "cancelled",
        "cancelled by alice: customer asked",
    )


def test_a_corrected_postal_code_is_validated_again_in_the_same_batch(platform):
    platform.add(good_order(ship_postal_code="9410"))
    platform.run()
    platform.decide(
        [
            {
                "order_key": "shopify:1001",
                "action": "correct",
                "field": "ship_postal_code",
                "value": "94103",
                "note": "checked with the customer",
                **ALICE,
            }
        ]
    )
    stage = platform.run()
    assert stage.validation.validated == 1
    assert platform.status("shopify:1001") == "ready"
    assert platform.holds().is_empty()
    assert [e for e, _ in platform.events("shopify:1001")] == ["on_hold", "corrected", "ready"]
    assert platform.events("shopify:1001")[1][1] == (
        'ship_postal_code corrected from "9410" to "94103" by alice: checked with the customer'
    )
    (decision,) = decisions(platform)
    assert (decision["previous_value"], decision["value"]) == ("9410", "94103")


def test_a_corrected_sku_and_quantity_fix_the_lines(platform):
    lines = [
        good_line(sku="ABC-1"),
        good_line(line_no=2, quantity=0, line_total=Decimal("0.00")),
    ]
    platform.add(good_order(subtotal=Decimal("59.96"), order_total=Decimal("67.46")), lines)
    platform.run()
    assert set(platform.holds()["reason"]) == {"UNKNOWN_SKU", "INVALID_QUANTITY", "PRICE_MISMATCH"}
    platform.decide(
        [
            {
                "order_key": "shopify:1001",
                "action": "correct",
                "field": "sku",
                "line_no": "1",
                "value": "SKU-00001",
                **ALICE,
            },
            {
                "order_key": "shopify:1001",
                "action": "correct",
                "field": "quantity",
                "line_no": "2",
                "value": "2",
                **ALICE,
            },
        ]
    )
    platform.run()
    assert platform.con.execute(
        "SELECT line_no, sku, quantity, line_total FROM oms.order_lines ORDER BY line_no"
    ).fetchall() == [(1, "SKU-00001", 2, Decimal("29.98")), (2, "SKU-00001", 2, Decimal("29.98"))]
    assert platform.status("shopify:1001") == "ready"


def test_a_correction_stands_when_a_later_export_brings_the_old_value_back(platform):
    platform.add(good_order(ship_postal_code="9410"))
    platform.run()
    platform.decide(
        [
            {
                "order_key": "shopify:1001",
                "action": "correct",
                "field": "ship_postal_code",
                "value": "94103",
                **ALICE,
            }
        ]
    )
    platform.run()
    # The channel re-exports the order (another change) with its old, wrong postal code.
    platform.update(
        "shopify:1001", T0 + timedelta(hours=3), ship_postal_code="9410", ship_name="Ana R."
    )
    stage = platform.run(at=T0 + timedelta(hours=4))
    assert stage.reapplied == 1
    assert platform.status("shopify:1001") == "ready"
    assert platform.con.execute("SELECT ship_postal_code FROM oms.orders").fetchall() == [
        ("94103",)
    ]
    assert platform.events("shopify:1001")[-1][0] == "corrected"
    # A value the channel itself corrected differently wins over the old correction.
    platform.update("shopify:1001", T0 + timedelta(hours=5), ship_postal_code="94105")
    platform.run(at=T0 + timedelta(hours=6))
    assert platform.con.execute("SELECT ship_postal_code FROM oms.orders").fetchall() == [
        ("94105",)
    ]


REJECTED = [
    ({"order_key": "shopify:404", "action": "release"}, "no such order"),
    ({"order_key": "shopify:1001", "action": "approve"}, 'unknown action "approve"'),
    ({"order_key": "shopify:1001", "action": "release"}, "order has no open hold (status ready)"),
    (
        {"order_key": "shopify:1001", "action": "release", "reason": "LATE"},
        'reason "LATE" is not one of',
    ),
    (
        {"order_key": "shopify:1001", "action": "correct", "field": "order_total", "value": "1"},
        'field "order_total" cannot be corrected',
    ),
    (
        {
            "order_key": "shopify:1001",
            "action": "correct",
            "field": "quantity",
            "line_no": "1",
            "value": "1.5",
        },
        'quantity "1.5" is not a whole number of at least 1',
    ),
    (
        {"order_key": "shopify:1001", "action": "correct", "field": "sku", "value": "SKU-00002"},
        "line_no is needed to correct sku",
    ),
    (
        {
            "order_key": "shopify:1001",
            "action": "correct",
            "field": "sku",
            "line_no": "7",
            "value": "SKU-00002",
        },
        "order has no line 7",
    ),
    (
        {"order_key": "shopify:1001", "action": "correct", "field": "ship_city", "value": ""},
        "ship_city cannot be blank",
    ),
    ({"order_key": "shopify:1001", "action": "cancel", "decided_by": ""}, "decided_by is blank"),
    (
        {"order_key": "shopify:1001", "action": "cancel", "decided_at": "yesterday"},
        'decided_at "yesterday" is not an ISO 8601 time',
    ),
]


@pytest.mark.parametrize(
    ("row", "outcome"),
    REJECTED,
    ids=[o.split('"')[0][:30] + str(i) for i, (_, o) in enumerate(REJECTED)],
)
def test_a_decision_that_cannot_apply_is_kept_as_rejected_with_its_reason(platform, row, outcome):
    platform.add(good_order())
    platform.run()
    platform.decide([{"decided_by": "bob", **row}])
    stage = platform.run()
    assert (stage.decisions.applied, stage.decisions.rejected) == (0, 1)
    (decision,) = decisions(platform)
    assert decision["status"] == "rejected"
    assert outcome in decision["outcome"]
    assert platform.status("shopify:1001") == "ready"  # nothing changed


def test_a_file_with_good_and_bad_decisions_applies_the_good_ones(platform):
    platform.add(good_order("shopify:1", payment_status="pending"))
    platform.add(good_order("shopify:2", payment_status="pending", ship_address1="2 Pine St"))
    platform.run()
    platform.decide(
        [
            {"order_key": "shopify:1", "action": "release", **ALICE},
            {"order_key": "shopify:9", "action": "release", **ALICE},
            {"order_key": "shopify:2", "action": "cancel", **ALICE},
        ]
    )
    stage = platform.run()
    assert (stage.decisions.applied, stage.decisions.rejected) == (2, 1)
    assert [d["status"] for d in decisions(platform)] == ["applied", "rejected", "applied"]
    assert (platform.status("shopify:1"), platform.status("shopify:2")) == ("ready", "cancelled")


def test_the_same_decisions_sent_twice_apply_once(platform):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    rows = [{"order_key": "shopify:1001", "action": "release", "decision_id": "D-1", **ALICE}]
    platform.decide(rows, name="decisions_a.csv")
    platform.run()
    platform.decide(rows, name="decisions_b.csv")  # identical bytes: a duplicate file
    second = platform.run()
    assert second.decisions.files[0].status == "duplicate"
    rows[0]["note"] = "again"  # other bytes, same decision id
    platform.decide(rows, name="decisions_c.csv")
    third = platform.run()
    assert (third.decisions.applied, third.decisions.rejected) == (0, 0)
    assert len(decisions(platform)) == 1
    assert [e for e, _ in platform.events("shopify:1001")].count("hold_released") == 1


def test_an_unreadable_decisions_file_is_moved_aside_with_a_reason(platform):
    (platform.inbox / "decisions.csv").write_text(
        "order_key,action,decided_by,approved\nshopify:1,release,bob,yes\n", encoding="utf-8"
    )
    stage = platform.run()
    (outcome,) = stage.decisions.files
    assert outcome.status == "rejected"
    assert "unknown column(s) approved" in outcome.reason
    reason_file = platform.rejected / "decisions.csv.reason.txt"
    assert "unknown column(s) approved" in reason_file.read_text(encoding="utf-8")


def test_a_failing_stage_leaves_decisions_unapplied_and_the_file_in_the_inbox(
    platform, monkeypatch
):
    platform.add(good_order(payment_status="pending"))
    platform.run()
    platform.decide([{"order_key": "shopify:1001", "action": "release", **ALICE}])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("pipelines.lib.quality.validate.validate_orders", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        platform.run()
    assert platform.status("shopify:1001") == "on_hold"
    assert decisions(platform) == []
    assert [p.name for p in platform.inbox.iterdir()] == ["decisions.csv"]
    monkeypatch.undo()
    platform.run()
    assert platform.status("shopify:1001") == "ready"


def test_an_order_ops_cancelled_stays_cancelled_when_the_channel_exports_it_again(platform):
    from pipelines.lib.intake import ingest_inbox

    header = (REPO_ROOT / "data" / "templates" / "direct_orders.csv").read_text().strip()
    row = {
        "order_id": "P-1",
        "channel": "phone",
        "ordered_at": "2026-11-20T09:00:00Z",
        "customer_name": "Ana Ruiz",
        "ship_name": "Ana Ruiz",
        "ship_address1": "1 Market St",
        "ship_city": "San Francisco",
        "ship_region": "CA",
        "ship_postal_code": "9410",
        "ship_country": "US",
        "currency": "USD",
        "payment_status": "paid",
        "shipping_amount": "0.00",
        "tax_amount": "0.00",
        "order_total": "29.98",
        "line_no": "1",
        "sku": "SKU-00001",
        "quantity": "2",
        "unit_price": "14.99",
    }

    def export(name: str, **changes) -> None:
        values = {**row, **changes}
        cells = [values.get(column, "") for column in header.split(",")]
        (platform.inbox / name).write_text(f"{header}\n{','.join(cells)}\n", encoding="utf-8")
        ingest_inbox(
            platform.con,
            platform.inbox,
            archive_dir=platform.archive,
            rejected_dir=platform.rejected,
            run_id=f"intake-{name}",
            now=T0 + timedelta(hours=1),
        )

    export("a.csv")
    platform.run()
    platform.decide([{"order_key": "phone:P-1", "action": "cancel", **ALICE}])
    platform.run()
    export("b.csv", payment_status="authorized", notes="called again")
    platform.run(at=T0 + timedelta(hours=2))
    assert platform.status("phone:P-1") == "cancelled"
