"""`appliance selftest`: prove an installation works, in a throw-away APPLIANCE_HOME.

It runs the installed `appliance` command itself, as an operator would, against a fresh home
under APPLIANCE_HOME/tmp (the real documents, keys and audit log are never touched):
ingest the bundled sample (a page of the demo corpus), check that its planted personal data
did not reach the store, ask a question and check every citation against the stored text
(`quote == docs show(doc_id).text[start:end]`), and verify the audit chain. With `--backup` it
also backs the home up (passphrase), restores it into a second fresh home and checks the chain
and a cited answer there. Each step is timed; the verdict is one line: PASS or FAIL.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.demo import CORPUS
from appliance.settings import Settings

SAMPLE = CORPUS / "documents" / "travel_expense_policy.md"
EXPECTATIONS = CORPUS / "expectations.json"
QUESTION = "Within how many days must expense claims be submitted?"
EXPECTED_FACT = "within 30 days"
COLLECTION = "selftest"
STEP_TIMEOUT_S = 900
# The CLI looks for the service's control socket at APPLIANCE_HOME/control.sock; a Unix socket path
# holds at most 107 bytes on Linux.
MAX_SOCKET_PATH = 107
# Settings that describe the machine and its models are kept (an operator's own GGUF is tested);
# everything that points at data (a PostgreSQL audit database, a checkpoint copy, stores) is dropped.
KEPT_SETTINGS = ("APPLIANCE_RUNTIME__", "APPLIANCE_MODELS__", "APPLIANCE_GENERATION__")


class SelfTestFailed(Exception):
    """A check did not hold: the step's one-line reason."""


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str


@dataclass
class SelfTest:
    home: Path
    steps: list[Step] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "home": str(self.home),
            "seconds": round(sum(s.seconds for s in self.steps), 2),
            "steps": [asdict(s) | {"seconds": round(s.seconds, 2)} for s in self.steps],
        }


def add_selftest_command(commands: Any) -> None:
    """Register `selftest` on the root parser's subparsers."""
    selftest = commands.add_parser(
        "selftest", help="ingest a sample, ask with verified citations, verify the audit log (in a throw-away home)"
    )
    selftest.add_argument("--backup", action="store_true", help="also back up, restore into a fresh home, check again")
    selftest.add_argument("--keep", action="store_true", help="keep the throw-away home (its path is printed)")
    selftest.add_argument("--json", action="store_true", help="print the steps as JSON")


def cmd_selftest(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.file_modes import warn_about_exposed_state

    warn_about_exposed_state(settings.home)
    parent = settings.home / "tmp"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix="selftest-", dir=parent))
    longest = work / "restored" / "control.sock"
    if len(os.fsencode(longest)) > MAX_SOCKET_PATH:
        shutil.rmtree(work, ignore_errors=True)
        print(
            f"appliance: error: APPLIANCE_HOME {settings.home} is too long for the self-test's homes "
            f"(a Unix socket path holds {MAX_SOCKET_PATH} bytes): run it with a shorter APPLIANCE_HOME",
            file=sys.stderr,
        )
        return 2
    report = None if args.json else print
    if report:
        report(f"appliance self-test in {work} (a throw-away APPLIANCE_HOME)")
    try:
        result = run_selftest(work, backup=args.backup, report=report)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        total = sum(step.seconds for step in result.steps)
        failed = next((s for s in result.steps if not s.ok), None)
        verdict = "PASS" if result.ok else f"FAIL ({failed.name}: {failed.detail})" if failed else "FAIL"
        print(f"SELF-TEST {verdict} in {total:.1f} s")
    return 0 if result.ok else 1


def run_selftest(work: Path, backup: bool = False, report: Callable[[str], Any] | None = None) -> SelfTest:
    """Run the steps in `work` (an empty folder); stop at the first failure."""
    test = SelfTest(home=work / "home")
    steps: list[tuple[str, Callable[[SelfTest], str]]] = [
        ("ingest", _ingest),
        ("redaction", _redaction),
        ("ask", _ask),
        ("audit verify", _audit_verify),
    ]
    if backup:
        steps += [("backup", _backup), ("restore", _restore), ("restored: verify", _restored_check)]
    for name, run in steps:
        started = time.perf_counter()
        try:
            detail, ok = run(test), True
        except SelfTestFailed as problem:
            detail, ok = str(problem), False
        test.steps.append(Step(name, time.perf_counter() - started, ok, detail))
        if report:
            report(f"  {'ok  ' if ok else 'FAIL'}  {name:<17} {test.steps[-1].seconds:6.1f} s  {detail}")
        if not ok:
            break
    return test


# --- the steps -----------------------------------------------------------------------------------------


def _ingest(test: SelfTest) -> str:
    if not SAMPLE.is_file():
        raise SelfTestFailed(f"the bundled sample {SAMPLE} is missing: the installation is incomplete")
    report = _cli_json(test.home, "ingest", str(SAMPLE), "--collection", COLLECTION, "--json")
    if report.get("failed") or len(report.get("ingested", [])) != 1:
        raise SelfTestFailed(f"ingest did not store the sample: {report}")
    doc = report["ingested"][0]
    test.context["doc_id"] = doc["doc_id"]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(doc["redactions"].items())) or "nothing"
    return f"{SAMPLE.name}: {doc['chunks']} chunks, redacted {counts}"


