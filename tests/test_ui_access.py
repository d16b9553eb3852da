"""Web access rules (appliance/access/rules.py) and web sessions (ui/sessions.py), without a server."""

from __future__ import annotations

import time

import pytest

from appliance.access.login_throttle import LoginThrottle, client_address
from appliance.access.roles import Forbidden, Permission
from appliance.access.rules import authorize, proxy_user, settings_view, usable_collections
from appliance.access.sessions import SessionStore
from appliance.access.users import UserDirectory, UserRecord
from appliance.audit.log import open_audit_log
from appliance.settings import Settings, WebSettings
from tests.actors import TESTER

ANALYST = UserRecord("ana", "analyst", False, ("finance",))
AUDITOR = UserRecord("aud", "auditor", False, ())
ADMIN = UserRecord("ada", "admin", False, ())


def test_authorize_checks_role_then_collections() -> None:
    assert authorize(ANALYST, Permission.ASK, ["finance"]) == ["finance"]
    assert authorize(ANALYST, Permission.ASK, known=["finance", "hr"]) == ["finance"]
    with pytest.raises(Forbidden, match="hr"):
        authorize(ANALYST, Permission.ASK, ["finance", "hr"])
    with pytest.raises(Forbidden):
        authorize(ANALYST, Permission.DELETE_DOCUMENT, ["finance"])
    with pytest.raises(Forbidden):
        authorize(AUDITOR, Permission.ASK)
    assert authorize(AUDITOR, Permission.AUDIT_EXPORT) == []
    assert authorize(ADMIN, Permission.ASK, known=["finance", "hr"]) == ["finance", "hr"]
    assert authorize(ADMIN, Permission.DELETE_DOCUMENT, ["hr"]) == ["hr"]
    with pytest.raises(Forbidden, match="invalid collection"):
        authorize(ADMIN, Permission.ASK, ["../etc"])
    with pytest.raises(Forbidden, match="disabled"):
        authorize(UserRecord("old", "admin", True, ()), Permission.ASK)
    assert usable_collections(ANALYST, ["finance", "hr"]) == ["finance"]


def test_settings_view_masks_the_database_password(home) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=home, audit={"database_url": "postgresql+psycopg://app:s3cret@db.internal/appliance"})
    shown = settings_view(settings)
    assert "s3cret" not in str(shown)
    assert shown["audit"]["database_url"] == "postgresql+psycopg://app:***@db.internal/appliance"
    assert shown["web"]["queue_size"] == settings.web.queue_size


