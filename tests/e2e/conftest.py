"""Browser tests: the real app on a loopback port, driven in Debian's headless Chromium.

Skipped when /usr/bin/chromium or the playwright package is missing, unless REQUIRE_E2E=1
(CI), where a missing browser fails the run instead. Every fixture that holds a port, a
database or a browser is per xdist worker, so `pytest -n auto` runs stay independent."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from service import create_app
from service.config import Settings
from service.quizzes.services import seed_bank

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Generous for a loaded CI machine; a healthy page answers in well under a second.
WAIT_MS = 10_000


def _missing_requirement() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


class _QuietHandler(WSGIRequestHandler):
    """No access log: the app's own request logging is enough."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    url: str
    app: Flask  # the served app, for set-up the API does not offer (keys, admin credentials)

    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Call the API directly (the tests' oracle for what the page shows)."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="session")
def live_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The real app on a migrated, seeded SQLite copy, served on 127.0.0.1 and a free port."""
    reason = _missing_requirement()
    if reason:
        _skip_or_fail(reason)
    path = tmp_path_factory.mktemp("e2e-db") / "e2e.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app(
        Settings(
            database_url=f"sqlite:///{path}",
            secret_key="e2e-secret-key",
            testing=True,
            app_env="development",
            rate_limits_enabled=False,
            log_level="WARNING",
        )
    )
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["database"].dispose()


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except Exception as error:
        manager.stop()
        _skip_or_fail(f"Chromium did not start: {error}")
    try:
        yield chromium
    finally:
        chromium.close()
        manager.stop()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest) -> Path:
    directory = request.config.rootpath / "test-artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class PageWatch:
    """Console errors, uncaught exceptions and CSP violations seen while a test ran."""

    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """Expect console errors containing `fragment` (e.g. the log line of a deliberate 422)."""
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a in p for a in self.allowed)]


# Runs before the page's own scripts, whatever the CSP, and records every violation.
_CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`
    + ` at ${event.sourceFile}:${event.lineNumber} (${event.sample})`);
});
"""


def _open_page(
    request: pytest.FixtureRequest,
    browser: Any,
    live_server: LiveServer,
    viewport: dict[str, int],
    screenshots: Path,
) -> Iterator[Any]:
    # A new context is a fresh browser: no stored learner token, no cache.
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    watch = PageWatch()
    page.add_init_script(_CSP_PROBE)
    page.on(
        "console",
        lambda message: (
            watch.problems.append(f"console.{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: watch.problems.append(f"uncaught: {error}"))
    page.watch = watch
    try:
        yield page
        if request.node.stash.get(_CALL_FAILED, False) and not page.is_closed():
            # What the page showed when the test failed, for the CI artifacts.
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
            page.screenshot(path=screenshots / f"FAILED-{name}.png", full_page=True)
        if not page.is_closed():
            watch.problems.extend(
                f"CSP: {line}" for line in page.evaluate("window.__cspViolations || []")
            )
        unexpected = watch.unexpected()
        assert not unexpected, "console errors or CSP violations:\n" + "\n".join(unexpected)
    finally:
        context.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer, screenshots: Path
) -> Iterator[Any]:
    """A desktop-sized page in a fresh context; fails the test on console errors or CSP hits."""
    yield from _open_page(request, browser, live_server, DESKTOP, screenshots)


@pytest.fixture
def phone_page(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer, screenshots: Path
) -> Iterator[Any]:
    """The same at phone width (390×844)."""
    yield from _open_page(request, browser, live_server, PHONE, screenshots)
