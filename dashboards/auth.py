"""Who is using the analyst and ops apps, and what they may see.

On this machine's own browser (the server bound to a loopback address, as ``make ui`` and
``.streamlit/config.toml`` set it, and the request naming a local host through no proxy or
tunnel: :func:`is_local`) the apps are one person's own tools: no sign-in, the user is
``local`` with every role. Anything else (served beyond localhost, reached through a reverse
proxy, a tunnel or port forwarding, or ``OMS_SIGN_IN=required``) asks for a sign-in first:

* **OIDC**, when ``.streamlit/secrets.toml`` has an ``[auth]`` section: Streamlit's own
  ``st.login()``; the role comes from the ``[roles]`` table (``ops = ["alice@..."]``,
  ``analyst = [...]``), a user in neither (or whose provider says the email is not verified)
  has no access, and a session ends as soon as the login or the role is gone.
* otherwise **a password per role** from the environment (``OMS_OPS_PASSWORD``,
  ``OMS_ANALYST_PASSWORD``), compared in constant time (``hmac.compare_digest`` over SHA-256
  digests, so neither the length nor the first wrong character shows in the time taken).
  :data:`MAX_FAILURES` failed attempts for one role from one address within :data:`WINDOW`
  lock that role out for that address until the oldest of them is :data:`WINDOW` old; a
  success does not reset the count.

Roles decide the pages: the analytics app lets analysts and ops in, the ops app only ops.
Every sign-in, failure, lock-out and refusal goes to the audit trail (``pipelines/lib/audit.py``)
before the session knows the user.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboards.markdown import plain
from pipelines.lib import audit
from pipelines.project import get_settings

log = logging.getLogger(__name__)

ROLES = ("ops", "analyst")
PASSWORD_ENV = {"ops": "OMS_OPS_PASSWORD", "analyst": "OMS_ANALYST_PASSWORD"}
#: ``required`` makes the apps ask for a sign-in even on localhost.
SIGN_IN_ENV = "OMS_SIGN_IN"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
SESSION_KEY = "oms_user"
#: Longest name a user may give at sign-in (it goes to the audit trail).
NAME_CHARS = 80


@dataclass(frozen=True)
class User:
    name: str
    role: str
    #: local (no sign-in on localhost), password or oidc.
    method: str


class _Failures:
    """Failed attempts per (client address, role), shared by every session of the server
    process; they expire after :data:`WINDOW`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: dict[tuple[str, str], list[datetime]] = {}

    def recent(self, client: tuple[str, str], now: datetime) -> list[datetime]:
        with self.lock:
            kept = [t for t in self.attempts.get(client, []) if now - t < WINDOW]
            self.attempts[client] = kept
            return list(kept)

    def add(self, client: tuple[str, str], now: datetime) -> int:
        with self.lock:
            self.attempts.setdefault(client, []).append(now)
            return len([t for t in self.attempts[client] if now - t < WINDOW])


@st.cache_resource
def _failures() -> _Failures:
    return _Failures()


def _is_local(address: str | None) -> bool:
    if not address:
        return False  # Streamlit's default: every interface
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


