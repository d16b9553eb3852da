"""`appliance users add|disable|enable|passwd|unlock|grant|list|api-key`: accounts, what they may use, API keys.

Like the audit commands these work on the appliance database, which several processes may
write, so they run while the service runs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from appliance.access.roles import ASSIGNABLE_ROLES
from appliance.actors import os_operator
from appliance.settings import Settings


def add_user_commands(commands: Any) -> None:
    """Register `users` and its subcommands on the root parser's subparsers."""
    users = commands.add_parser("users", help="web UI accounts: add, disable, passwd, unlock, grant, list")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in ASSIGNABLE_ROLES])
    add.add_argument("--collection", action="append", default=[], help="grant a collection (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for name, helptext in (("disable", "stop an account from signing in"), ("enable", "allow it again")):
        sub.add_parser(name, help=helptext).add_argument("name")
    passwd = sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    sub.add_parser("unlock", help="lift a lock-out after failed sign-ins now").add_argument("name")
    grant = sub.add_parser("grant", help="give (or with --revoke take away) collections and tabular models")
    grant.add_argument("name")
    grant.add_argument("collections", nargs="*", metavar="COLLECTION")
    grant.add_argument("--model", action="append", default=[], metavar="MODEL", help="a tabular model (repeatable)")
    grant.add_argument("--revoke", action="store_true")
    listing = sub.add_parser("list", help="accounts, roles and collections")
    listing.add_argument("--json", action="store_true")
    _add_api_key_commands(sub)


def _add_api_key_commands(sub: Any) -> None:
    keys = sub.add_parser("api-key", help="bearer tokens for the /v1 API: create (shown once), revoke, list")
    key_sub = keys.add_subparsers(dest="key_command", required=True)
    create = key_sub.add_parser("create", help="a new key for NAME; the token is printed once and never stored")
    create.add_argument("name")
    create.add_argument("--days", type=int, default=None, help="valid this many days (default: api.key_days)")
    create.add_argument("--json", action="store_true")
    revoke = key_sub.add_parser("revoke", help="stop one of NAME's keys now")
    revoke.add_argument("name")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.add_argument("--json", action="store_true")
    listing = key_sub.add_parser("list", help="NAME's keys (ids, dates, state; never the token)")
    listing.add_argument("name")
    listing.add_argument("--json", action="store_true")


def cmd_users(args: argparse.Namespace, settings: Settings, error: type[Exception]) -> int:
    """Run one users subcommand; `error` is the CLI's one-line error type."""
    from appliance.access.api_keys import ApiKeyError
    from appliance.access.passwords import WeakPassword
    from appliance.access.users import UserError
    from appliance.build import build_records
    from appliance.store.collection_names import InvalidCollectionName

    records = build_records(settings)
    directory = records.users
    operator = os_operator()
    try:
        if args.users_command == "add":
            user = directory.add(args.name, args.role, _password(args, error), by=operator)
            if args.collection:
                user = directory.grant(args.name, args.collection, by=operator)
            print(f"added {user.name} ({user.role}); collections: {', '.join(user.collections) or 'none'}")
        elif args.users_command in ("disable", "enable"):
            directory.set_disabled(args.name, args.users_command == "disable", by=operator)
            print(f"{args.users_command}d {args.name}")
        elif args.users_command == "passwd":
            directory.set_password(args.name, _password(args, error), by=operator)
            print(f"password changed for {args.name}; their web sessions have ended")
        elif args.users_command == "unlock":
            directory.unlock(args.name, by=operator)
            print(f"unlocked {args.name}")
        elif args.users_command == "grant":
            user = directory.grant(args.name, args.collections, by=operator, revoke=args.revoke, models=args.model)
            print(
                f"{user.name}: collections {', '.join(user.collections) or 'none'}; models {', '.join(user.models) or 'none'}"
            )
        elif args.users_command == "api-key":
            _api_key(args, settings, records)
        else:
            _list(directory.list(), as_json=args.json)
    except (UserError, WeakPassword, InvalidCollectionName, ApiKeyError) as problem:
        raise error(str(problem)) from None
    finally:
        records.close()
    return 0


def _api_key(args: argparse.Namespace, settings: Settings, records: Any) -> None:
    """`users api-key create|revoke|list`."""
    import time

    from appliance.access.api_keys import ApiKeys

    keys = ApiKeys(records.audit, records.users)
    now = int(time.time() * 1000)
    if args.key_command == "create":
        key, token = keys.create(args.name, days=args.days or settings.api.key_days, by=os_operator())
        if args.json:
            print(json.dumps({**key.to_json(now), "token": token}, indent=2))
            return
        print(token)
        print(
            f"key {key.id} for {key.user}, valid until {_date(key.expires_ms)}: this is the only time the token "
            "is shown; send it as 'Authorization: Bearer TOKEN'",
            file=sys.stderr,
        )
    elif args.key_command == "revoke":
        key = keys.revoke(args.name, args.key_id, by=os_operator())
        print(json.dumps(key.to_json(now), indent=2) if args.json else f"revoked key {key.id} of {key.user}")
    else:
        found = keys.list(args.name)
        if args.json:
            print(json.dumps([k.to_json(now) for k in found], indent=2))
            return
        for k in found:
            print(f"{k.id}  created {_date(k.created_ms)}  expires {_date(k.expires_ms)}  {k.state(now)}")
        print(f"{len(found)} keys")


def _date(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _password(args: argparse.Namespace, error: type[Exception]) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise error("the two passwords differ")
    else:
        raise error("no terminal to ask for the password: pass --password-stdin")
    if not password:
        raise error("empty password")
    return password


def _list(users: list[Any], *, as_json: bool) -> None:
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "disabled": u.disabled,
            "collections": list(u.collections),
            "models": list(u.models),
        }
        for u in users
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = " (disabled)" if row["disabled"] else ""
        models = f"; models {', '.join(row['models'])}" if row["models"] else ""
        print(f"{row['name']:<20} {row['role']:<8} {', '.join(row['collections']) or '-'}{models}{state}")
    print(f"{len(rows)} users")
