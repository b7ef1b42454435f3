"""Sign-in and roles on the analyst and ops apps (Streamlit AppTest), and the audit trail they
write. Served beyond localhost the apps ask for a sign-in; ``OMS_SIGN_IN=required`` asks the
same on localhost, as here."""

from __future__ import annotations

import secrets

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import auth
from pipelines.lib import audit
from pipelines.project import DASHBOARDS_DIR
from tests.integration.test_hostile_input import direct_csv, direct_order

#: Made per run: no password is written in the repository (test_no_secrets_committed).
OPS_PASSWORD = secrets.token_urlsafe(18)
ANALYST_PASSWORD = secrets.token_urlsafe(18) + " & ü"


@pytest.fixture
def signed(oms_env, monkeypatch):
    """Sign-in required, a password per role; the lock-out counts start empty."""
    monkeypatch.setenv("OMS_SIGN_IN", "required")
    monkeypatch.setenv("OMS_OPS_PASSWORD", OPS_PASSWORD)
    monkeypatch.setenv("OMS_ANALYST_PASSWORD", ANALYST_PASSWORD)
    auth._failures.clear()
    yield oms_env
    auth._failures.clear()


def _open(app_file: str) -> AppTest:
    app = AppTest.from_file(str(DASHBOARDS_DIR / app_file), default_timeout=60).run()
    assert not app.exception, app.exception
    return app


def _sign_in(app: AppTest, name: str, role: str, password: str) -> AppTest:
    app.text_input(key="sign_in_name").input(name)
    app.selectbox(key="sign_in_role").select(role)
    app.text_input(key="sign_in_password").input(password)
    app.button[0].click().run()
    assert not app.exception, app.exception
    return app


def _titles(app: AppTest) -> list[str]:
    return [t.value for t in app.title]


def _trail(settings) -> list[tuple]:
    return [
        (r["who"], r["role"], r["app"], r["action"])
        for r in reversed(audit.read(settings.data_dir))
    ]


@pytest.mark.parametrize("app_file", ["streamlit_app.py", "ops_app.py"])
def test_each_app_shows_only_a_sign_in_until_someone_signs_in(signed, app_file):
    app = _open(app_file)
    assert _titles(app) == ["Sign in"]
    assert not app.metric and not app.dataframe and not app.info
    assert [s.label for s in app.selectbox] == ["Role"]


def test_the_right_password_lets_an_analyst_into_the_dashboards_and_the_wrong_one_does_not(
    signed,
):
    app = _sign_in(_open("streamlit_app.py"), "Bo", "analyst", "guess")
    assert _titles(app) == ["Sign in"]
    assert [e.value for e in app.error] == ["Wrong password for this role."]
    # The other role's password is not this role's.
    app = _sign_in(app, "Bo", "analyst", OPS_PASSWORD)
    assert _titles(app) == ["Sign in"]
    app = _sign_in(app, "Bo", "analyst", ANALYST_PASSWORD)
    assert _titles(app) == ["Overview"]
    assert "Signed in as **Bo** (analyst)" in [c.value for c in app.sidebar.caption]
    assert _trail(signed) == [
        ("Bo", "analyst", "analytics", "sign_in_failed"),
        ("Bo", "analyst", "analytics", "sign_in_failed"),
        ("Bo", "analyst", "analytics", "sign_in"),
    ]
    assert audit.verify(signed.data_dir) == []


def test_an_analyst_may_not_enter_the_ops_workspace(signed):
    app = _sign_in(_open("ops_app.py"), "Bo", "analyst", ANALYST_PASSWORD)
    assert _titles(app) == []
    assert app.error[0].value.startswith("The ops workspace is for ops")
    assert not app.file_uploader
    assert _trail(signed)[-1] == ("Bo", "analyst", "ops", "access_denied")


