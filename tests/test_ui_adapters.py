"""Adapters on the Ask page of a real server: real GGUF adapters applied by real llama.cpp, the real
audit log, a real browser. A user is offered, and served, only promoted adapters whose data came
from collections granted to them; admins may use any; the server checks on every question."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from appliance.backends.gguf_adapter import synthetic_adapter
from appliance.build import base_model_path
from appliance.finetune.adapters import AdapterRegistry, AdapterVersion
from tests.browser import Visit, launched_browser
from tests.served import PASSWORD, Served, served_appliance
from ui.http_client import call, sign_in

# name: (collections its data came from, promoted)
ADAPTERS = {
    "fin-promoted": (["finance"], True),
    "fin-trained": (["finance"], False),
    "hr-promoted": (["hr"], True),
    "ops-trained": (["ops"], False),  # promoted in the browser by an admin
}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("adapters-web")
    users = [("ada", "admin", []), ("ana", "analyst", ["finance"])]
    with served_appliance(root / "home", models, {}, users) as served:
        app = served.app
        registry = AdapterRegistry(app.settings.finetune_dir / "adapters")
        for seed, (name, (collections, promoted)) in enumerate(ADAPTERS.items()):
            made = synthetic_adapter(base_model_path(app.settings), root / f"{name}.gguf", rank=4, seed=seed)
            version = AdapterVersion(
                name=name,
                version=0,
                sha256="",
                file="",
                base_model=base_model_path(app.settings).name,
                base_sha256=app.generator.model_sha256,
                dataset={"name": name, "version": 1},
                collections=collections,
                params={},
                losses={},
                tokens=0,
                seconds=0.0,
                device="cpu",
                trained_by="tester",
                trained_ms=0,
            )
            registry.add(version, made, None)
            if promoted:
                registry.promote(name, "tester", 0, "for the test")
        yield served


def asked(client: Any, adapter: str | None) -> tuple[str, Any]:
    return call(client, "ask", ["Say hello to the finance team.", "direct", "finance", adapter])


def test_a_user_is_served_only_a_promoted_adapter_of_their_collections_and_refusals_are_audited(web: Served) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        kind, payload = asked(ana, "fin-promoted")
        assert kind == "complete", payload
        for name, reason in (("fin-trained", "not promoted yet"), ("hr-promoted", "collections not granted to you")):
            kind, message = asked(ana, name)
            assert kind == "error" and reason in str(message), (name, message)
        kind, message = asked(ana, "../../etc/passwd")
        assert kind == "error" and "no adapter" in str(message)
    [used] = [e for e in web.events("ask", "user:ana") if e["details"]["adapter"]]
    registry = AdapterRegistry(web.app.settings.finetune_dir / "adapters")
    assert used["details"]["adapter"] == "fin-promoted"
    assert used["details"]["adapter_sha256"] == registry.latest("fin-promoted").sha256
    denied = [e for e in web.events("access.denied", "user:ana") if e["subject"] == "adapter"]
    assert [e["details"]["adapter"] for e in denied] == ["fin-trained", "hr-promoted", "../../etc/passwd"]
    with closing(sign_in(web.url, "ada", PASSWORD)) as ada:  # admins may try an adapter before promoting it
        assert asked(ada, "fin-trained")[0] == "complete"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as launched:
        yield launched


@pytest.mark.slow
def test_browser_the_adapter_list_offers_only_what_the_user_may_use(browser: Any, web: Served) -> None:
    v = Visit(browser, web.url)
    try:
        v.sign_in("ana")
        v.page.click("#ask-adapter input")
        options = v.page.get_by_role("option")
        options.first.wait_for()
        offered = options.all_inner_texts()
        assert any("fin-promoted" in o for o in offered), offered
        assert not any("fin-trained" in o or "hr-promoted" in o for o in offered), offered
        v.page.get_by_role("option", name="fin-promoted v1 (promoted)").click()
        v.page.get_by_label("direct").check()
        v.page.locator("textarea").nth(1).fill("Say hello to the finance team.")
        v.page.click("#ask-button")
        v.wait_value("answer-note", "audit event")
        assert web.events("ask", "user:ana")[-1]["details"]["adapter"] == "fin-promoted"
        assert not v.failed, v.failed
    finally:
        v.close()


@pytest.mark.slow
def test_browser_an_admin_promotes_on_the_adapters_page_which_an_analyst_never_sees(browser: Any, web: Served) -> None:
    analyst = Visit(browser, web.url)
    try:
        analyst.sign_in("ana")
        analyst.tab("Ask").wait_for(state="visible")  # the tabs a role may see are shown once the page loads
        assert not analyst.tab("Adapters").is_visible()
    finally:
        analyst.close()
    v = Visit(browser, web.url)
    try:
        v.sign_in("ada")
        v.tab("Adapters").click()
        v.wait_text("#adapter-list", "ops-trained")
        listed = v.page.inner_text("#adapter-list")
        assert all(name in listed for name in ADAPTERS), listed
        v.page.locator("#promote-name textarea, #promote-name input").first.fill("ops-trained")
        v.page.locator("#promote-reason textarea, #promote-reason input").first.fill("checked by compliance")
        v.page.click("#adapter-evaluate")
        v.wait_value("gate-report", "gate FAILED")
        assert "red team cases followed" in v.value("gate-report")
        v.page.check("#promote-force input")
        v.page.click("#adapter-promote")
        v.wait_value("promote-note", "ops-trained v1 promoted (the gate overridden).")
        assert not v.failed, v.failed
    finally:
        v.close()
    registry = AdapterRegistry(web.app.settings.finetune_dir / "adapters")
    assert registry.latest("ops-trained").state == "promoted"
    [event] = [e for e in web.events("adapters.promote", "user:ada") if e["subject"] == "ops-trained"]
    assert event["details"]["reason"] == "checked by compliance"


# --- the admins' Adapters page: review, train with progress, cancel, promote ---------------------


def test_only_admins_reach_the_adapters_page_handlers(web: Served) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        for api_name, data in (
            ("adapter_train", ["wifi", "mine", 2]),
            ("adapter_cancel", []),
            ("adapter_promote", ["fin-trained", "I like it", True]),
            ("adapter_evaluate", ["fin-trained"]),
            ("feedback_accept", [1, "looks right"]),
            ("dataset_build", ["mine"]),
        ):
            kind, message = call(ana, api_name, data)
            assert kind == "error" and "may not adapters.manage" in str(message), (api_name, message)
    assert AdapterRegistry(web.app.settings.finetune_dir / "adapters").latest("fin-trained").state == "trained"


@pytest.mark.slow
def test_an_admin_trains_with_progress_cancels_a_run_and_promotes(web: Served, tmp_path_factory: Any) -> None:
    import json
    import threading
    import time

    from appliance.finetune.datasets import DatasetRegistry, build
    from tests.actors import TESTER
    from ui.http_client import stream

    app = web.app
    source = tmp_path_factory.mktemp("wifi") / "fact.jsonl"
    source.write_text(
        "".join(json.dumps({"question": f"What is fact {i}?", "answer": f"Fact {i}."}) + "\n" for i in range(4))
    )
    build(
        app,
        DatasetRegistry(app.settings.finetune_dir / "datasets"),
        "wifi",
        actor=TESTER,
        collection="finance",
        from_file=source,
    )
    registry = AdapterRegistry(app.settings.finetune_dir / "adapters")
    with closing(sign_in(web.url, "ada", PASSWORD)) as ada:
        updates = stream(ada, "adapter_train", ["wifi", "wifi-web", 2])
        assert updates[-1][0] == "complete", updates[-1]
        statuses = [u[1][0] for u in updates if u[0] in ("generating", "complete")]
        assert any(s.startswith("step 2/2, loss") for s in statuses), statuses
        assert "Registered wifi-web v1" in statuses[-1] and 'class="loss-curve"' in updates[-1][1][1]
        assert registry.latest("wifi-web").collections == ["finance"]
        finished: list[Any] = []
        runner = threading.Thread(
            target=lambda: finished.extend(stream(ada, "adapter_train", ["wifi", "wifi-stop", 50]))
        )
        runner.start()
        run_dir = app.settings.finetune_dir / "runs" / "wifi-stop"
        deadline = time.monotonic() + 120
        while not run_dir.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with closing(sign_in(web.url, "ada", PASSWORD)) as again:
            assert call(again, "adapter_cancel", [])[0] == "complete"
        runner.join(300)
        assert finished[-1][0] == "complete" and finished[-1][1][0].startswith("Cancelled"), finished[-1]
        assert "wifi-stop" not in registry.names()
        kind, shown = call(ada, "adapter_promote", ["wifi-web", "answers checked by hand", False])
        assert kind == "error" and "failed the evaluation gate" in str(shown), shown  # 4 examples: none held out
        kind, shown = call(ada, "adapter_promote", ["wifi-web", "answers checked by hand", True])
        assert kind == "complete" and "wifi-web v1 promoted (the gate overridden)" in shown[0]
    [promoted] = [e for e in web.events("adapters.promote", "user:ada") if e["subject"] == "wifi-web"]
    assert promoted["details"]["reason"] == "answers checked by hand"
    assert promoted["details"]["gate"] == "overridden" and "held-out questions" in promoted["details"]["failed_checks"]
    [evaluated] = [e for e in web.events("adapters.evaluate", "user:ada") if e["subject"] == "wifi-web"]
    assert evaluated["details"]["red_team"]["cases"] >= 5 and evaluated["details"]["passed"] is False
