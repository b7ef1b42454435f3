"""SMTP delivery of customer notifications (pure stdlib ``smtplib``, no database).

The caller reads the ``[smtp]`` table of its TOML settings, passes it through
:func:`load_mail_settings`, selects the notifications that are due (``next_attempt_at``
passed) and hands them to :func:`deliver`, then writes each returned :class:`Delivery`
back to its row.

Rules:

* Off by default (``enabled = false``): :func:`deliver` then sends nothing and returns
  ``[]``, so the demo keeps everything in its outbox.
* Credentials never come from settings: the settings name two environment variables
  (``username_env`` / ``password_env``); when both are set the client logs in, when only
  one is set :func:`deliver` raises ``ValueError`` naming the missing variable.
* One connection per run, reconnected at most once when the server drops it. With
  ``security = "starttls"`` the client never falls back to plain text: a server without
  STARTTLS fails the run's messages permanently.
* Reply codes 5xx are permanent (``"failed"`` at once); 4xx, dropped connections,
  refused connections and timeouts are temporary: retried in the run up to
  ``retries_per_run`` times (sleeping the backoff, capped at ``in_run_max_sleep_seconds``),
  then ``"queued"`` with ``next_attempt_at = now + backoff``; a message whose total
  attempts reach ``max_attempts`` is ``"failed"`` with its last error.
* Backoff before the n-th retry (n = attempts made so far):
  ``min(backoff_seconds * 2**(n-1), max_backoff_seconds)``.
* Rate limit: at most ``max_per_run`` SMTP attempts (in-run retries included) per call.
  Messages the run did not get to are *omitted* from the result, so callers leave their
  rows untouched.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SECURITY_MODES = ("none", "starttls", "ssl")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Keys people tend to write instead of the *_env names; rejected with a pointed message.
_SECRET_KEYS = frozenset({"username", "user", "login", "password", "pass", "secret", "token"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(key: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``key`` (``None`` when it is).

    Never repeats the value of the ``*_env`` keys: someone who put a secret there by
    mistake should not find it again in a log.
    """
    if key == "enabled":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "host":
        ok = isinstance(value, str) and _HOST.fullmatch(value) is not None
        return None if ok else f"must be a host name or address, got {value!r}"
    if key == "port":
        ok = _is_int(value) and 1 <= value <= 65535
        return None if ok else f"must be a whole number in 1..65535, got {value!r}"
    if key == "security":
        ok = value in SECURITY_MODES
        return None if ok else f"must be one of {', '.join(SECURITY_MODES)}, got {value!r}"
    if key in ("username_env", "password_env"):
        ok = isinstance(value, str) and _ENV_NAME.fullmatch(value) is not None
        return (
            None
            if ok
            else "must be the NAME of an environment variable (letters, digits, _), "
            "not a credential"
        )
    if key == "sender":
        ok = (
            isinstance(value, str)
            and value.count("@") == 1
            and all(value.split("@"))
            and not _CONTROL.search(value)
            and " " not in value
        )
        return None if ok else f"must be an e-mail address, got {value!r}"
    if key in ("timeout_seconds",):
        ok = _is_number(value) and value > 0
        return None if ok else f"must be a number above 0, got {value!r}"
    if key in ("backoff_seconds", "max_backoff_seconds", "in_run_max_sleep_seconds"):
        ok = _is_number(value) and value >= 0
        return None if ok else f"must be a number at least 0, got {value!r}"
    if key in ("max_attempts", "max_per_run"):
        ok = _is_int(value) and value >= 1
        return None if ok else f"must be a whole number at least 1, got {value!r}"
    if key == "retries_per_run":
        ok = _is_int(value) and value >= 0
        return None if ok else f"must be a whole number at least 0, got {value!r}"
    return "is not a known setting"  # pragma: no cover - keys come from the dataclass


