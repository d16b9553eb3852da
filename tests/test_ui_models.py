"""The Models page on a real server: real LightGBM models, exact SHAP, the real audit log, and a real
browser. Admins train and retire; analysts use only the models granted to them; auditors open a
decision from the Audit page and see the same picture, re-computed from the registered model.

The HTTP tests call the page's handlers directly with a user's session cookie, as a script would,
to show that the role and the per-model grant are checked on the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.build import tree_learner
from appliance.tabular.registry import ModelRegistry
from appliance.tabular.training import TrainRequest, train
from tests.actors import TESTER
from tests.browser import Visit, launched_browser
from tests.served import PASSWORD, Served, served_appliance
from tests.test_tabular import SMALL_COLUMNS, small_rows, write_csv
from ui.http_client import call, sign_in

MODEL = "loans"
OTHER = "claims"


@dataclass
class ModelsWeb:
    served: Served
    table: Path  # a table an admin uploads to train a model through the page

    @property
    def url(self) -> str:
        return self.served.url


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[ModelsWeb]:
    """Two models (loans, claims); ada admin, ana analyst granted loans, bob analyst granted claims, aud auditor."""
    root = tmp_path_factory.mktemp("models-web")
    table = write_csv(root / "applicants.csv", SMALL_COLUMNS, small_rows())
    users = [("ada", "admin", []), ("ana", "analyst", ["finance"]), ("bob", "analyst", []), ("aud", "auditor", [])]
    with served_appliance(root / "home", models, {}, users) as served:
        app = served.app
        registry = ModelRegistry(app.settings.tabular_dir)
        for name in (MODEL, OTHER):
            request = TrainRequest(table, name, "outcome", favourable="yes", actionable=("income",))
            train(app, tree_learner(app.settings), registry, request, TESTER)
        app.users.grant("ana", models=[MODEL], by=TESTER)
        app.users.grant("bob", models=[OTHER], by=TESTER)
        yield ModelsWeb(served, table)


def one_row(income: int = 1200, region: str = "north") -> dict[str, Any]:
    return {"headers": ["income", "region"], "data": [[income, region]], "metadata": None}


# --- over plain HTTP: what a script calling the handlers directly gets -------------------------


def test_an_analyst_decides_one_row_of_a_granted_model_and_the_decision_is_audited(web: ModelsWeb) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        kind, shown = call(ana, "model_show", [MODEL])
        assert kind == "complete", shown
        assert "Held-out metrics" in shown[0] and "data:image/png;base64," in shown[0]
        kind, decided = call(ana, "model_predict_row", [MODEL, one_row()])
        assert kind == "complete", decided
    table, seq, view = decided
    [recorded] = web.served.events("tabular.predict", "user:ana")[-1:]
    assert seq == recorded["seq"] and table["value"]["data"][0][3] == recorded["seq"]
    assert recorded["details"]["inputs"] == {"income": "1200", "region": "north"}
    assert 'class="decision-waterfall"' in view and "data:image/png;base64," in view
    assert "matches the record" in view and "Principal reasons" in view


def test_a_model_not_granted_is_refused_on_the_server_and_the_refusal_is_audited(web: ModelsWeb) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        assert call(ana, "model_predict_row", [MODEL, one_row(1500)])[0] == "complete"
        mine = web.served.events("tabular.predict", "user:ana")[-1]["seq"]
    denied_before = len(web.served.events("access.denied", "user:bob"))
    with closing(sign_in(web.url, "bob", PASSWORD)) as bob:
        for api_name, data in (
            ("model_show", [MODEL]),
            ("model_predict_row", [MODEL, one_row()]),
            ("model_decision", [mine]),  # another model's decision, by its audit number
        ):
            kind, message = call(bob, api_name, data)
            assert kind == "error" and f"model &#x27;{MODEL}&#x27; is not granted to bob" in str(message), (
                api_name,
                message,
            )
        assert call(bob, "model_show", [OTHER])[0] == "complete"  # his own model works
    assert len(web.served.events("access.denied", "user:bob")) == denied_before + 3
    assert not web.served.events("tabular.predict", "user:bob")
    with closing(sign_in(web.url, "aud", PASSWORD)) as aud:  # auditors review decisions, they make none
        kind, message = call(aud, "model_predict_row", [MODEL, one_row()])
        assert kind == "error" and "may not models.use" in str(message)


def test_only_admins_train_and_retire(web: ModelsWeb) -> None:
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        kind, message = call(ana, "model_train", [None, "mine", "outcome", "yes", ""])
        assert kind == "error" and "may not models.train" in str(message)
        kind, message = call(ana, "model_remove", [MODEL])
        assert kind == "error" and "may not models.train" in str(message)
    assert MODEL in ModelRegistry(web.served.app.settings.tabular_dir).names()


def test_a_bad_row_gets_its_own_error_and_no_decision(web: ModelsWeb) -> None:
    before = len(web.served.events("tabular.predict", "user:ana"))
    with closing(sign_in(web.url, "ana", PASSWORD)) as ana:
        kind, decided = call(ana, "model_predict_row", [MODEL, one_row(1200, "atlantis")])
    assert kind == "complete", decided
    assert "category the model never saw" in decided[0]["value"]["data"][0][4]
    assert decided[1] is None and "No row could be decided" in decided[2]
    assert len(web.served.events("tabular.predict", "user:ana")) == before


# --- in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def visit(browser: Any, web: ModelsWeb) -> Iterator[Any]:
    opened: list[Visit] = []

    def start() -> Visit:
        opened.append(Visit(browser, web.url))
        return opened[-1]

    yield start
    for item in opened:
        item.close()


def image_loaded(v: Visit, selector: str) -> bool:
    return bool(v.page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 100"))


@pytest.mark.slow
def test_browser_admin_trains_a_model_from_an_uploaded_table(visit: Any, web: ModelsWeb) -> None:
    v = visit()
    v.sign_in("ada")
    v.tab("Models").click()
    v.page.set_input_files("#train-file input[type=file]", str(web.table))
    v.wait_text("#train-file", "applicants.csv")
    v.page.locator("#train-name textarea, #train-name input").first.fill("web-trained")
    v.page.locator("#train-target textarea, #train-target input").first.fill("outcome")
    v.page.locator("#train-favourable textarea, #train-favourable input").first.fill("yes")
    v.page.click("#train-button")
    v.wait_text("#model-info", "Held-out metrics")
    assert "web-trained v1: binary on outcome" in v.page.inner_text("#model-info")
    assert image_loaded(v, "#model-info img.model-importance")
    [event] = web.served.events("tabular.train", "user:ada")
    assert event["subject"] == "web-trained"
    leftovers = list(web.served.app.settings.tmp_dir.rglob("applicants.csv"))
    assert leftovers == [], "the uploaded table must be deleted once trained on"
    assert not v.failed, v.failed


@pytest.mark.slow
def test_browser_analyst_decides_a_row_and_sees_the_waterfall_and_the_auditor_sees_it_too(
    visit: Any, web: ModelsWeb
) -> None:
    v = visit()
    v.sign_in("ana")
    v.tab("Models").click()
    v.page.click("#model-show")
    v.wait_text("#model-info", "Held-out metrics")
    assert "claims" not in v.page.inner_text("#model-choice")  # only the granted model is offered
    v.page.click("#predict-row-button")
    v.wait_text("#decision-view", "Principal reasons")
    assert image_loaded(v, "#decision-view img.decision-waterfall")
    assert "matches the record" in v.page.inner_text("#decision-view")
    seq = web.served.events("tabular.predict", "user:ana")[-1]["seq"]
    assert f"Decision {seq}:" in v.page.inner_text("#decision-view")
    assert not v.failed, v.failed
    a = visit()
    a.sign_in("aud")
    a.tab("Audit").click()
    a.page.locator("#audit-seq input").fill(str(seq))
    a.page.click("#audit-open")
    a.wait_text("#audit-decision", "matches the record")
    assert image_loaded(a, "#audit-decision img.decision-waterfall")
    assert not a.tab("Models").is_visible()
    assert not a.failed, a.failed
