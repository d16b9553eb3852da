"""The redaction policy's identity: a hash recorded on every chunk."""

from __future__ import annotations

import hashlib
import json

from appliance.settings import RedactionSettings


def policy_hash(settings: RedactionSettings, detector_id: str) -> str:
    """sha256 over the entity policy and the detector's identity (recognizers, model versions)."""
    description = {
        "redact": sorted(settings.redact_entities),
        "keep": sorted(settings.keep_entities),
        "threshold": settings.score_threshold,
        "field_labels": {k: sorted(v) for k, v in sorted(settings.field_labels.items())},
        "detector": detector_id,
        "placeholder": "<TYPE_n> keyed-HMAC numbering per collection",
        "known_values": sorted(settings.propagated_types) if settings.propagate_known_values else [],
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
