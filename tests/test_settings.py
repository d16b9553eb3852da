"""Settings: documented in the README, read from env and TOML, validated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from appliance.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def env_names(model: type[BaseModel], prefix: str = "APPLIANCE_") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    missing = [name for name in env_names(Settings) if f"`{name}`" not in readme]
    assert not missing, f"settings missing from the README table: {missing}"


def test_every_setting_has_a_description() -> None:
    def undocumented(model: type[BaseModel]) -> Iterator[str]:
        for name, field in model.model_fields.items():
            if not field.description:
                yield name
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from undocumented(field.annotation)

    assert list(undocumented(Settings)) == []


def test_environment_overrides_nested_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPLIANCE_HOME", str(tmp_path))
    monkeypatch.setenv("APPLIANCE_INGEST__MAX_FILE_MB", "3")
    monkeypatch.setenv("APPLIANCE_REDACTION__REDACT_ENTITIES", '["person", "email_address"]')
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.ingest.max_file_mb == 3
    assert settings.redaction.redact_entities == ["EMAIL_ADDRESS", "PERSON"]
    assert settings.catalog_file == tmp_path / "catalog.sqlite3"


def test_toml_file_under_home_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPLIANCE_HOME", str(tmp_path))
    monkeypatch.delenv("APPLIANCE_RUNTIME__THREADS", raising=False)
    (tmp_path / "appliance.toml").write_text("[ingest]\nchunk_chars = 600\n[runtime]\nthreads = 1\n")
    settings = Settings()
    assert settings.ingest.chunk_chars == 600 and settings.runtime.threads == 1


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPLIANCE_HOME", str(tmp_path))
    monkeypatch.setenv("APPLIANCE_INGEST__CHUNK_CHARS", "300")
    monkeypatch.setenv("APPLIANCE_INGEST__CHUNK_OVERLAP_CHARS", "400")
    with pytest.raises(ValidationError, match="chunk_overlap_chars"):
        Settings()
    monkeypatch.delenv("APPLIANCE_INGEST__CHUNK_OVERLAP_CHARS")
    monkeypatch.setenv("APPLIANCE_INGEST__MAX_FILE_MB", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_every_part_of_the_entity_policy_changes_the_policy_hash() -> None:
    """A changed policy must make the next ingest of a file a new version: its hash must move."""
    from appliance.redaction.policy import policy_hash
    from appliance.settings import RedactionSettings

    base = RedactionSettings()
    changed = [
        base.model_copy(update={"score_threshold": 0.5}),
        base.model_copy(update={"redact_entities": ["PERSON"]}),
        base.model_copy(update={"keep_entities": ["URL"]}),
        base.model_copy(update={"field_labels": {"PERSON": ["client"]}}),
        base.model_copy(update={"propagate_known_values": False}),
    ]
    hashes = {policy_hash(s, "detector-1") for s in [base, *changed]} | {policy_hash(base, "detector-2")}
    assert len(hashes) == len(changed) + 2
    assert policy_hash(base, "detector-1") == policy_hash(RedactionSettings(), "detector-1")
