"""The API docs (Swagger UI at /docs) under their Content-Security-Policy: the page renders
every operation, expands one and runs it against the service, with no CSP violation and no
console error (the `page` fixture fails the test on either)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_the_docs_render_and_try_an_operation_within_their_policy(
    page: Any, screenshots: Path
) -> None:
    response = page.goto("/docs/")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path[data-path='/health/live']")
    operations = page.locator(".opblock").count()
    assert operations > 30  # every operation of openapi.yaml is listed
    page.screenshot(path=screenshots / "docs-desktop.png")
    health = page.locator(".opblock", has=page.locator("[data-path='/health/live']")).first
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    page.wait_for_selector(".live-responses-table tbody .response-col_status")
    status = health.locator(".live-responses-table tbody .response-col_status").first.inner_text()
    assert status.strip().startswith("200")
    page.screenshot(path=screenshots / "docs-try-it-out.png", full_page=False)


def test_the_docs_render_at_phone_width(phone_page: Any, screenshots: Path) -> None:
    phone_page.goto("/docs/")
    phone_page.wait_for_selector(".opblock-summary-path[data-path='/health/live']")
    phone_page.screenshot(path=screenshots / "docs-phone.png")
