"""API keys on the real appliance database: shown once, stored hashed, and dead when they should be."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import text

from appliance.access.api_keys import ApiKeyError, ApiKeys
from appliance.access.users import UserDirectory
from appliance.audit import events as audit_events
from appliance.audit.log import open_audit_log
from appliance.audit.verify import verify_log
from tests.actors import TESTER
from tests.conftest import APPLIANCE_BIN, cli_env

PASSWORD = "a long enough passphrase"


@pytest.fixture
def keys(settings):  # type: ignore[no-untyped-def]
    log = open_audit_log(settings)
    directory = UserDirectory(log)
    directory.add("ana", "analyst", PASSWORD, by=TESTER)
    directory.add("ben", "analyst", PASSWORD, by=TESTER)
    yield ApiKeys(log, directory), directory, log
    log.close()


def _table(log) -> str:  # type: ignore[no-untyped-def]
    with log.engine.connect() as conn:
        return json.dumps([list(r) for r in conn.execute(text("SELECT * FROM api_keys")).all()])


def test_a_key_speaks_for_its_user_and_only_its_hash_is_stored(keys) -> None:  # type: ignore[no-untyped-def]
    api_keys, _, log = keys
    key, token = api_keys.create("ana", days=30, by=TESTER)
    caller = api_keys.caller(token)
    assert caller is not None and caller.user.name == "ana" and caller.key_id == key.id
    secret = token.rsplit("_", 1)[1]
    stored = _table(log)
    assert key.id in stored and secret not in stored and token not in stored
    assert token not in json.dumps(list(log.events()))  # the audit log names the key, never the token
    assert [k.id for k in api_keys.list("ana")] == [key.id] and api_keys.list("ben") == []
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), f"apl_{'0' * 16}_{secret}", "", "Bearer " + token):
        assert api_keys.caller(forged) is None
    events = [e["action"] for e in log.events()]
    assert audit_events.API_KEY_CREATE in events and verify_log(log).ok


def test_revoked_expired_disabled_and_re_passworded_keys_stop_working(keys) -> None:  # type: ignore[no-untyped-def]
    api_keys, directory, log = keys
    first, first_token = api_keys.create("ana", days=1, by=TESTER)
    api_keys.revoke("ana", first.id, by=TESTER)
    assert api_keys.caller(first_token) is None
    with pytest.raises(ApiKeyError, match="already revoked"):
        api_keys.revoke("ana", first.id, by=TESTER)
    with pytest.raises(ApiKeyError, match="no key"):
        api_keys.revoke("ben", first.id, by=TESTER)  # one user cannot revoke (or learn of) another's key

    _, expiring = api_keys.create("ana", days=1, by=TESTER)
    with log.engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET expires_ms = 1 WHERE revoked_ms IS NULL"))
    assert api_keys.caller(expiring) is None

    _, token = api_keys.create("ana", days=1, by=TESTER)
    directory.set_disabled("ana", True, by=TESTER)
    assert api_keys.caller(token) is None
    directory.set_disabled("ana", False, by=TESTER)
    assert api_keys.caller(token) is None  # disabling revoked it for good
    assert {k.state(0) for k in api_keys.list("ana")} == {"revoked"}

    _, token = api_keys.create("ana", days=1, by=TESTER)
    assert api_keys.caller(token) is not None
    directory.set_password("ana", PASSWORD + " changed", by=TESTER)
    assert api_keys.caller(token) is None
    directory.set_disabled("ben", True, by=TESTER)
    with pytest.raises(ApiKeyError, match="disabled"):
        api_keys.create("ben", days=1, by=TESTER)
    with pytest.raises(ApiKeyError, match="--days"):
        api_keys.create("ana", days=0, by=TESTER)


def test_a_password_change_ends_a_key_even_if_the_revocation_row_were_missed(keys) -> None:  # type: ignore[no-untyped-def]
    """The key remembers the account's session epoch: a new password moves it on, whatever else happened."""
    api_keys, _, log = keys
    _, token = api_keys.create("ana", days=1, by=TESTER)
    with log.engine.begin() as conn:
        conn.execute(text("UPDATE users SET session_epoch = session_epoch + 1 WHERE name = 'ana'"))
    assert api_keys.caller(token) is None


def test_the_api_key_commands(home) -> None:  # type: ignore[no-untyped-def]
    env = cli_env(home)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([APPLIANCE_BIN, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)

    assert run("users", "add", "ana", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    made = run("users", "api-key", "create", "ana", "--days", "7")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("apl_") and "only time" in made.stderr
    listed = json.loads(run("users", "api-key", "list", "ana", "--json").stdout)
    assert [k["state"] for k in listed] == ["active"] and token not in json.dumps(listed)
    key_id = listed[0]["id"]
    assert key_id in token
    revoked = run("users", "api-key", "revoke", "ana", key_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    again = run("users", "api-key", "revoke", "ana", key_id)
    assert again.returncode != 0 and "already revoked" in again.stderr and "Traceback" not in again.stderr
    nobody = run("users", "api-key", "create", "nobody")
    assert nobody.returncode != 0 and "no user" in nobody.stderr