@dataclass(frozen=True)
class MailSettings:
    enabled: bool = False
    host: str = "localhost"
    port: int = 25
    security: str = "none"  # "none" | "starttls" | "ssl"
    #: names of environment variables, never values
    username_env: str = "OMS_SMTP_USERNAME"
    password_env: str = "OMS_SMTP_PASSWORD"
    sender: str = "orders@example.com"
    timeout_seconds: float = 10.0
    #: over all runs; then the message is failed
    max_attempts: int = 5
    #: wait before the n-th retry: backoff * 2**(n-1), capped at max_backoff_seconds
    backoff_seconds: float = 60.0
    max_backoff_seconds: float = 3600.0
    #: rate limit: at most this many send attempts per run
    max_per_run: int = 500
    #: immediate in-run retries (sleeping the backoff, capped) before leaving it for the next run
    retries_per_run: int = 2
    in_run_max_sleep_seconds: float = 5.0

    def __post_init__(self) -> None:
        for item in fields(self):
            problem = _check(item.name, getattr(self, item.name))
            if problem:
                raise ValueError(f"MailSettings.{item.name} {problem}")

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the retry that follows ``attempts`` attempts."""
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 * anything sane is past the cap
        return min(self.backoff_seconds * 2**exponent, self.max_backoff_seconds)


def load_mail_settings(raw: Mapping[str, Any], path: Path) -> MailSettings:
    """Validate the ``[smtp]`` table of ``path``; missing keys take the defaults.

    An unknown key or a bad value is a ``ValueError`` naming ``path`` and the key.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: smtp must be a table")
    known = {item.name for item in fields(MailSettings)}
    for key in raw:
        if key in known:
            continue
        if str(key).lower() in _SECRET_KEYS:
            raise ValueError(
                f"{path}: smtp.{key} is not allowed: credentials never go in a settings file; "
                "set smtp.username_env / smtp.password_env to the names of environment "
                "variables holding them"
            )
        raise ValueError(f"{path}: smtp.{key} is not a known setting")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        problem = _check(key, value)
        if problem:
            raise ValueError(f"{path}: smtp.{key} {problem}")
        values[key] = float(value) if isinstance(MailSettings.__dict__.get(key), float) else value
    settings = MailSettings(**values)
    if settings.max_backoff_seconds < settings.backoff_seconds:
        raise ValueError(
            f"{path}: smtp.max_backoff_seconds must be at least smtp.backoff_seconds "
            f"({settings.backoff_seconds:g}), got {settings.max_backoff_seconds:g}"
        )
    return settings


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    recipient: str
    #: complete RFC 5322 message
    eml: bytes
    #: attempts already made in earlier runs
    attempts: int


@dataclass(frozen=True)
class Delivery:
    notification_id: str
    #: "sent" | "queued" (temporary failure, try again later) | "failed" (permanent or
    #: max_attempts reached)
    status: str
    #: total attempts after this run
    attempts: int
    #: last error, e.g. "451 4.3.0 Try again later"; None when sent
    error: str | None
    #: for "queued": when the next run may try again (now + backoff); else None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class _Failure:
    error: str
    permanent: bool


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


def _classify(exc: BaseException) -> _Failure:
    """Temporary or permanent, with the text a person would want in the error column."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One recipient per message, so the dict holds exactly that one.
        code, message = next(iter(exc.recipients.values()), (-1, b"recipient refused"))
        return _Failure(_reply(code, message), 500 <= code < 600)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return _Failure(_reply(code, exc.smtp_error), 500 <= code < 600)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # The server lacks something we require (STARTTLS, AUTH, SMTPUTF8): retrying
        # will not help, and falling back (e.g. to plain text) is not an option.
        return _Failure(f"not supported by the server: {exc}", True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Failure(f"connection lost: {exc}", False)
    if isinstance(exc, UnicodeError):
        return _Failure(f"cannot encode the message for SMTP: {exc}", True)
    # SMTPException otherwise, and OSError: refused, reset, timeout, TLS handshake.
    return _Failure(f"{type(exc).__name__}: {exc}".rstrip(": "), False)


def _bad_recipient(recipient: str) -> str | None:
    if not recipient or "@" not in recipient or _CONTROL.search(recipient) or " " in recipient:
        return f"invalid recipient address {recipient!r}"
    return None


def _open_connection(settings: MailSettings, context: ssl.SSLContext | None) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_seconds, context=context
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)


class _Session:
    """The run's one connection: opened lazily, reopened once after a drop, then dead."""

    MAX_OPENS = 2  # the first connection and one reconnect

    def __init__(
        self,
        settings: MailSettings,
        connect: Callable[[MailSettings], smtplib.SMTP],
        context: ssl.SSLContext | None,
        credentials: tuple[str, str] | None,
    ) -> None:
        self.settings = settings
        self.connect = connect
        self.context = context
        self.credentials = credentials
        self.smtp: smtplib.SMTP | None = None
        self.opens = 0
        #: set once the run cannot reach the server any more; every later attempt fails so
        self.dead: _Failure | None = None

    def _open(self) -> smtplib.SMTP:
        self.opens += 1
        smtp = self.connect(self.settings)
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.settings.security == "starttls":
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.credentials:
                smtp.login(*self.credentials)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def send(self, recipient: str, eml: bytes) -> _Failure | None:
        """One attempt; ``None`` when the server accepted the message."""
        if self.dead:
            return self.dead
        if self.smtp is None:
            try:
                self.smtp = self._open()
            except (smtplib.SMTPException, OSError, UnicodeError) as exc:
                # Not reachable (or not usable: TLS, login): nothing more this run.
                self.dead = _classify(exc)
                return self.dead
        options = () if recipient.isascii() else ("SMTPUTF8",)
        try:
            self.smtp.sendmail(self.settings.sender, [recipient], eml, mail_options=options)
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            failure = _classify(exc)
            # A 421 makes smtplib close the socket; a disconnect, reset or timeout leaves
            # the connection in an unknown state. Either way: drop it, reconnect once.
            lost = (
                self.smtp.sock is None
                or isinstance(exc, smtplib.SMTPServerDisconnected)
                or (isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException))
            )
            if lost:
                _close(self.smtp)
                self.smtp = None
                if self.opens >= self.MAX_OPENS:
                    self.dead = failure
            return failure
        return None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            _close(self.smtp)
            self.smtp = None


