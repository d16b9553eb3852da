"""Accounts, roles and logins on the real appliance database."""

from __future__ import annotations

import json
import subprocess

import pytest

from appliance.access.passwords import WeakPassword, hash_password, password_matches
from appliance.access.roles import Forbidden, Permission, Role, allowed, require
from appliance.access.users import MAX_FAILED_LOGINS, LoginFailed, UserDirectory, UserError
from appliance.actors import Actor
from appliance.audit.log import open_audit_log
from appliance.audit.verify import verify_log
from tests.conftest import APPLIANCE_BIN, cli_env

ADMIN = Actor("os:tester", "operator")
PASSWORD = "a long enough passphrase"


@pytest.fixture
def directory(settings):  # type: ignore[no-untyped-def]
    log = open_audit_log(settings)
    yield UserDirectory(log)
    log.close()


def test_passwords_are_salted_slow_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$") and PASSWORD not in first
    assert password_matches(PASSWORD, first) and not password_matches(PASSWORD + "x", first)
    assert not password_matches(PASSWORD, "garbage")
    with pytest.raises(WeakPassword):
        hash_password("short")


def test_the_role_table() -> None:
    assert allowed("admin", Permission.MANAGE_USERS) and allowed("admin", Permission.AUDIT_PURGE)
    assert allowed("analyst", Permission.ASK) and allowed("analyst", Permission.INGEST)
    assert allowed("analyst", Permission.FEEDBACK)
    assert not allowed("analyst", Permission.AUDIT_SEARCH) and not allowed("analyst", Permission.MANAGE_USERS)
    assert not allowed("analyst", Permission.DELETE_DOCUMENT)
    assert allowed("analyst", Permission.USE_MODELS) and not allowed("analyst", Permission.TRAIN_MODELS)
    assert allowed("admin", Permission.TRAIN_MODELS) and not allowed("auditor", Permission.USE_MODELS)
    assert allowed("auditor", Permission.AUDIT_EXPORT) and allowed("auditor", Permission.AUDIT_VERIFY)
    assert not allowed("auditor", Permission.ASK) and not allowed("auditor", Permission.INGEST)
    assert not allowed("nobody", Permission.ASK)
    with pytest.raises(Forbidden):
        require(Role.AUDITOR, Permission.ASK)


def test_add_grant_login_and_audit(directory: UserDirectory) -> None:
    user = directory.add("alice", "analyst", PASSWORD, by=ADMIN)
    directory.grant("alice", ["finance"], by=ADMIN)
    assert directory.authenticate("alice", PASSWORD, origin="127.0.0.1").collections == ("finance",)
    user = directory.get("alice")
    assert user.may_read("finance") and not user.may_read("hr")
    with pytest.raises(LoginFailed):
        directory.authenticate("alice", "wrong password!!")
    with pytest.raises(LoginFailed):
        directory.authenticate("mallory", "whatever password")
    with pytest.raises(UserError):
        directory.add("alice", "analyst", PASSWORD, by=ADMIN)
    with pytest.raises(UserError):
        directory.add("Bad Name", "analyst", PASSWORD, by=ADMIN)
    with pytest.raises(UserError):
        directory.add("carol", "operator", PASSWORD, by=ADMIN)
    actions = [e["action"] for e in directory._audit.events()]
    assert actions == ["users.add", "users.grant", "login.success", "login.failure", "login.failure"]
    events = list(directory._audit.events())
    assert "mallory" not in str(events[-1])  # an unknown name is never logged: it may be a mistyped password
    assert verify_log(directory._audit).ok


def test_failed_logins_lock_the_account_and_disabled_users_cannot_sign_in(directory: UserDirectory) -> None:
    directory.add("bob", "auditor", PASSWORD, by=ADMIN)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(LoginFailed):
            directory.authenticate("bob", "not the password")
    with pytest.raises(LoginFailed):
        directory.authenticate("bob", PASSWORD)  # locked, even with the right password
    directory.set_password("bob", PASSWORD + "!", by=ADMIN)  # an admin reset clears the lock
    assert directory.authenticate("bob", PASSWORD + "!").role == "auditor"
    directory.set_disabled("bob", True, by=ADMIN)
    with pytest.raises(LoginFailed):
        directory.authenticate("bob", PASSWORD + "!")


def test_a_lock_doubles_from_thirty_seconds_and_stops_at_fifteen_minutes(settings) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    log = open_audit_log(settings)
    directory = UserDirectory(log)
    directory.add("cal", "analyst", PASSWORD, by=ADMIN)
    for _ in range(8):
        for _ in range(MAX_FAILED_LOGINS):
            with pytest.raises(LoginFailed):
                directory.authenticate("cal", "not the password")
        with log.engine.begin() as conn:  # the lock ran out, as if its time had passed
            conn.execute(text("UPDATE users SET locked_until_ms = 1 WHERE name = 'cal'"))
    locks = [e["details"]["locked_seconds"] for e in log.events("action = 'login.failure'") if e["details"]["locked"]]
    assert locks == [30, 60, 120, 240, 480, 900, 900, 900]
    assert directory.authenticate("cal", PASSWORD).name == "cal"  # the right password after the lock
    log.close()


def test_users_cli(home) -> None:  # type: ignore[no-untyped-def]
    env = cli_env(home)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([APPLIANCE_BIN, "users", *args], input=stdin, env=env, capture_output=True, text=True)

    assert (
        run("add", "dana", "--role", "analyst", "--collection", "hr", "--password-stdin", stdin=PASSWORD).returncode
        == 0
    )
    short = run("add", "erin", "--role", "analyst", "--password-stdin", stdin="short")
    assert short.returncode != 0 and "12 characters" in short.stderr and "Traceback" not in short.stderr
    assert run("grant", "dana", "finance").returncode == 0
    assert run("grant", "dana", "--model", "credit", "--model", "claims").returncode == 0
    assert run("grant", "dana", "--revoke", "--model", "claims").returncode == 0
    bad = run("grant", "dana", "--model", "../credit")
    assert bad.returncode != 0 and "model name" in bad.stderr and "Traceback" not in bad.stderr
    nothing = run("grant", "dana")
    assert nothing.returncode != 0 and "at least one collection or --model" in nothing.stderr
    assert run("disable", "dana").returncode == 0
    listed = json.loads(run("list", "--json").stdout)
    assert listed == [
        {"name": "dana", "role": "analyst", "disabled": True, "collections": ["finance", "hr"], "models": ["credit"]}
    ]
    missing = run("passwd", "nobody", "--password-stdin", stdin=PASSWORD)
    assert missing.returncode != 0 and "no user 'nobody'" in missing.stderr
