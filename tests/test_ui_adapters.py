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
ADAPTERS = {"fin-promoted": (["finance"], True), "fin-trained": (["finance"], False), "hr-promoted": (["hr"], True)}


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