#: Request headers a proxy, tunnel or load balancer adds: a request carrying one came from
#: elsewhere, whatever the server is bound to.
FORWARDING_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "via",
    "cf-connecting-ip",
)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_name(host: str) -> str:
    """The host part of a Host header (``[::1]:8503`` → ``::1``, ``localhost:8501`` →
    ``localhost``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_local(bind_address: str | None, headers: Mapping[str, str] | None) -> bool:
    """True only for this machine's own browser: the server listens on a loopback address
    and (when the request's headers are known) the request names a local host and came
    through no proxy or tunnel. A reverse proxy, ``ssh -R``, a tunnel or port forwarding on
    this machine connects from loopback too; its forwarding headers, or a Host that is not
    local (also what a DNS-rebinding page sends), make the request remote."""
    if not _is_local(bind_address):
        return False
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if "host" not in lowered:
        return True  # no request to judge (Streamlit's AppTest): the bind address decides
    if any(name in lowered for name in FORWARDING_HEADERS):
        return False
    return _host_name(lowered["host"]) in LOCAL_HOSTS


def _headers() -> Mapping[str, str] | None:
    try:
        return dict(st.context.headers)
    except Exception:
        return None


def sign_in_required() -> bool:
    if os.environ.get(SIGN_IN_ENV, "").strip().lower() == "required":
        return True
    return not is_local(st.get_option("server.address"), _headers())


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False
    except Exception as exc:  # a malformed secrets.toml: not configured, and say so in the log
        log.warning("cannot read .streamlit/secrets.toml, OIDC sign-in is off: %s", exc)
        return False


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a typed password with the configured one."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8")).digest(),
        hashlib.sha256(expected.encode("utf-8")).digest(),
    )


def _client() -> str:
    """The client's address (``unknown`` when Streamlit cannot tell, e.g. under AppTest)."""
    try:
        address = st.context.ip_address
    except Exception:
        return "unknown"
    return address if isinstance(address, str) and address else "unknown"


def _audit(
    app: str,
    action: str,
    who: str,
    role: str | None,
    detail: str | None = None,
    target: str | None = None,
) -> None:
    audit.record(
        get_settings().data_dir,
        who=who,
        role=role,
        app=app,
        action=action,
        target=target,
        detail=detail,
    )


def _role_of(email: str) -> str | None:
    roles = st.secrets.get("roles", {})
    for role in ROLES:
        if email.lower() in {str(e).lower() for e in roles.get(role, [])}:
            return role
    return None


def _oidc_still(user: User) -> bool:
    """The identity provider's login still stands and still has the user's role."""
    try:
        return bool(st.user.is_logged_in) and _role_of(_oidc_email()) == user.role
    except Exception:
        return False


def _oidc_email() -> str:
    return str(st.user.get("email") or st.user.get("sub") or "unknown")


def _oidc_user(app: str) -> User:
    if not st.user.is_logged_in:
        st.title("Sign in")
        st.write("This workspace needs you to sign in with your organisation's account.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    email = _oidc_email()
    if st.user.get("email_verified") is False:
        _audit(app, "access_denied", email, None, "email not verified by the provider")
        st.error("Your email address is not verified by the sign-in provider.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    role = _role_of(email)
    if role is None:
        _audit(app, "access_denied", email, None, "no role for this account")
        st.error(f"{plain(email)} has no role here; ask an administrator to add you.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return User(email, role, "oidc")


def _password_user(app: str) -> User:
    configured = {r: os.environ.get(env, "") for r, env in PASSWORD_ENV.items()}
    offered = [r for r in ROLES if configured[r]]
    st.title("Sign in")
    if not offered:
        st.error(
            "Sign-in is required when the app is served beyond localhost, and none is set up: "
            "set OMS_OPS_PASSWORD and/or OMS_ANALYST_PASSWORD, or configure OIDC in "
            ".streamlit/secrets.toml (see .streamlit/secrets.example.toml)."
        )
        st.stop()
    client, now = _client(), datetime.now(UTC)
    failures = _failures()
    open_roles = [r for r in offered if len(failures.recent((client, r), now)) < MAX_FAILURES]
    if not open_roles:
        until = min(min(failures.recent((client, r), now)) for r in offered) + WINDOW
        st.error(f"Too many failed sign-ins from this address: try again after {until:%H:%M} UTC.")
        st.stop()
    with st.form("sign_in"):
        name = st.text_input("Your name", key="sign_in_name", max_chars=NAME_CHARS)
        role = st.selectbox("Role", open_roles, key="sign_in_role")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        st.stop()
    name = name.strip()[:NAME_CHARS]
    if not name:
        st.error("Say who you are: the audit trail records every sign-in by name.")
        st.stop()
    if role not in open_roles:
        st.stop()
    if not same_secret(password, configured[role]):
        # Counted per address and role, never cleared by a success: knowing the analyst
        # password must not buy more guesses at the ops one. They expire after WINDOW.
        count = failures.add((client, role), now)
        _audit(app, "sign_in_failed", name, role, f"from {client}; attempt {count}")
        if count >= MAX_FAILURES:
            _audit(app, "locked_out", name, role, f"from {client} for {WINDOW}")
            st.error(
                f"Too many failed sign-ins from this address for the {role} role: locked for "
                f"up to {int(WINDOW.total_seconds() // 60)} minutes."
            )
        else:
            st.error("Wrong password for this role.")
        st.stop()
    user = User(name, role, "password")
    # Recorded before the session knows the user: no sign-in without its audit record.
    _audit(app, "sign_in", name, role, f"password, from {client}")
    st.session_state[SESSION_KEY] = user
    st.rerun()
    return user  # not reached: st.rerun() ends this run


def current_user(app: str, allowed: tuple[str, ...]) -> User:
    """The signed-in user, allowed into ``app``; otherwise a sign-in form or a refusal, and
    the page stops there."""
    user: User | None = st.session_state.get(SESSION_KEY)
    if user is not None and user.method == "oidc" and not _oidc_still(user):
        # Signed out elsewhere, or the role was taken away: the session ends here.
        _audit(app, "access_denied", user.name, user.role, "session ended: role or login gone")
        st.session_state.pop(SESSION_KEY, None)
        user = None
    if user is None:
        if not sign_in_required():
            user = LOCAL
        elif _oidc_configured():
            user = _oidc_user(app)
            if st.session_state.get(SESSION_KEY) != user:
                _audit(app, "sign_in", user.name, user.role, "oidc")
        else:
            user = _password_user(app)
        st.session_state[SESSION_KEY] = user
    if user.role not in allowed:
        _audit(app, "access_denied", user.name, user.role, f"{app} is for {', '.join(allowed)}")
        st.error(
            f"The {app} workspace is for {' and '.join(allowed)}; you are signed in as {user.role}."
        )
        st.stop()
    return user


LOCAL = User("local", "ops", "local")


def user() -> User:
    """Who is using this session (the local user when nobody signed in: localhost)."""
    return st.session_state.get(SESSION_KEY) or LOCAL


def record(action: str, target: str | None = None, detail: str | None = None) -> None:
    """An ops action of this session's user in the audit trail (from the ops app)."""
    who = user()
    _audit("ops", action, who.name, who.role, detail, target)


def sign_out_button(app: str, user: User) -> None:
    """In the sidebar: who is signed in, and a way out (not for the local user)."""
    if user.method == "local":
        return
    st.sidebar.caption(f"Signed in as **{plain(user.name)}** ({user.role})")

    def leave() -> None:
        _audit(app, "sign_out", user.name, user.role)
        st.session_state.pop(SESSION_KEY, None)
        if user.method == "oidc":
            st.logout()

    st.sidebar.button("Sign out", on_click=leave, key="sign_out")
