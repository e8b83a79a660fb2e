"""The console in a real headless Chromium: approve a held call, engage the kill switch."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.console_support import DELETE, Console, held_call, retry

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # A missing browser fails the run (make install sets both up); it never skips.
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is not installed: run `make install`")
    if shutil.which("chromium") is None:
        pytest.fail("Debian chromium is not installed: run `make install` (apt chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    context = browser.new_context(base_url=console.url)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.goto("/console/login")
    pg.fill("#credential", console.admin)
    pg.click("button:has-text('Log in')")
    pg.wait_for_url("**/console/approvals")
    try:
        yield pg
    finally:
        context.close()


def test_approve_a_held_call_then_the_retry_succeeds(page: Any, console: Console) -> None:
    token, approval = held_call(console.stack)
    page.goto("/console/approvals")
    card = page.locator(f"section[id='{approval}']")
    text = card.inner_text()
    for shown in ("variable:delete", "staging", "POST", "claude-code", "demo-staging", "0 / 1"):
        assert shown in text, shown
    assert console.stack.services.issuance.verify(token).sid in text
    card.locator("button:has-text('Approve')").click()
    page.wait_for_url("**/console/approvals")
    assert "it is now granted" in page.locator("[role=status]").inner_text()
    assert page.locator(f"section[id='{approval}']").count() == 0
    r = retry(console.stack, token, approval)
    assert r.status_code == 200, r.text
    assert console.stack.executed_fields().count("variableDelete") >= 1


def test_kill_switch_refuses_a_live_token(page: Any, console: Console) -> None:
    token = console.stack.token()
    before = console.stack.call(token, "query { projects { id } }")
    assert before.status_code == 200, before.text
    page.goto("/console/kills")
    page.select_option("#scope", "agent")
    page.fill("#kill-name", "claude-code")
    page.fill("#kill-reason", "browser test")
    page.click("button:has-text('Engage kill switch')")
    page.wait_for_url("**/console/kills")
    assert "Kill switch engaged on agent claude-code" in page.inner_text("[role=status]")
    deadline = time.monotonic() + 1.5
    while True:
        r = console.stack.call(token, DELETE, {"n": "X"})
        if r.status_code == 403 and r.json()["code"] in ("token_revoked", "kill_switch_engaged"):
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    page.click("button:has-text('Lift')")
    page.wait_for_url("**/console/kills")
    assert "lifted" in page.inner_text("[role=status]")
    assert console.stack.services.kills.list() == []
