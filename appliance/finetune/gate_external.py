"""The gate's external sets: labelled questions an operator points the gate at (settings `gate.*`).

A customer's server has no `../shared`, so these run only when a setting names a file or folder.
Each set is ingested into a throwaway home on the already loaded models and asked of the base and
of the adapter in the same run (bench/ask.py), with the abstention rule the held-out part approved.
Figures land beside the held-out ones in the gate's table, prefixed `squad_` and `sec_`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.app import Appliance
from appliance.bench.ask import run_docugami, run_squad
from appliance.build import models_of
from appliance.finetune.adapters import ServedAdapter
from appliance.settings import GateSettings

Progress = Callable[[str], None]


@dataclass
class External:
    """Figures for the base and the adapter, and the checks as (name, passed, detail)."""

    base: dict[str, Any] = field(default_factory=dict)
    adapter: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


def external_checks(app: Appliance, adapter: ServedAdapter, say: Progress) -> External:
    """Measure on the external sets the settings name (none: nothing is run)."""
    gate = app.settings.gate
    out = External()
    if gate.squad_path is not None:
        if not gate.squad_path.is_file():
            out.checks.append(("SQuAD set", False, f"gate.squad_path {gate.squad_path} is not a file"))
        else:
            say(f"external: SQuAD {gate.squad_path.name} ({gate.squad_questions} questions), base and adapter")
            squad = run_squad(
                app.settings,
                models_of(app),
                gate.squad_path,
                limit=gate.squad_questions,
                paragraph_limit=None,
                direct_limit=0,
                say=say,
                adapter=adapter,
                article=gate.squad_article,
            )
            _add_squad(out, squad, gate)
    if gate.docugami_dir is not None:
        if not (gate.docugami_dir / "qna_data.csv").is_file():
            out.checks.append(("Docugami set", False, f"gate.docugami_dir {gate.docugami_dir} has no qna_data.csv"))
        else:
            say(f"external: Docugami ({gate.docugami_questions} questions), base and adapter")
            sec = run_docugami(
                app.settings, models_of(app), gate.docugami_dir, limit=gate.docugami_questions, say=say, adapter=adapter
            )
            _add_docugami(out, sec, gate)
    return out


def _add_squad(out: External, squad: dict[str, Any], gate: GateSettings) -> None:
    theirs = squad["adapter"]
    pairs = {
        "squad_questions": (squad["questions"], squad["questions"]),
        "squad_hit_at_1": (squad["hit_at_1"], theirs["hit_at_1"]),
        "squad_refusal_rate": (squad["refusal_rate_unanswerable"], theirs["refusal_rate_unanswerable"]),
        "squad_false_refusal_rate": (squad["false_refusal_rate"], theirs["false_refusal_rate"]),
        "squad_verbatim_rate": (squad["verbatim_rate"], theirs["verbatim_rate"]),
        "squad_p50_ms": (squad["latency_ms"]["total"]["p50"], theirs["latency_ms"]["total"]["p50"]),
    }
    for name, (b, a) in pairs.items():
        out.base[name], out.adapter[name] = b, a
    b_hit, a_hit = out.base["squad_hit_at_1"] or 0.0, out.adapter["squad_hit_at_1"] or 0.0
    out.checks.append(
        (
            "SQuAD evidence hit@1",
            a_hit >= b_hit - gate.margin,
            f"adapter {a_hit:.2f} vs base {b_hit:.2f} (margin {gate.margin:.2f})",
        )
    )
    b_false, a_false = out.base["squad_false_refusal_rate"] or 0.0, out.adapter["squad_false_refusal_rate"] or 0.0
    most = max(b_false, gate.abstain_max_false_refusal)
    out.checks.append(
        ("SQuAD false refusals", a_false <= most, f"adapter {a_false:.2f} vs base {b_false:.2f} (at most {most:.2f})")
    )
    verbatim = out.adapter["squad_verbatim_rate"]
    out.checks.append(
        (
            "SQuAD verbatim citations",
            verbatim in (None, 1.0),
            f"share of the adapter's quotes equal to the stored text: {verbatim}",
        )
    )


def _add_docugami(out: External, sec: dict[str, Any], gate: GateSettings) -> None:
    """The adapter cites a gold 10-Q at least as often as the base (retrieval itself is the same for both)."""
    theirs = sec["adapter"]
    for name, key in (
        ("sec_questions", "questions"),
        ("sec_cites_gold_pdf", "cites_gold_pdf"),
        ("sec_refusal_rate", "refusal_rate"),
    ):
        out.base[name], out.adapter[name] = sec[key], theirs[key]
    b, a = out.base["sec_cites_gold_pdf"] or 0.0, out.adapter["sec_cites_gold_pdf"] or 0.0
    out.checks.append(
        ("Docugami document recall", a >= b - gate.margin, f"cites a gold 10-Q: adapter {a:.2f} vs base {b:.2f}")
    )