def _redaction(test: SelfTest) -> str:
    text = _stored_text(test.home, test.context["doc_id"])
    planted = json.loads(EXPECTATIONS.read_text())[SAMPLE.name]
    leaked = [value for value in planted["pii"] if value in text]
    if leaked:
        raise SelfTestFailed(f"personal data reached the store: {leaked}")
    lost = [fact for fact in planted["facts"] if fact not in text]
    if lost:
        raise SelfTestFailed(f"redaction removed facts it should keep: {lost}")
    return (
        f"{len(planted['pii'])} planted personal values absent from the stored text, {len(planted['facts'])} facts kept"
    )


def _ask(test: SelfTest) -> str:
    return _cited_answer(test.home, test.context["doc_id"])


def _audit_verify(test: SelfTest) -> str:
    return _verified_chain(test.home, minimum_events=3)


def _backup(test: SelfTest) -> str:
    test.context["backup"] = backup = test.home.parent / "selftest.backup"
    test.context["passphrase"] = passphrase = secrets.token_urlsafe(24)
    output = _cli(test.home, "backup", "--out", str(backup), "--passphrase-stdin", stdin=passphrase + "\n")
    if not backup.is_file():
        raise SelfTestFailed("backup reported success but wrote no file")
    return f"{backup.stat().st_size:,} bytes, encrypted with a passphrase ({_first_line(output)})"


def _restore(test: SelfTest) -> str:
    restored = test.home.parent / "restored"
    restored.mkdir(mode=0o700)
    backup = test.context["backup"]
    output = _cli(restored, "restore", str(backup), "--passphrase-stdin", stdin=test.context["passphrase"] + "\n")
    test.context["restored"] = restored
    chain = next((line for line in output.splitlines() if line.startswith("audit chain")), _last_line(output))
    return f"into a fresh home; {chain}"


def _restored_check(test: SelfTest) -> str:
    restored = test.context["restored"]
    chain = _verified_chain(restored, minimum_events=4)
    answer = _cited_answer(restored, test.context["doc_id"])
    return f"{chain}; {answer}"


# --- checks shared by the steps --------------------------------------------------------------------------


def _cited_answer(home: Path, doc_id: str) -> str:
    result = _cli_json(home, "ask", QUESTION, "--collection", COLLECTION, "--json")
    if result.get("refused"):
        raise SelfTestFailed(f"the question was refused: {result.get('answer')!r}")
    citations = result.get("citations") or []
    if not citations:
        raise SelfTestFailed(f"the answer has no citations: {result.get('answer')!r}")
    text = _stored_text(home, doc_id)
    for citation in citations:
        if citation["doc_id"] != doc_id:
            raise SelfTestFailed(f"citation [{citation['n']}] points at {citation['doc_id']}, not the sample")
        if text[citation["start"] : citation["end"]] != citation["quote"]:
            raise SelfTestFailed(
                f"citation [{citation['n']}] quote {citation['quote']!r} is not the stored text "
                f"[{citation['start']}:{citation['end']}] {text[citation['start'] : citation['end']]!r}"
            )
    if not any(EXPECTED_FACT in c["quote"] for c in citations):
        raise SelfTestFailed(f"no citation says {EXPECTED_FACT!r}: {[c['quote'] for c in citations]}")
    return (
        f"{len(citations)} citation(s), each quote == stored text[start:end], "
        f"evidence {result.get('evidence')}, model answered in {result['timings_ms']['total'] / 1000:.1f} s"
    )


def _verified_chain(home: Path, minimum_events: int) -> str:
    result = _cli_json(home, "audit", "verify", "--json", allow_failure=True)
    if not result.get("ok"):
        raise SelfTestFailed(f"the audit chain does not verify: {result.get('problem')}")
    if result["events"] < minimum_events:
        raise SelfTestFailed(f"the audit log has {result['events']} events, expected at least {minimum_events}")
    return f"{result['events']} events, hash chain and signed checkpoint verified"


def _stored_text(home: Path, doc_id: str) -> str:
    shown = _cli_json(home, "docs", "show", doc_id, "--collection", COLLECTION, "--json")
    return str(shown["text"])


# --- running the installed command -----------------------------------------------------------------------


def appliance_command() -> list[str]:
    """The installed console script beside this Python, else the module."""
    script = Path(sys.executable).parent / "appliance"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "appliance.cli.main"]


def child_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_") or k.startswith(KEPT_SETTINGS)}
    env["APPLIANCE_HOME"] = str(home)
    return env


def _cli(home: Path, *args: str, stdin: str | None = None, allow_failure: bool = False) -> str:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    command = [*appliance_command(), *args]
    try:
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            env=child_environment(home),
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SelfTestFailed(f"`appliance {args[0]}` took longer than {STEP_TIMEOUT_S} s") from None
    except OSError as error:
        raise SelfTestFailed(f"cannot run {command[0]}: {error.strerror}") from None
    if done.returncode != 0 and not allow_failure:
        reason = _last_line(done.stderr) or _last_line(done.stdout) or f"exit status {done.returncode}"
        raise SelfTestFailed(f"`appliance {' '.join(args[:2])}` failed: {reason}")
    return done.stdout


def _cli_json(home: Path, *args: str, allow_failure: bool = False) -> Any:
    output = _cli(home, *args, allow_failure=allow_failure)
    try:
        return json.loads(output)
    except ValueError:
        raise SelfTestFailed(f"`appliance {' '.join(args[:2])}` printed no JSON: {_last_line(output)!r}") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
