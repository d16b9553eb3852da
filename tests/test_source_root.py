"""Document ids relative to `ingest.source_root`: workers that mount one share at different places agree."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from appliance.build import build
from appliance.settings import IngestSettings, Settings
from ingestion.pipeline import ingest_paths
from tests.actors import TESTER
from tests.conftest import DEMO_CORPUS


def test_two_mount_points_of_one_share_give_the_same_ids_and_files_outside_are_refused(
    tmp_path: Path, home: Path, models: Any
) -> None:
    mounts = [tmp_path / "mnt" / "share", tmp_path / "srv" / "nfs" / "share"]
    for mount in mounts:
        (mount / "policies").mkdir(parents=True)
        shutil.copy(DEMO_CORPUS / "travel_expense_policy.md", mount / "policies" / "travel.md")
    with build(Settings(home=home, ingest=IngestSettings(source_root=mounts[0])), models) as app:
        first = ingest_paths(app, [mounts[0]], collection="shared", actor=TESTER)
        assert [d.doc_id for d in first.ingested] == ["policies/travel.md"]
    with build(Settings(home=home, ingest=IngestSettings(source_root=mounts[1])), models) as app:
        second = ingest_paths(app, [mounts[1]], collection="shared", actor=TESTER)
        assert second.ingested == [] and [u["doc_id"] for u in second.unchanged] == ["policies/travel.md"]
        outside = tmp_path / "elsewhere.md"
        outside.write_text("A note kept outside the share.\n")
        third = ingest_paths(app, [outside], collection="shared", actor=TESTER)
        assert [f["error"] for f in third.failed] == [f"{outside} is outside ingest.source_root ({mounts[1]})"]
        assert [d.doc_id for d in app.catalog.list_active(["shared"])] == ["policies/travel.md"]
