"""SMTP delivery against a real local SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import smtplib
import socket
import ssl
import tomllib
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipelines.lib.mailer import (
    Delivery,
    MailSettings,
    Outgoing,
    deliver,
    load_mail_settings,
)
from tests.conftest import free_port

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS_FILE = Path("reference/notifications.toml")
ACCEPT = "250 2.0.0 Message accepted for delivery"


# --------------------------------------------------------------------------- helpers


class Recorder:
    """aiosmtpd handler: scripted replies per stage, then acceptance; records what arrives."""

    def __init__(
        self,
        *,
        mail: list[str] | None = None,
        rcpt: list[str] | None = None,
        data: list[str] | None = None,
        always: dict[str, str] | None = None,
    ) -> None:
        self.script = {"MAIL": list(mail or []), "RCPT": list(rcpt or []), "DATA": list(data or [])}
        self.always = always or {}
        self.calls = {"MAIL": 0, "RCPT": 0, "DATA": 0}
        self.delivered: list[tuple[str, list[str], bytes]] = []
        self.peers: list[tuple[str, int]] = []
        self.encrypted: list[bool] = []

    def _scripted(self, stage: str) -> str | None:
        self.calls[stage] += 1
        if stage in self.always:
            return self.always[stage]
        return self.script[stage].pop(0) if self.script[stage] else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self._scripted("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._scripted("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        implicit = server.transport.get_extra_info("ssl_object") is not None
        self.encrypted.append(session.ssl is not None or implicit)
        reply = self._scripted("DATA") or ACCEPT
        if reply.startswith("250"):
            self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return reply


def settings_for(port: int, **overrides) -> MailSettings:
    values = {"enabled": True, "host": "127.0.0.1", "port": port, "timeout_seconds": 5.0}
    values.update(overrides)
    return MailSettings(**values)


def make_eml(recipient: str, subject: str = "Your order ORD-1001 has shipped") -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Shop <orders@example.com>"
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = "<n-1@example.com>"
    message.set_content(
        "Hello Zoë,\n\nyour parcel is on its way.\n.\n.a line that starts with a dot\n"
    )
    return message.as_bytes()


def outgoing(n: int = 1, attempts: int = 0, recipient: str = "ann@example.net") -> list[Outgoing]:
    return [
        Outgoing(f"n-{i}", recipient, make_eml(recipient, f"message {i}"), attempts)
        for i in range(1, n + 1)
    ]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(messages, settings, **kwargs) -> list[Delivery]:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("sleep", Sleeps())
    return deliver(messages, settings, now=NOW, **kwargs)


# ------------------------------------------------------------------------ happy path


def test_accepted_message_arrives_intact(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    eml = make_eml("ann@example.net")
    message = Outgoing("n-1", "ann@example.net", eml, 0)
    sleeps = Sleeps()

    result = run([message], settings_for(port, sender="bounces@shop.example"), sleep=sleeps)

    assert result == [Delivery("n-1", "sent", 1, None, None)]
    assert sleeps == []
    [(mail_from, rcpt_tos, content)] = handler.delivered
    assert mail_from == "bounces@shop.example"  # envelope sender from the settings
    assert rcpt_tos == ["ann@example.net"]
    assert content == eml  # byte for byte, dot-stuffing undone by the server
    received = email.message_from_bytes(content, policy=email.policy.default)
    original = email.message_from_bytes(eml, policy=email.policy.default)
    assert received.items() == original.items()
    assert received.get_content() == original.get_content()
    assert ".a line that starts with a dot" in received.get_content()


def test_recipient_comes_from_outgoing_not_from_the_eml(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    message = Outgoing("n-1", "bob@example.net", make_eml("someone-else@example.org"), 0)

    assert run([message], settings_for(port))[0].status == "sent"
    assert handler.delivered[0][1] == ["bob@example.net"]


def test_one_connection_for_the_whole_run(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)

    result = run(outgoing(3), settings_for(port))

    assert [d.status for d in result] == ["sent"] * 3
    assert [d.notification_id for d in result] == ["n-1", "n-2", "n-3"]
    assert len(handler.delivered) == 3
    assert len(set(handler.peers)) == 1


def test_disabled_sends_nothing():
    def connect(settings):
        raise AssertionError("must not connect when disabled")

    assert MailSettings().enabled is False
    assert deliver(outgoing(2), MailSettings(), now=NOW, environ={}, connect=connect) == []


# ---------------------------------------------------------------- temporary failures


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_temporary_failure_is_retried_in_the_run_after_a_backoff_sleep(smtp_server, stage):
    handler = Recorder(**{stage.lower(): ["451 4.3.0 Try again later"]})
    port = smtp_server(handler)
    sleeps = Sleeps()

    result = run(outgoing(), settings_for(port, retries_per_run=1), sleep=sleeps)

    assert result == [Delivery("n-1", "sent", 2, None, None)]
    assert sleeps == [5.0]  # backoff 60 s, capped at in_run_max_sleep_seconds
    assert handler.calls[stage] == 2
    assert len(handler.delivered) == 1


def test_in_run_backoff_doubles_and_is_capped(smtp_server):
    handler = Recorder(data=["451 4.3.0 Try again later"] * 3)
    port = smtp_server(handler)
    sleeps = Sleeps()
    settings = settings_for(
        port,
        retries_per_run=3,
        backoff_seconds=10.0,
        max_backoff_seconds=25.0,
        in_run_max_sleep_seconds=1000.0,
    )

    result = run(outgoing(), settings, sleep=sleeps)

    assert result == [Delivery("n-1", "sent", 4, None, None)]
    assert sleeps == [10.0, 20.0, 25.0]


def test_temporary_failure_without_in_run_retries_is_queued_then_sent_next_run(smtp_server):
    handler = Recorder(data=["451 4.3.0 Try again later"])
    port = smtp_server(handler)
    settings = settings_for(port, retries_per_run=0)
    sleeps = Sleeps()

    [first] = run(outgoing(), settings, sleep=sleeps)

    assert first == Delivery(
        "n-1", "queued", 1, "451 4.3.0 Try again later", NOW + dt.timedelta(seconds=60)
    )
    assert sleeps == []
    assert handler.delivered == []

    [second] = run(outgoing(attempts=first.attempts), settings)
    assert second == Delivery("n-1", "sent", 2, None, None)
    assert len(handler.delivered) == 1


def test_next_attempt_backoff_grows_with_earlier_attempts(smtp_server):
    handler = Recorder(always={"DATA": "452 4.2.2 Mailbox full"})
    port = smtp_server(handler)

    [result] = run(outgoing(attempts=2), settings_for(port, retries_per_run=0))

    # third attempt failed; the wait before retry no. 3 is 60 * 2**2
    assert result.status == "queued"
    assert result.attempts == 3
    assert result.next_attempt_at == NOW + dt.timedelta(seconds=240)


def test_max_attempts_reached_on_repeated_4xx_fails(smtp_server):
    handler = Recorder(always={"DATA": "451 4.3.0 Try again later"})
    port = smtp_server(handler)
    settings = settings_for(port, max_attempts=3, retries_per_run=10, backoff_seconds=1.0)
    sleeps = Sleeps()

    [result] = run(outgoing(), settings, sleep=sleeps)

    assert result == Delivery("n-1", "failed", 3, "451 4.3.0 Try again later", None)
    assert handler.calls["DATA"] == 3
    assert sleeps == [1.0, 2.0]


def test_max_attempts_reached_across_runs(smtp_server):
    handler = Recorder(always={"DATA": "451 4.3.0 Try again later"})
    port = smtp_server(handler)
    settings = settings_for(port, max_attempts=3, retries_per_run=0)

    [last_try] = run(outgoing(attempts=2), settings)
    assert last_try == Delivery("n-1", "failed", 3, "451 4.3.0 Try again later", None)

    # a row that is already at the limit is not tried again
    [exhausted] = run(outgoing(attempts=3), settings)
    assert exhausted.status == "failed"
    assert exhausted.attempts == 3
    assert "max_attempts" in exhausted.error
    assert handler.calls["DATA"] == 1


# ---------------------------------------------------------------- permanent failures


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("RCPT", "550 5.1.1 User unknown"),
        ("MAIL", "553 5.1.8 Sender address rejected"),
        ("DATA", "554 5.7.1 Message rejected as spam"),
    ],
)
def test_permanent_failure_fails_at_once_without_retry(smtp_server, stage, reply):
    handler = Recorder(always={stage: reply})
    port = smtp_server(handler)
    sleeps = Sleeps()

    [result] = run(outgoing(), settings_for(port), sleep=sleeps)

    assert result.status == "failed"
    assert result.attempts == 1
    assert result.error == reply
    assert result.next_attempt_at is None
    assert handler.calls[stage] == 1
    assert sleeps == []
    assert handler.delivered == []


def test_permanent_failure_of_one_message_does_not_stop_the_others(smtp_server):
    handler = Recorder(rcpt=["550 5.1.1 User unknown"])
    port = smtp_server(handler)

    result = run(outgoing(3), settings_for(port))

    assert [d.status for d in result] == ["failed", "sent", "sent"]
    assert "550" in result[0].error
    assert len(handler.delivered) == 2
    assert len(set(handler.peers)) == 1  # the RSET kept the connection usable


def test_bad_recipient_is_failed_without_touching_the_server(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    messages = [
        Outgoing("n-1", "ann@example.net\r\nRCPT TO:<x@evil.example>", b"Subject: x\r\n\r\n", 0),
        Outgoing("n-2", "", b"Subject: x\r\n\r\n", 0),
    ]

    result = run(messages, settings_for(port))

    assert [d.status for d in result] == ["failed", "failed"]
    assert all("invalid recipient" in d.error for d in result)
    assert handler.calls == {"MAIL": 0, "RCPT": 0, "DATA": 0}


def test_non_ascii_recipient_without_smtputf8_support_fails(smtp_server):
    handler = Recorder()
    port = smtp_server(handler, enable_SMTPUTF8=False)  # the Controller's default is True

    [result] = run(outgoing(recipient="zoë@example.net"), settings_for(port))

    assert result.status == "failed"
    assert "SMTPUTF8" in result.error
    assert handler.calls["MAIL"] == 0


def test_non_ascii_recipient_with_smtputf8_support_is_sent(smtp_server):
    handler = Recorder()
    port = smtp_server(handler, enable_SMTPUTF8=True)

    [result] = run(outgoing(recipient="zoë@example.net"), settings_for(port))

    assert result.status == "sent"
    assert handler.delivered[0][1] == ["zoë@example.net"]


# ------------------------------------------------------------------------ rate limit


def test_rate_limit_caps_attempts_per_run_and_omits_the_rest(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)

    result = run(outgoing(5), settings_for(port, max_per_run=3))

    assert [d.notification_id for d in result] == ["n-1", "n-2", "n-3"]
    assert [d.status for d in result] == ["sent"] * 3
    assert len(handler.delivered) == 3
    assert handler.calls["MAIL"] == 3


def test_rate_limit_counts_in_run_retries(smtp_server):
    handler = Recorder(always={"DATA": "451 4.3.0 Try again later"})
    port = smtp_server(handler)

    result = run(outgoing(2), settings_for(port, max_per_run=2, retries_per_run=5))

    assert [(d.notification_id, d.status, d.attempts) for d in result] == [("n-1", "queued", 2)]
    assert handler.calls["DATA"] == 2


# ------------------------------------------------------------- connection problems


def test_server_down_queues_every_message_without_raising():
    port = free_port()  # nothing listens there
    sleeps = Sleeps()

    result = run(outgoing(3), settings_for(port), sleep=sleeps)

    assert [d.status for d in result] == ["queued"] * 3
    assert all(d.attempts == 1 for d in result)
    assert all("ConnectionRefusedError" in d.error for d in result)
    assert all(d.next_attempt_at == NOW + dt.timedelta(seconds=60) for d in result)
    assert sleeps == []  # no point retrying in the run


def test_server_that_never_answers_times_out_and_queues():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # accepts connections in the kernel, never greets
        port = silent.getsockname()[1]

        [result] = run(outgoing(), settings_for(port, timeout_seconds=0.3))

    assert result.status == "queued"
    assert "timed out" in result.error


def test_server_down_on_the_last_attempt_fails():
    [result] = run(outgoing(attempts=4), settings_for(free_port(), max_attempts=5))

    assert result.status == "failed"
    assert result.attempts == 5
    assert "ConnectionRefusedError" in result.error


def test_dropped_connection_is_reconnected_once(smtp_server):
    handler = Recorder(data=["421 4.3.2 Service shutting down"])
    port = smtp_server(handler)

    result = run(outgoing(2), settings_for(port, retries_per_run=1))

    assert [(d.status, d.attempts) for d in result] == [("sent", 2), ("sent", 1)]
    assert len(set(handler.peers)) == 2  # the first connection and the reconnect


def test_second_drop_leaves_the_rest_of_the_run_queued(smtp_server):
    handler = Recorder(always={"DATA": "421 4.3.2 Service shutting down"})
    port = smtp_server(handler)

    result = run(outgoing(3), settings_for(port, retries_per_run=2))

    assert [(d.status, d.attempts) for d in result] == [("queued", 2), ("queued", 1), ("queued", 1)]
    assert all(d.error.startswith("421") for d in result)
    assert handler.calls["DATA"] == 2  # no third connection


# ----------------------------------------------------------------------- credentials


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"shop",
        b"s3cret",
    )
    # handled=False: let aiosmtpd answer a failure with "535 5.7.8 ..."
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_credentials_from_the_environment(smtp_server):
    handler = Recorder()
    port = smtp_server(
        handler, authenticator=authenticator, auth_require_tls=False, auth_required=True
    )
    environ = {"MAIL_USER": "shop", "MAIL_PASS": "s3cret"}
    settings = settings_for(port, username_env="MAIL_USER", password_env="MAIL_PASS")

    assert [d.status for d in run(outgoing(2), settings, environ=environ)] == ["sent", "sent"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_without_credentials_an_auth_requiring_server_refuses(smtp_server):
    handler = Recorder()
    port = smtp_server(
        handler, authenticator=authenticator, auth_require_tls=False, auth_required=True
    )

    [result] = run(outgoing(), settings_for(port), environ={})

    assert result.status == "failed"
    assert result.error.startswith("530")


def test_wrong_password_fails_the_runs_messages(smtp_server):
    handler = Recorder()
    port = smtp_server(handler, authenticator=authenticator, auth_require_tls=False)
    environ = {"OMS_SMTP_USERNAME": "shop", "OMS_SMTP_PASSWORD": "wrong"}
    sleeps = Sleeps()

    result = run(outgoing(3), settings_for(port), environ=environ, sleep=sleeps)

    assert [(d.status, d.attempts) for d in result] == [("failed", 1)] * 3
    assert all(d.error.startswith("535") for d in result)
    assert handler.calls["MAIL"] == 0
    assert sleeps == []


def test_username_without_password_is_a_configuration_error(smtp_server):
    port = smtp_server(Recorder())

    with pytest.raises(ValueError, match="OMS_SMTP_PASSWORD"):
        run(outgoing(), settings_for(port), environ={"OMS_SMTP_USERNAME": "shop"})
    with pytest.raises(ValueError, match="OMS_SMTP_USERNAME"):
        run(outgoing(), settings_for(port), environ={"OMS_SMTP_PASSWORD": "s3cret"})


# ------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_starttls_with_a_trusted_self_signed_certificate(smtp_server, certificate):
    handler = Recorder()
    port = smtp_server(
        handler,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticator,  # auth only over TLS (aiosmtpd's default)
    )
    environ = {"OMS_SMTP_USERNAME": "shop", "OMS_SMTP_PASSWORD": "s3cret"}

    [result] = run(
        outgoing(),
        settings_for(port, security="starttls"),
        environ=environ,
        ssl_context=client_context(certificate),
    )

    assert result == Delivery("n-1", "sent", 1, None, None)
    assert len(handler.delivered) == 1
    assert handler.encrypted == [True]


def test_starttls_with_an_untrusted_certificate_does_not_send(smtp_server, certificate):
    handler = Recorder()
    port = smtp_server(handler, tls_context=server_context(certificate), require_starttls=True)

    # default context: the system trust store does not know the self-signed certificate
    [result] = run(outgoing(), settings_for(port, security="starttls"))

    assert result.status == "queued"
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert handler.delivered == []


def test_starttls_never_falls_back_to_plain_text(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)  # no STARTTLS offered

    [result] = run(outgoing(), settings_for(port, security="starttls"))

    assert result.status == "failed"
    assert "STARTTLS" in result.error
    assert handler.calls["MAIL"] == 0


def test_implicit_tls(smtp_server, certificate):
    handler = Recorder()
    port = smtp_server(handler, ssl_context=server_context(certificate))

    [result] = run(
        outgoing(), settings_for(port, security="ssl"), ssl_context=client_context(certificate)
    )

    assert result.status == "sent"
    assert len(handler.delivered) == 1
    assert handler.encrypted == [True]


def test_injected_connect_is_used(smtp_server):
    handler = Recorder()
    port = smtp_server(handler)
    opened: list[int] = []

    def connect(settings: MailSettings) -> smtplib.SMTP:
        opened.append(settings.port)
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)

    assert run(outgoing(2), settings_for(port), connect=connect)[1].status == "sent"
    assert opened == [port]


# -------------------------------------------------------------------------- settings


def test_load_mail_settings_defaults():
    settings = load_mail_settings({}, SETTINGS_FILE)

    assert settings == MailSettings()
    assert settings.enabled is False
    assert settings.security == "none"
    assert (settings.username_env, settings.password_env) == (
        "OMS_SMTP_USERNAME",
        "OMS_SMTP_PASSWORD",
    )


def test_load_mail_settings_from_toml():
    raw = tomllib.loads(
        """
        [smtp]
        enabled = true
        host = "smtp.example.com"
        port = 587
        security = "starttls"
        username_env = "SHOP_SMTP_USER"
        password_env = "SHOP_SMTP_PASSWORD"
        sender = "orders@shop.example"
        backoff_seconds = 30
        max_per_run = 100
        retries_per_run = 0
        """
    )["smtp"]

    settings = load_mail_settings(raw, SETTINGS_FILE)

    assert settings.port == 587
    assert settings.security == "starttls"
    assert settings.username_env == "SHOP_SMTP_USER"
    assert settings.backoff_seconds == 30.0
    assert isinstance(settings.backoff_seconds, float)
    assert settings.retries_per_run == 0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"hots": "smtp.example.com"}, "smtp.hots"),
        ({"security": "tls"}, "smtp.security"),
        ({"port": 0}, "smtp.port"),
        ({"port": True}, "smtp.port"),
        ({"enabled": "yes"}, "smtp.enabled"),
        ({"max_attempts": 0}, "smtp.max_attempts"),
        ({"retries_per_run": -1}, "smtp.retries_per_run"),
        ({"timeout_seconds": 0}, "smtp.timeout_seconds"),
        ({"sender": "not an address"}, "smtp.sender"),
        ({"backoff_seconds": 100, "max_backoff_seconds": 10}, "smtp.max_backoff_seconds"),
    ],
)
def test_load_mail_settings_rejects_bad_input(raw, key):
    with pytest.raises(ValueError, match=key) as caught:
        load_mail_settings(raw, SETTINGS_FILE)
    assert str(SETTINGS_FILE) in str(caught.value)


@pytest.mark.parametrize("key", ["password", "username"])
def test_credentials_in_the_settings_file_are_rejected_without_echoing_them(key):
    with pytest.raises(ValueError, match="environment") as caught:
        load_mail_settings({key: "hunter2-very-secret"}, SETTINGS_FILE)
    assert f"smtp.{key}" in str(caught.value)
    assert "hunter2-very-secret" not in str(caught.value)


@pytest.mark.parametrize("key", ["username_env", "password_env"])
def test_env_settings_must_be_variable_names_not_values(key):
    with pytest.raises(ValueError, match=f"smtp.{key}") as caught:
        load_mail_settings({key: "hunter2 very-secret!"}, SETTINGS_FILE)
    assert "hunter2" not in str(caught.value)


def test_mail_settings_validates_direct_construction():
    with pytest.raises(ValueError, match="security"):
        MailSettings(security="tls")
