"""`make mutants`: plant a fixed list of plausible bugs in the core, one at a time, and run the fast tests that guard each.

A mutant "survives" when its tests still pass: then nothing would notice that bug in the product.
Each mutant is planted in a fresh copy of the tree under a temporary folder (the checkout is never
touched, so an interrupted run leaves no bug behind), and pytest runs there with that copy first on
the import path. Prints one line per mutant and exits 1 if any survived.

    .venv/bin/python tests/mutants.py [NAME-FRAGMENT...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("appliance", "ingestion", "ui", "tests", "deploy", "pyproject.toml", "README.md")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant(
        "audit verify: the event at the signed checkpoint is not compared with it",
        "appliance/audit/verify.py",
        'if rows and rows[0]["hash"] != checkpoint.hash:',
        "if False:",
        ("tests/test_audit_chain.py",),
    ),
    Mutant(
        "audit chain: an event's own hash is not recomputed",
        "appliance/audit/chain.py",
        'if computed != event["hash"]:',
        "if False:",
        ("tests/test_audit_chain.py",),
    ),
    Mutant(
        "pseudonyms: the HMAC covers the raw value, not the normalised one",
        "appliance/redaction/pseudonyms.py",
        'message = f"{collection}\\x1f{entity_type}\\x1f{normalise(entity_type, value)}".encode()',
        'message = f"{collection}\\x1f{entity_type}\\x1f{value}".encode()',
        ("tests/test_redaction_core.py",),
    ),
    Mutant(
        "pseudonyms: the collection is left out of the HMAC",
        "appliance/redaction/pseudonyms.py",
        'message = f"{collection}\\x1f{entity_type}\\x1f{normalise(entity_type, value)}".encode()',
        'message = f"{entity_type}\\x1f{normalise(entity_type, value)}".encode()',
        ("tests/test_redaction_core.py",),
    ),
    Mutant(
        "citations: candidate sentences forget where their chunk starts",
        "appliance/answer/citations.py",
        "found.append(Evidence(chunk, chunk.start + start, chunk.start + end, chunk.text[start:end]))",
        "found.append(Evidence(chunk, start, end, chunk.text[start:end]))",
        ("tests/test_citations.py",),
    ),
    Mutant(
        "prompts: a document can close the data fence",
        "appliance/answer/prompts.py",
        "text.replace('</documents>', '')",
        "text",
        ("tests/test_prompts.py",),
    ),
    Mutant(
        "roles: analysts may search the audit log",
        "appliance/access/roles.py",
        "                Permission.FEEDBACK,\n            }",
        "                Permission.FEEDBACK,\n                Permission.AUDIT_SEARCH,\n            }",
        ("tests/test_users.py",),
    ),
    Mutant(
        "sentences: every line break ends a sentence, so a wrapped quote is cut",
        "appliance/sentences.py",
        "    if newlines >= 2 or after >= end:",
        "    if newlines >= 1 or after >= end:",
        ("tests/test_chunking.py",),
    ),
    Mutant(
        "gate: promote ignores a failed verdict",
        "appliance/finetune/gate.py",
        '    if not verdict["passed"] and not force:',
        "    if False:",
        ("tests/test_adapter_promotion.py",),
    ),
    Mutant(
        "evidence data: a changed-detail question keeps its detail (an answerable question labelled unanswerable)",
        "appliance/finetune/evidence_data.py",
        "            return question[: match.start()] + new + question[match.end() :], new",
        "            return question, new",
        ("tests/test_evidence_data.py",),
    ),
    Mutant(
        "adapters: one not promoted is served to users",
        "appliance/finetune/adapters.py",
        "    if version.state != PROMOTED:\n        return",
        "    if False:\n        return",
        ("tests/test_ui_adapters.py",),
    ),
    Mutant(
        "GGUF adapter: Q's LoRA update keeps transformers' row order",
        "appliance/backends/gguf_adapter.py",
        "            lora_b = permute_rows(lora_b, heads)\n",
        "            pass\n",
        ("tests/test_finetune.py",),
    ),
    Mutant(
        "narration: a number the record holds passes beside any feature",
        "appliance/tabular/narration.py",
        "_numbers_in(reason_of[name])",
        '_numbers_in(" ".join(reasons))',
        ("tests/test_tabular_narration.py",),
    ),
    Mutant(
        "export verifier: a member the signed manifest does not list is accepted",
        "appliance/audit/chain.py",
        "    unlisted = sorted(members - set(files) - set(SIGNATURE_FILES))\n",
        "    unlisted: list[str] = []\n",
        ("tests/test_audit_export.py",),
    ),
    Mutant(
        "access: a tabular model not granted is allowed",
        "appliance/access/rules.py",
        "        if not user.may_use_model(model):\n",
        "        if False:\n",
        ("tests/test_ui_models.py",),
    ),
    Mutant(
        "access: a collection not granted is allowed",
        "appliance/access/rules.py",
        'raise Forbidden(f"collection {name!r} is not granted to {user.name}")',
        "pass",
        ("tests/test_ui_access.py",),
    ),
    Mutant(
        "redaction policy: the score threshold is not part of the policy hash",
        "appliance/redaction/policy.py",
        '"threshold": settings.score_threshold,',
        "",
        ("tests/test_settings.py",),
    ),
    Mutant(
        "redaction: overlapping spans are not merged",
        "appliance/redaction/redactor.py",
        "if merged and entity.start < merged[-1][1]:",
        "if False:",
        ("tests/test_redaction_core.py",),
    ),
    Mutant(
        "known values: ordinary words spread on their own",
        "appliance/redaction/ordinary_words.py",
        "return len(folded) < 4 or folded in CALENDAR_WORDS or folded in dictionary_words()",
        "return len(folded) < 4",
        ("tests/test_known_values.py",),
    ),
    Mutant(
        "known values: a spelling two people share keeps the first one's pseudonym",
        "appliance/redaction/known_values.py",
        'self.target[key] = (known[0], f"<{known[0]}>")',
        "pass",
        ("tests/test_known_values.py",),
    ),
    Mutant(
        "api keys: a revoked key still works",
        "appliance/access/api_keys.py",
        "if revoked_ms is not None or expires_ms <= _now_ms():",
        "if expires_ms <= _now_ms():",
        ("tests/test_api_keys.py",),
    ),
    Mutant(
        "api keys: a new password leaves the account's keys working",
        "appliance/access/api_keys.py",
        "if user.disabled or user.session_epoch != epoch:",
        "if user.disabled:",
        ("tests/test_api_keys.py",),
    ),
    Mutant(
        "api keys: disabling an account leaves its keys alive once it is enabled again",
        "appliance/access/users.py",
        "end_api_keys=disabled)",
        "end_api_keys=False)",
        ("tests/test_api_keys.py",),
    ),
    Mutant(
        "/v1: a chat may name collections the caller was not granted",
        "ui/openai_api.py",
        "authorize_audited(app.audit, user, Permission.ASK, wanted, known=known_collections(app)), user",
        "wanted or known_collections(app), user",
        ("tests/test_openai_api.py",),
    ),
    Mutant(
        "/v1: earlier chat turns are recorded unredacted",
        "ui/openai_api.py",
        'app.redactor.redact_question(turn["content"], collections[0])[0]',
        'turn["content"]',
        ("tests/test_openai_api.py",),
    ),
    Mutant(
        "sign-in throttle: the names people type are stored in clear",
        "appliance/access/login_throttle.py",
        'return hmac.new(self._key, b"sign-in-name\\x1f" + name.encode(), hashlib.sha256).hexdigest()',
        "return name",
        ("tests/test_ui_access.py",),
    ),
    Mutant(
        "sessions: using a session does not renew its idle time",
        "appliance/access/sessions.py",
        "if now - last_seen >= min(TOUCH_EVERY_MS, self.idle_seconds * 100):",
        "if False:",
        ("tests/test_ui_access.py",),
    ),
    Mutant(
        "shared catalog: recovery clears pending versions whose writer is alive",
        "appliance/store/recovery.py",
        'if held and catalog.row_state(row_id) not in (None, "active"):',
        'if catalog.row_state(row_id) not in (None, "active"):',
        ("tests/test_catalog_postgres.py",),
    ),
    Mutant(
        "shared catalog: pseudonym numbers are allocated without serialising processes",
        "appliance/store/catalog.py",
        'with self.transaction(serialise_on=f"vault\\0{collection}") as conn:\n            for digest',
        "with self.transaction() as conn:\n            for digest",
        ("tests/test_catalog_postgres.py",),
    ),
    Mutant(
        "ingest workers: another worker's live claim is taken over",
        "appliance/store/catalog.py",
        "WHERE ingest_claims.worker = excluded.worker OR ingest_claims.expires_ms < ? RETURNING worker",
        "WHERE ingest_claims.worker = excluded.worker OR ingest_claims.expires_ms > ? RETURNING worker",
        ("tests/test_catalog_postgres.py", "tests/test_ingest_workers.py"),
    ),
    Mutant(
        "shared catalog: the retroactive pass waits for a document an ingest holds (a deadlock)",
        "appliance/store/catalog.py",
        "        if not self.try_document_lock(collection, doc_id):\n            yield False\n            return\n",
        "        self.db.document_lock(self._conn, collection, doc_id).__enter__()\n",
        ("tests/test_catalog_postgres.py",),
    ),
    Mutant(
        "known values: a process keeps its matcher when another process moved the shared vault",
        "appliance/redaction/vault.py",
        "if cached is not None and cached.generation == generation:",
        "if cached is not None:",
        ("tests/test_catalog_postgres.py",),
    ),
    Mutant(
        "ingest workers: a file another worker has claimed is ingested anyway",
        "ingestion/pipeline.py",
        "if claims is not None and not claims.take(doc_id):",
        "if False:",
        ("tests/test_ingest_workers.py",),
    ),
    Mutant(
        "full text on PostgreSQL: superseded versions answer searches",
        "appliance/store/full_text.py",
        "WHERE d.state = 'active' AND d.collection IN ({marks}) \"\n            \"GROUP BY",
        'WHERE d.collection IN ({marks}) "\n            "GROUP BY',
        ("tests/test_catalog_postgres.py",),
    ),
    Mutant(
        "full text on PostgreSQL: every term weighs the same (no idf)",
        "appliance/store/full_text.py",
        "SUM(t.idf * ts_rank(c.tsv, t.query, 1))",
        "SUM(ts_rank(c.tsv, t.query, 1))",
        ("tests/test_catalog_postgres.py",),
    ),
)


def run(mutant: Mutant | None, python: str, tests: tuple[str, ...] = ()) -> tuple[bool, float, str]:
    """Plant the mutant (None: nothing) in a copy of the tree and run its tests: (passed, seconds, first failure)."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as folder:
        root = Path(folder) / "main"  # beside a link to ../shared, as in a checkout: tests read its eval data
        root.mkdir()
        if (REPO.parent / "shared").is_dir():
            (Path(folder) / "shared").symlink_to(REPO.parent / "shared")
        for name in COPIED:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, root / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, root / name)
        if mutant is not None:
            target = root / mutant.path
            code = target.read_text()
            if code.count(mutant.old) != 1:
                raise SystemExit(f"mutant {mutant.name!r}: the code to change is not found once in {mutant.path}")
            target.write_text(code.replace(mutant.old, mutant.new))
            tests = mutant.tests
        env = {**os.environ, "PYTHONPATH": str(root)}
        started = time.perf_counter()
        result = subprocess.run(
            [python, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider", *tests],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        failed = next((line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
        return result.returncode == 0, time.perf_counter() - started, failed.split(" - ")[0]


def main(selected: list[str]) -> int:
    chosen = [m for m in MUTANTS if not selected or any(s in m.name for s in selected)]
    guards = tuple(sorted({t for m in chosen for t in m.tests}))
    passed, seconds, failed = run(None, sys.executable, guards)  # the copy must pass before any bug is planted
    print(
        f"{'clean   ' if passed else 'BROKEN  '}  {seconds:5.1f} s  the guarding tests on the unchanged tree {failed}"
    )
    if not passed:
        print("the guarding tests fail without any mutant: fix them first")
        return 2
    survivors = []
    for mutant in chosen:
        survived, seconds, failed = run(mutant, sys.executable)
        caught_by = f"\n                    by {failed.removeprefix('FAILED ')}" if failed else ""
        print(f"{'SURVIVED' if survived else 'killed  '}  {seconds:5.1f} s  {mutant.name}{caught_by}", flush=True)
        if survived:
            survivors.append(mutant.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed, {len(survivors)} survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