def _close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def _credentials(settings: MailSettings, environ: Mapping[str, str]) -> tuple[str, str] | None:
    username = environ.get(settings.username_env) or ""
    password = environ.get(settings.password_env) or ""
    if username and not password:
        raise ValueError(
            f"SMTP username is set ({settings.username_env}) but the password is not: "
            f"set the environment variable {settings.password_env}"
        )
    if password and not username:
        raise ValueError(
            f"SMTP password is set ({settings.password_env}) but the username is not: "
            f"set the environment variable {settings.username_env}"
        )
    return (username, password) if username else None


def deliver(
    messages: Sequence[Outgoing],
    settings: MailSettings,
    *,
    now: datetime,
    environ: Mapping[str, str] = os.environ,
    sleep: Callable[[float], None] = time.sleep,
    connect: Callable[[MailSettings], smtplib.SMTP] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Delivery]:
    """Send ``messages`` over one SMTP connection; one :class:`Delivery` per message tried.

    ``connect`` opens the connection (default: ``smtplib.SMTP``, or ``smtplib.SMTP_SSL``
    with ``ssl_context`` for ``security = "ssl"``); this function then does EHLO,
    STARTTLS (with ``ssl_context``, default ``ssl.create_default_context()``) and the
    login. Messages beyond the rate limit are omitted from the result. A message that
    arrives with ``attempts >= max_attempts`` is returned ``"failed"`` without a try; one
    whose recipient is unusable (empty, no ``@``, spaces or control characters, which
    could smuggle SMTP commands) is ``"failed"`` at once without using the rate limit.
    A server that cannot be reached (refused, timeout, TLS handshake or certificate
    failure) makes every message the run tries ``"queued"`` (one attempt each, no in-run
    retries); a permanent session error (e.g. ``535`` login refused, STARTTLS not
    offered) makes them ``"failed"``.
    Raises ``ValueError`` only for bad configuration (half-set credentials).
    """
    if not settings.enabled:
        return []
    credentials = _credentials(settings, environ)
    if not messages:
        return []
    if ssl_context is None and settings.security != "none":
        ssl_context = ssl.create_default_context()
    if connect is None:
        connect = functools.partial(_open_connection, context=ssl_context)

    session = _Session(settings, connect, ssl_context, credentials)
    budget = settings.max_per_run
    results: list[Delivery] = []
    try:
        for message in messages:
            if message.attempts >= settings.max_attempts:
                error = f"max_attempts ({settings.max_attempts}) already reached"
                results.append(
                    Delivery(message.notification_id, "failed", message.attempts, error, None)
                )
                continue
            bad = _bad_recipient(message.recipient)
            if bad:
                results.append(
                    Delivery(message.notification_id, "failed", message.attempts + 1, bad, None)
                )
                continue
            if budget <= 0:
                continue  # rate limit: left for a later run, omitted from the result
            attempts, tries = message.attempts, 0
            while True:
                budget -= 1
                attempts += 1
                tries += 1
                failure = session.send(message.recipient, message.eml)
                if failure is None:
                    results.append(Delivery(message.notification_id, "sent", attempts, None, None))
                    break
                if failure.permanent or attempts >= settings.max_attempts:
                    results.append(
                        Delivery(message.notification_id, "failed", attempts, failure.error, None)
                    )
                    break
                delay = settings.backoff(attempts)
                if tries > settings.retries_per_run or budget <= 0 or session.dead:
                    later = now + timedelta(seconds=delay)
                    results.append(
                        Delivery(message.notification_id, "queued", attempts, failure.error, later)
                    )
                    break
                sleep(min(delay, settings.in_run_max_sleep_seconds))
    finally:
        session.close()
    return results
