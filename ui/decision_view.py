"""One tabular decision as a reviewer sees it: the waterfall picture, the reasons, the counterfactual,
and whether the registered model still gives the recorded result. Shared by the Models page (an
analyst's own decisions) and the Audit page (an auditor opening any decision).

The picture travels inside the HTML as a data: URI (the gate serves no files, and the page's CSP
allows data: images); every other value is escaped, since feature values come from uploaded tables.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from typing import Any

from appliance.tabular.plots import recorded_decision_png


def png_img(data: bytes, alt: str, elem_class: str) -> str:
    """An <img> holding PNG bytes inline."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="{escape(elem_class)}" alt="{escape(alt)}" src="data:image/png;base64,{encoded}">'


def decision_html(event: Mapping[str, Any], recomputed: Mapping[str, Any] | None = None) -> str:
    """A recorded decision (its `tabular.predict` audit event) with its picture and explanation."""
    details = event["details"]
    chance = details.get("probability")
    probability = f" (probability {float(chance):.3f})" if chance not in (None, "None") else ""
    parts = [
        f"<h4>Decision {escape(str(event['seq']))}: {escape(str(details['prediction']))}{probability}</h4>",
        f"<p>Model {escape(event['subject'])} v{escape(str(details['version']))}, sha256 "
        f"<code>{escape(str(details['sha256'])[:16])}…</code>; raw output {escape(str(details['raw_output']))} "
        f"= base value {escape(str(details['base_value']))} + the contributions below.</p>",
        png_img(recorded_decision_png(event), f"waterfall of decision {event['seq']}", "decision-waterfall"),
        "<p><b>Principal reasons</b></p><ol class='decision-reasons'>",
        *(f"<li>{escape(str(reason))}</li>" for reason in details.get("reasons") or []),
        "</ol>",
        f"<p class='decision-counterfactual'>{escape(counterfactual_text(details.get('counterfactual')))}</p>",
    ]
    if recomputed is not None:
        verdict = "matches the record" if recomputed["matches"] else "DOES NOT match the record"
        parts.append(
            f"<p class='decision-recomputed'>Re-computed from the registered model: "
            f"{escape(str(recomputed['recomputed']['prediction']))}, {verdict} "
            f"(largest difference {float(recomputed['max_difference']):.1e}).</p>"
        )
    return "\n".join(parts)


def counterfactual_text(counterfactual: Mapping[str, Any] | None) -> str:
    """`Would have been 'good' with duration 12 instead of 48.` or why there is none."""
    if not counterfactual:
        return "No counterfactual: the decision is favourable, or no change within bounds flips it."
    changes = ", ".join(
        f"{name} {change['to']} instead of {change['from']}" for name, change in counterfactual["changes"].items()
    )
    return f"Would have been {counterfactual['prediction']!r} with {changes}."
