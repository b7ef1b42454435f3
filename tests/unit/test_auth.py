"""Who counts as this machine's own browser (no sign-in) for the analyst and ops apps."""

from __future__ import annotations

import pytest

from dashboards.auth import is_local


@pytest.mark.parametrize(
    ("bind", "headers", "local"),
    [
        ("127.0.0.1", {"Host": "127.0.0.1:8503"}, True),
        ("127.0.0.1", {"Host": "localhost:8501"}, True),
        ("::1", {"Host": "[::1]:8503"}, True),
        ("localhost", {"host": "LOCALHOST"}, True),
        # Listening on every interface, or on a LAN address: always a sign-in.
        ("0.0.0.0", {"Host": "127.0.0.1:8503"}, False),
        (None, {"Host": "127.0.0.1:8503"}, False),
        ("", None, False),
        ("192.168.1.20", {"Host": "192.168.1.20:8503"}, False),
        # A reverse proxy, tunnel or port forwarding on this machine connects from loopback,
        # but says so in its headers, or names the public host.
        ("127.0.0.1", {"Host": "127.0.0.1:8503", "X-Forwarded-For": "203.0.113.9"}, False),
        ("127.0.0.1", {"Host": "localhost", "Forwarded": "for=203.0.113.9"}, False),
        ("127.0.0.1", {"Host": "localhost", "Via": "1.1 caddy"}, False),
        ("127.0.0.1", {"Host": "ops.example.com"}, False),
        # A DNS-rebinding page reaches 127.0.0.1 under its own name.
        ("127.0.0.1", {"Host": "attacker.example:8503"}, False),
        # No request to judge (Streamlit's AppTest): the bind address decides.
        ("127.0.0.1", {}, True),
        ("127.0.0.1", None, True),
    ],
)
def test_only_this_machines_own_browser_skips_the_sign_in(bind, headers, local):
    assert is_local(bind, headers) is local
