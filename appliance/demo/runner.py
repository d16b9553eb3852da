"""`appliance demo`: ingest the fictional demo corpus and show what redaction did."""

from __future__ import annotations

from pathlib import Path

from appliance.actors import Actor
from appliance.app import Appliance
from appliance.demo import CORPUS
from appliance.store.documents import show_document

DEMO_CORPUS = CORPUS / "documents"
DEMO_COLLECTION = "demo"
SHOWCASE_FILE = "kyc_note_cp1252.txt"
DEMO_APPLICANT = 2  # a row of the credit table whose application the model declines
DEMO_QUESTIONS = (
    "What is the hotel cap per night?",
    "How long is the data-retention period?",
    "Who won the 1998 football World Cup?",  # not in the documents: the answer must be a refusal
)


def demo_files() -> list[Path]:
    """The corpus documents (the generator script and its notes live one folder up)."""
    return sorted(p for p in DEMO_CORPUS.iterdir() if p.is_file())


def run_demo(app: Appliance, actor: Actor) -> int:
    """Ingest, print per-document redactions, then one document's stored text."""
    from ingestion.pipeline import ingest_paths

    print(f"Ingesting the demo corpus ({len(demo_files())} fictional documents) into collection '{DEMO_COLLECTION}'")
    report = ingest_paths(app, demo_files(), collection=DEMO_COLLECTION, actor=actor)
    for doc in report.ingested:
        found = ", ".join(f"{k} x{v}" for k, v in sorted(doc.redactions.items())) or "no personal data"
        print(f"  {Path(doc.path).name:<32} {doc.chunks:>3} chunks   redacted: {found}")
    for item in report.unchanged:
        print(f"  {Path(item['path']).name:<32} unchanged since the last run")
    for item in report.failed:
        print(f"  {Path(item['path']).name:<32} FAILED: {item['error']}")
    showcase = str(DEMO_CORPUS / SHOWCASE_FILE)
    shown = show_document(app, showcase, actor=actor, collections=[DEMO_COLLECTION])
    print(f"\nStored (redacted) text of {SHOWCASE_FILE}:\n" + "-" * 60)
    print(shown["text"])
    print("-" * 60)
    _answer_questions(app, actor)
    _credit_decision(app, actor)
    _verify_audit(app)
    print(f"Everything lives under {app.settings.home}")
    return 1 if report.failed else 0


def _answer_questions(app: Appliance, actor: Actor) -> None:
    """Three questions, each answered from verified quotes or refused."""
    from appliance.answer.answering import ask

    for question in DEMO_QUESTIONS:
        result = ask(app, question, actor=actor, collections=[DEMO_COLLECTION])
        print(f"\nQ: {question}\nA: {result.answer}")
        for citation in result.citations:
            page = f", page {citation['page']}" if citation["page"] else ""
            print(f'   [{citation["n"]}] {Path(citation["source"]).name}{page}: "{citation["quote"]}"')


def _credit_decision(app: Appliance, actor: Actor) -> None:
    """A credit-decision model on the German credit table, and one declined application explained."""
    import csv

    from appliance.build import tree_learner
    from appliance.tabular.predict import predict
    from appliance.tabular.registry import ModelRegistry
    from appliance.tabular.training import TrainRequest, train

    table = CORPUS.parent / "credit" / "german_credit.csv"
    learner, registry = tree_learner(app.settings), ModelRegistry(app.settings.tabular_dir)
    request = TrainRequest(
        table, "credit-demo", "creditability", favourable="good", actionable=("credit_amount", "duration_in_month")
    )
    version = train(app, learner, registry, request, actor)
    left_out = ", ".join(f"{e.name} ({e.reason})" for e in version.parsed_schema.excluded)
    print(f"\nCredit model {version.name} v{version.version}: held-out ROC AUC {version.metrics['roc_auc']:.3f}")
    print(f"   not used as features: {left_out}")
    rows = list(csv.reader(table.open(encoding="utf-8")))
    applicant = app.settings.tmp_dir / "demo-applicant.csv"
    applicant.parent.mkdir(parents=True, exist_ok=True)
    with applicant.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([rows[0], rows[DEMO_APPLICANT]])
    decision = predict(app, learner, registry, version.name, applicant, actor)["predictions"][0]
    applicant.unlink()
    print(f"Applicant {DEMO_APPLICANT}: {decision['prediction']} (probability of good {decision['probability']:.2f})")
    for reason in decision["reasons"]:
        print(f"   {reason}")
    if decision["counterfactual"]:
        changes = ", ".join(
            f"{k} {v['to']} instead of {v['from']}" for k, v in decision["counterfactual"]["changes"].items()
        )
        print(f"   would have been {decision['counterfactual']['prediction']!r} with {changes}")
    print(f"   recorded as audit event {decision['audit_seq']} (appliance audit show {decision['audit_seq']})")


def _verify_audit(app: Appliance) -> None:
    """Everything above is in the audit log: show that its chain verifies."""
    from appliance.audit.verify import verify_log

    result = verify_log(app.audit, app.settings.audit.checkpoint_copy)
    state = "verified" if result.ok else f"FAILED: {result.chain.problem}"
    print(f"\nAudit log: {result.chain.events} events, chain {state} (appliance audit verify)")