def test_ops_sign_in_and_their_actions_are_in_the_audit_trail_by_name(signed, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("OMS_DAGSTER_URL", f"http://127.0.0.1:{free_port()}")
    app = _sign_in(_open("ops_app.py"), "Ana Ruiz", "ops", OPS_PASSWORD)
    assert _titles(app) == ["Upload"]
    app.file_uploader[0].set_value(
        [("orders.csv", direct_csv([direct_order("SIGN-1")]).encode(), "text/csv")]
    )
    app.run()
    next(b for b in app.button if b.label == "Accept the file").click().run()
    assert not app.exception
    trail = audit.read(signed.data_dir)
    assert [(r["who"], r["action"]) for r in reversed(trail)] == [
        ("Ana Ruiz", "sign_in"),
        ("Ana Ruiz", "upload_accepted"),
    ]
    assert trail[0]["target"] in {p.name for p in signed.inbox.iterdir()}
    # The audit trail page shows it, chain intact.
    page = app.switch_page("app_pages/audit_trail.py").run()
    assert not page.exception
    assert page.success[0].value == "2 records, chain intact."
    shown = page.dataframe[0].value
    assert list(shown["action"]) == ["upload_accepted", "sign_in"]


def test_five_failed_sign_ins_lock_the_role_out_even_for_the_right_password(signed):
    app = _open("ops_app.py")
    for attempt in range(auth.MAX_FAILURES):
        app = _sign_in(app, "Eve", "ops", f"guess {attempt}")
    assert "locked for up to 15 minutes" in app.error[0].value
    # A new session from the same address is not offered the ops role any more, so the right
    # ops password cannot be tried.
    again = _open("ops_app.py")
    assert again.selectbox(key="sign_in_role").options == ["analyst"]
    # With every role locked, the form is gone.
    for attempt in range(auth.MAX_FAILURES):
        again = _sign_in(again, "Eve", "analyst", f"guess {attempt}")
    last = _open("ops_app.py")
    assert not last.text_input and last.error[0].value.startswith("Too many failed")
    actions = [a for _, _, _, a in _trail(signed)]
    assert actions == (["sign_in_failed"] * 5 + ["locked_out"]) * 2


def test_sign_in_required_without_any_password_or_oidc_says_what_to_set(oms_env, monkeypatch):
    monkeypatch.setenv("OMS_SIGN_IN", "required")
    monkeypatch.delenv("OMS_OPS_PASSWORD", raising=False)
    monkeypatch.delenv("OMS_ANALYST_PASSWORD", raising=False)
    app = _open("streamlit_app.py")
    assert "set OMS_OPS_PASSWORD and/or OMS_ANALYST_PASSWORD" in app.error[0].value
    assert not app.text_input


def test_on_localhost_the_apps_need_no_sign_in(oms_env, monkeypatch):
    monkeypatch.delenv("OMS_SIGN_IN", raising=False)
    assert _titles(_open("ops_app.py")) == ["Upload"]
    assert _titles(_open("streamlit_app.py")) == ["Overview"]
    assert audit.read(oms_env.data_dir) == []


def test_the_password_comparison_is_exact():
    assert auth.same_secret(OPS_PASSWORD, OPS_PASSWORD)
    assert not auth.same_secret(OPS_PASSWORD + " ", OPS_PASSWORD)
    assert not auth.same_secret("", OPS_PASSWORD)
    assert not auth.same_secret(OPS_PASSWORD.upper(), OPS_PASSWORD)


def test_a_known_analyst_password_buys_no_more_guesses_at_the_ops_one(signed):
    for attempt in range(auth.MAX_FAILURES - 1):
        _sign_in(_open("ops_app.py"), "Eve", "ops", f"guess {attempt}")
    # Signing in as analyst (in another session) does not reset the ops count ...
    assert _titles(_sign_in(_open("streamlit_app.py"), "Eve", "analyst", ANALYST_PASSWORD)) == [
        "Overview"
    ]
    app = _sign_in(_open("ops_app.py"), "Eve", "ops", "guess 5")
    assert "locked for up to 15 minutes" in app.error[0].value
    # ... and ops is locked for this address while the analyst role is still open.
    again = _open("ops_app.py")
    assert [o for o in again.selectbox(key="sign_in_role").options] == ["analyst"]
    app = _sign_in(again, "Eve", "analyst", ANALYST_PASSWORD)
    assert app.error[0].value.startswith("The ops workspace is for ops")
