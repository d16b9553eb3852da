"""One vocabulary of audit actions: every action the code records is named in audit/events.py.

A reviewer reads the README's list of actions; a literal action string written anywhere else
would be an action nobody listed. The check reads the source (every call that records an event)
rather than running it, so it covers paths no other test takes.
"""

from __future__ import annotations

import ast
from pathlib import Path

from appliance.audit import events

REPO = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((REPO / "appliance").rglob("*.py")), *sorted((REPO / "ui").rglob("*.py"))]
EVENT_MODULE_NAMES = {"audit_events", "events"}
# The standalone verifier spells the purge action itself: it must run with no appliance code.
STANDALONE = REPO / "appliance" / "audit" / "chain.py"


def _action_argument(call: ast.Call) -> ast.expr | None:
    """The action a recording call passes: `log.record(actor, ACTION, ...)`, `writer.append(actor, ACTION, ...)`,
    `self._change(name, by, ACTION, ...)`; None for any other call."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    receiver = func.value.id if isinstance(func.value, ast.Name) else getattr(func.value, "attr", "")
    if func.attr == "record" and len(call.args) >= 2:
        return call.args[1]
    if func.attr == "append" and receiver == "writer" and len(call.args) >= 2:
        return call.args[1]
    if func.attr == "_change" and len(call.args) >= 3:
        return call.args[2]
    return None


def _named_actions(node: ast.expr) -> list[str] | None:
    """The vocabulary names an expression stands for (`events.ASK`, or `A if c else B`), None if it is not one."""
    if isinstance(node, ast.IfExp):
        left, right = _named_actions(node.body), _named_actions(node.orelse)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in EVENT_MODULE_NAMES:
        return [node.attr]
    return None


def recording_problems(path: Path) -> list[str]:
    """Every recording call in a file whose action is a literal, or a vocabulary name that does not exist."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        action = _action_argument(node) if isinstance(node, ast.Call) else None
        if action is None:
            continue
        where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{action.lineno}"
        if isinstance(action, ast.Constant | ast.JoinedStr):
            problems.append(f"{where}: action {ast.unparse(action)} is a literal; name it in audit/events.py")
            continue
        for name in _named_actions(action) or []:
            value = getattr(events, name, None)
            if value not in events.ACTIONS:
                problems.append(f"{where}: events.{name} is not an action of the vocabulary")
    return problems


def test_every_recorded_action_is_named_in_the_vocabulary() -> None:
    problems = [problem for path in SOURCES for problem in recording_problems(path)]
    assert problems == []


def test_the_check_finds_a_literal_action_and_an_unknown_name(tmp_path: Path) -> None:
    """The check itself bites: a recording call with a literal action, or an unknown name, is found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(log, writer, actor):\n"
        "    log.record(actor, 'users.add', subject='x')\n"
        "    writer.append(actor, events.NOT_AN_ACTION, 'x', {})\n"
        "    log.record(actor, events.ASK)\n"
    )
    found = recording_problems(sample)
    assert len(found) == 2, found
    assert "'users.add' is a literal" in found[0] and "events.NOT_AN_ACTION" in found[1]


def test_the_vocabulary_and_the_standalone_verifier_agree_on_the_purge_action() -> None:
    from appliance.audit.chain import PURGE_ACTION

    assert events.PURGE == PURGE_ACTION and PURGE_ACTION in events.ACTIONS
    assert STANDALONE.is_file()


def test_every_vocabulary_constant_is_in_the_list_of_actions() -> None:
    constants = {
        value for name, value in vars(events).items() if name.isupper() and isinstance(value, str) and "." in value
    }
    assert constants <= events.ACTIONS
    assert {events.ASK, events.FEEDBACK, events.BACKUP, events.LOGOUT} <= events.ACTIONS
