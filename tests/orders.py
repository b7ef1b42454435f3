"""Hand-made canonical orders and lines, as intake would have stored them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipelines.project import REPO_ROOT

REFERENCE = REPO_ROOT / "data" / "reference"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def good_order(key: str = "shopify:1001", **changes) -> dict:
    """A correct order: a US address, paid, one catalogue line, totals that add up."""
    order = {
        "order_key": key,
        "channel": key.split(":")[0],
        "source_format": "test",
        "external_order_id": key.split(":")[1],
        "ordered_at": T0 - timedelta(hours=2),
        "status": "received",
        "customer_name": "Ana Ruiz",
        "email": "ana.ruiz@example.com",
        "phone": "+1 415 555 0134",
        "ship_name": "Ana Ruiz",
        "ship_address1": "1 Market St",
        "ship_city": "San Francisco",
        "ship_region": "CA",
        "ship_postal_code": "94103",
        "ship_country": "US",
        "currency": "USD",
        "subtotal": Decimal("29.98"),
        "shipping_amount": Decimal("5.00"),
        "tax_amount": Decimal("2.50"),
        "discount_amount": Decimal("0.00"),
        "order_total": Decimal("37.48"),
        "payment_method": "card",
        "payment_status": "paid",
        "service_level": "standard",
        "ship_complete": False,
        "received_at": T0 - timedelta(hours=1),
        "updated_at": T0 - timedelta(hours=1),
        "source_file": "test.csv",
        "source_row": 1,
        "run_id": "load",
    }
    order.update(changes)
    return order


def good_line(key: str = "shopify:1001", line_no: int = 1, **changes) -> dict:
    line = {
        "order_key": key,
        "line_no": line_no,
        "sku": "SKU-00001",
        "product_name": "Braided USB-C to USB-C Cable 6' - Black",
        "quantity": 2,
        "unit_price": Decimal("14.99"),
        "line_discount": Decimal("0.00"),
        "line_total": Decimal("29.98"),
        "requires_shipping": True,
        "source_file": "test.csv",
        "source_row": 1,
        "run_id": "load",
    }
    line.update(changes)
    return line
