"""A real headless browser for the web UI tests: Debian's chromium driven by playwright, recording
every request the page makes, every dialog (a script that ran), CSP complaints and failed responses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.served import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def launched_browser() -> Iterator[Any]:
    """chromium, or a skip naming the missing package."""
    if not CHROMIUM.exists():
        pytest.skip("needs the Debian package chromium (make system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (make install)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield launched
        launched.close()


class Visit:
    """A browser context that records every request, dialog, CSP complaint and failed response."""

    def __init__(self, browser: Any, url: str, downloads: bool = False) -> None:
        self.url = url
        self.context = browser.new_context(accept_downloads=downloads)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.failed: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.set_default_timeout(60_000)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        self.page.goto(self.url + "/")
        self.page.fill("#name", name)
        self.page.fill("#password", password)
        self.page.click("#sign-in")
        if password == PASSWORD:
            self.page.wait_for_url("**/app/")
            self.wait_value("signed-in-as", "Signed in as")

    def value(self, elem_id: str) -> str:
        return self.page.locator(f"#{elem_id} textarea, #{elem_id} input").first.input_value()

    def wait_value(self, elem_id: str, text: str) -> None:
        self.page.wait_for_function(
            "([id, text]) => { const e = document.querySelector(`#${id} textarea, #${id} input`);"
            " return e && e.value.includes(text); }",
            arg=[elem_id, text],
        )

    def wait_text(self, selector: str, text: str) -> None:
        try:
            self.page.wait_for_function(
                "([selector, text]) => { const e = document.querySelector(selector);"
                " return e && e.innerText.includes(text); }",
                arg=[selector, text],
            )
        except Exception as timeout:  # say what the page showed instead, and what went wrong on it
            element = self.page.query_selector(selector)
            shown = element.inner_text()[:500] if element else "(no such element)"
            raise AssertionError(
                f"{selector} never showed {text!r}; it showed {shown!r}; page problems: {self.failed}"
            ) from timeout

    def tab(self, name: str) -> Any:
        return self.page.get_by_role("tab", name=name)

    def outside_requests(self) -> list[str]:
        own = self.url + "/"
        return [u for u in self.requests if not (u.startswith(own) or u.startswith(("data:", "blob:")))]

    def close(self) -> None:
        self.context.close()
        assert self.outside_requests() == [], f"the page reached outside the appliance: {self.outside_requests()}"
        assert not [c for c in self.console if "Content Security Policy" in c], self.console
        assert self.dialogs == [], f"a script ran: {self.dialogs}"