class Clock:
    """A clock the test moves: session timeouts without sleeping, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    """The appliance database (migrated) with users ana, ben and cy; yields its engine."""
    log = open_audit_log(settings)
    directory = UserDirectory(log)
    for name in ("ana", "ben", "cy"):
        directory.add(name, "analyst", "a long enough passphrase", by=TESTER)
    yield log.engine
    log.close()


KEY = b"k" * 32


def test_sessions_expire_and_cookies_are_signed(database) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    store = SessionStore(database, KEY, lifetime_seconds=3600, idle_seconds=30, clock=clock)
    cookie = store.create("ana")
    clock.now += 29
    session = store.resolve(cookie)
    assert session is not None and session.user == "ana"
    token, signature = cookie.rsplit(".", 1)
    assert store.resolve(f"{token}.{'0' * len(signature)}") is None  # forged signature
    assert store.resolve(token) is None and store.resolve(None) is None
    clock.now += 29
    assert store.resolve(cookie) is not None  # each use restarts the idle time
    clock.now += 31
    assert store.resolve(cookie) is None  # idle too long
    short = SessionStore(database, KEY, lifetime_seconds=100, idle_seconds=60, clock=clock)
    cookie = short.create("ana")
    for _ in range(3):
        clock.now += 50
        short.resolve(cookie)
    assert short.resolve(cookie) is None  # past its lifetime, however active
    assert [s.user for s in short.take_expired()] == ["ana"] and short.take_expired() == []  # handed over once
    forgotten = short.create("ben")
    clock.now += 61
    short.create("cy")  # a sign-in sweeps sessions that ran out, even ones never presented again
    assert [s.user for s in short.take_expired()] == ["ben"] and short.resolve(forgotten) is None
    store = SessionStore(database, KEY, 3600, 3600)
    first, second = store.create("ana"), store.create("ana")
    assert len(store.end_user("ana")) == 2 and store.resolve(first) is None and store.resolve(second) is None


def test_two_front_ends_and_a_restart_share_sessions_and_the_database_holds_no_token(database) -> None:  # type: ignore[no-untyped-def]
    one, two = SessionStore(database, KEY, 3600, 3600), SessionStore(database, KEY, 3600, 3600)
    cookie = one.create("ana", epoch=3)
    seen = two.resolve(cookie)
    assert seen is not None and seen.user == "ana" and seen.epoch == 3 and seen.id == one.resolve(cookie).id  # type: ignore[union-attr]
    restarted = SessionStore(database, KEY, 3600, 3600)
    assert restarted.resolve(cookie) is not None
    assert SessionStore(database, b"another key" * 3, 3600, 3600).resolve(cookie) is None  # not our signature
    token = cookie.rsplit(".", 1)[0]
    with database.connect() as conn:
        stored = str(conn.exec_driver_sql("SELECT * FROM web_sessions").all())
    assert token not in stored
    two.end(cookie)  # signing out on one front-end ends it on every front-end
    assert one.resolve(cookie) is None


def test_login_throttle_per_address_and_per_address_and_name(database) -> None:  # type: ignore[no-untyped-def]
    throttle = LoginThrottle(database, KEY, per_address=5, per_address_and_name=3, window_seconds=60)
    other_front_end = LoginThrottle(database, KEY, per_address=5, per_address_and_name=3, window_seconds=60)
    for n in range(3):
        assert throttle.allowed("10.0.0.5", "ana")
        (throttle if n % 2 else other_front_end).failed("10.0.0.5", "ana")  # counted wherever it happened
    assert not throttle.allowed("10.0.0.5", "ana") and not other_front_end.allowed("10.0.0.5", "ana")
    assert throttle.allowed("10.0.0.5", "ben") and throttle.allowed("10.0.0.6", "ana")
    for _ in range(2):
        throttle.failed("10.0.0.5", "my secret password")
    assert not throttle.allowed("10.0.0.5", "cy")  # five failures from one address, whatever the names
    assert throttle.allowed("10.0.0.6", "cy")
    with database.connect() as conn:
        stored = str(conn.exec_driver_sql("SELECT * FROM sign_in_failures").all())
    assert "secret" not in stored and "ana" not in stored  # typed names are kept only as an HMAC
    clock = Clock()
    clock.now = time.time() + 61
    later = LoginThrottle(database, KEY, per_address=5, per_address_and_name=3, window_seconds=60, clock=clock)
    assert later.allowed("10.0.0.5", "cy")  # a minute on, the window has passed


def test_the_client_address_comes_from_a_trusted_proxy_only() -> None:
    headers = {"x-forwarded-for": "192.0.2.1, 10.0.0.7"}
    assert client_address("10.0.0.9", {"x-real-ip": "10.0.0.7"}, ["10.0.0.1"]) == "10.0.0.9"  # not trusted
    assert client_address("10.0.0.1", {"x-real-ip": "10.0.0.7"}, ["10.0.0.1"]) == "10.0.0.7"
    assert client_address("10.0.0.1", headers, ["10.0.0.1"]) == "10.0.0.7"  # rightmost: what the proxy saw
    assert client_address("10.0.0.1", {"x-real-ip": "not an address"}, ["10.0.0.1"]) == "10.0.0.1"
    assert client_address("10.0.0.1", {}, ["10.0.0.1"]) == "10.0.0.1"


def test_proxy_header_only_from_trusted_addresses(settings) -> None:  # type: ignore[no-untyped-def]
    log = open_audit_log(settings)
    try:
        directory = UserDirectory(log)
        directory.add("ana", "analyst", "a long enough passphrase", by=TESTER)
        directory.add("gone", "analyst", "a long enough passphrase", by=TESTER)
        directory.set_disabled("gone", True, by=TESTER)
        off = WebSettings()
        on = WebSettings(trusted_proxy_header="X-Remote-User", trusted_proxies=["10.0.0.1"])
        headers = {"x-remote-user": "ana"}
        assert proxy_user(off, directory, headers, "10.0.0.1") is None  # off by default
        assert proxy_user(on, directory, headers, "10.0.0.9") is None  # not a trusted proxy
        user = proxy_user(on, directory, headers, "10.0.0.1")
        assert user is not None and user.name == "ana"
        assert proxy_user(on, directory, {"x-remote-user": "gone"}, "10.0.0.1") is None
        assert proxy_user(on, directory, {"x-remote-user": "nobody"}, "10.0.0.1") is None
    finally:
        log.close()
