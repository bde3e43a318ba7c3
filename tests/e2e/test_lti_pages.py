"""The pages the tool shows inside an LMS (service/lti/pages.py), reached in the browser the way an
LMS sends it there: a refusal, and an instructor's deep-linking quiz picker after a real LTI 1.3
launch from the test platform (tests/lti/platform.py). The page that posts the deep-linking
response back submits itself as it loads (its only content is a <noscript> button), so the
keyboard test checks that it reaches the LMS rather than axe checking it."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from service.lti import pages
from service.lti.keys import generate_key
from tests.e2e.conftest import LiveServer
from tests.e2e.wcag import assert_no_axe_violations
from tests.factories import api_key
from tests.lti.platform import (
    INSTRUCTOR_ROLES,
    LEARNER_ROLES,
    Lms,
    make_key_pair,
    path_of,
    query_of,
    serve,
)

pytestmark = pytest.mark.e2e

RETURN_URL = "https://lms.example/deep-link-return"


@pytest.fixture(scope="module")
def lms(live_server: LiveServer) -> Iterator[Lms]:
    """A test platform registered with the live tool (which gets a signing key), holding the
    tool's JWKS to check its deep-linking responses."""
    with contextmanager(serve)(Lms(make_key_pair())) as platform:
        app = live_server.app
        with app.extensions["database"].sessionmaker() as session:
            generate_key(session, app.config["SECRET_KEY"])
        status, body = live_server.api(
            "POST", "/v1/lti/platforms", platform.admin_registration(), api_key(app, "admin")
        )
        assert status == 201, body
        status, platform.tool_jwks = live_server.api("GET", "/lti/jwks")
        assert status == 200
        yield platform


def open_quiz_picker(page: Any, live_server: LiveServer, lms: Lms) -> None:
    """An instructor's deep-linking launch, with this browser carrying the tool's state cookie."""
    target = f"{live_server.url}/lti/launch"
    # The LMS sends the browser to the tool's login, which sets the state cookie (the context's
    # request API shares the browser's cookies) and redirects to the LMS's authorization step.
    login = page.request.get(live_server.url + path_of(lms.login_url(target)), max_redirects=0)
    assert login.status == 302, login.text()
    form = lms.authorize(
        query_of(login.headers["location"]),
        target_link_uri=target,
        roles=INSTRUCTOR_ROLES,
        deep_link_return_url=RETURN_URL,
    )
    # The LMS's answer to that step: a form that posts the id_token to the tool.
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(form[name])}">'
        for name in ("id_token", "state")
    )
    action = html.escape(form["launch_url"])
    body = f'<form method="post" action="{action}">{fields}<button>Go</button></form>'
    page.route(lms.auth_url, lambda route: route.fulfill(content_type="text/html", body=body))
    page.goto(lms.auth_url)
    page.click("button")
    page.wait_for_url(target)
    assert page.inner_text("h1") == "Choose a quiz to add"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_lti_pages_pass_axe(
    request: pytest.FixtureRequest,
    viewport: str,
    live_server: LiveServer,
    lms: Lms,
    screenshots: Path,
) -> None:
    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    page.watch.allow("status of 400")
    # A browser that reaches the login without an LMS behind it: the refusal page.
    response = page.goto("/lti/login")
    assert response.status == 400
    assert page.inner_text("h1") == "Bad Request"
    page.screenshot(path=screenshots / f"axe-{viewport}-lti-refusal.png", full_page=True)
    assert_no_axe_violations(page, state=f"LTI refusal at {viewport} width")

    open_quiz_picker(page, live_server, lms)
    page.screenshot(path=screenshots / f"axe-{viewport}-lti-quiz-picker.png", full_page=True)
    assert_no_axe_violations(page, state=f"LTI quiz picker at {viewport} width")

    # A tool with no quizzes loaded says so instead. This server has them, so the browser gets
    # that page as the tool renders it, without its response headers.
    empty = pages.quiz_picker([], action="/lti/deep-link", launch_id="lti1p3-launch-none")
    page.route(
        f"{live_server.url}/lti/empty",
        lambda route: route.fulfill(body=empty, content_type="text/html"),
    )
    page.goto("/lti/empty")
    assert page.inner_text("h1") == "No quizzes to link"
    assert_no_axe_violations(page, state=f"LTI quiz picker without quizzes at {viewport} width")

    # The end of a dynamic registration (its script posts the closing message to the LMS).
    done = pages.registered(
        issuer="https://lms.example", client_id="client-7", deployment_ids=["deployment-1"]
    )
    page.route(
        f"{live_server.url}/lti/registered",
        lambda route: route.fulfill(body=done, content_type="text/html"),
    )
    page.goto("/lti/registered")
    assert page.inner_text("h1") == "The tool is registered"
    page.screenshot(path=screenshots / f"axe-{viewport}-lti-registered.png", full_page=True)
    assert_no_axe_violations(page, state=f"LTI dynamic registration done at {viewport} width")


def test_an_instructor_adds_a_quiz_by_keyboard(
    page: Any, live_server: LiveServer, lms: Lms
) -> None:
    open_quiz_picker(page, live_server, lms)
    posted: list[str] = []

    def lms_return(route: Any) -> None:
        posted.append(route.request.post_data)
        route.fulfill(content_type="text/html", body="<title>LMS</title><p>Added.</p>")

    page.route(RETURN_URL, lms_return)

    focus = "() => [document.activeElement.value, document.activeElement.matches(':focus-visible')]"
    page.keyboard.press("Tab")  # the chosen quiz, the first one
    assert page.evaluate(focus) == ["activation-distribution", True]
    page.keyboard.press("ArrowDown")  # arrows move the choice within the group
    assert page.evaluate(focus) == ["batch-normalization", True]
    assert page.is_checked("input[value='batch-normalization']")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Add to the course"
    assert page.evaluate(focus)[1]
    page.keyboard.press("Enter")
    # The tool answers with a page that posts the signed deep-linking response back to the LMS.
    page.wait_for_url(RETURN_URL)
    (jwt_value,) = parse_qs(posted[0])["JWT"]
    (item,) = lms.validate_deep_link_response(jwt_value)
    assert item["custom"] == {"quiz": "batch-normalization"}


def _launch(page: Any, live_server: LiveServer, lms: Lms, **authorize: Any) -> tuple[str, Any]:
    """The LMS's form post of a fresh id_token for the quiz link, from this browser's cookies:
    (the form page's HTML, the authorization request) for `page` to submit."""
    target = f"{live_server.url}/lti/launch?quiz=batch-normalization"
    login = page.request.get(live_server.url + path_of(lms.login_url(target)), max_redirects=0)
    assert login.status == 302, login.text()
    form = lms.authorize(query_of(login.headers["location"]), target_link_uri=target, **authorize)
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(form[name])}">'
        for name in ("id_token", "state")
    )
    action = html.escape(form["launch_url"])
    return f'<form method="post" action="{action}">{fields}<button>Go</button></form>', form


def _learner_submits(
    page: Any, live_server: LiveServer, lms: Lms, user_id: str, answers: Any = None
) -> None:
    """A learner's launch (its redirect read, not followed) and a submitted attempt."""
    _, form = _launch(page, live_server, lms, user_id=user_id, name=user_id.title())
    response = page.request.post(
        form["launch_url"],
        form={"id_token": form["id_token"], "state": form["state"]},
        max_redirects=0,
    )
    assert response.status == 303, response.text()
    fragment = dict(parse_qsl(urlsplit(response.headers["location"]).fragment))
    bearer = {"Authorization": f"Bearer {fragment['token']}"}
    status, attempt = live_server.api(
        "POST", "/v1/quizzes/batch-normalization/attempts", None, bearer
    )
    assert status in (200, 201), attempt
    status, _ = live_server.api(
        "POST", f"/v1/attempts/{attempt['id']}/submission", {"answers": answers or {}}, bearer
    )
    assert status == 200


def test_an_instructor_launch_shows_the_class_from_the_lms_roster(
    page: Any, live_server: LiveServer, lms: Lms, screenshots: Path
) -> None:
    lms.set_member("teacher-e2e", "Ada Lovelace", INSTRUCTOR_ROLES)
    lms.set_member("learner-e2e-a", "Alan Turing", LEARNER_ROLES)
    lms.set_member("learner-e2e-b", "Barbara Liskov", LEARNER_ROLES)
    # Option b of q1-bn-axes is the distractor that the "per-example-statistics" mistake explains.
    _learner_submits(page, live_server, lms, "learner-e2e-a", {"q1-bn-axes": "b"})

    body, _ = _launch(page, live_server, lms, user_id="teacher-e2e", roles=INSTRUCTOR_ROLES)
    page.route(lms.auth_url, lambda route: route.fulfill(content_type="text/html", body=body))
    page.goto(lms.auth_url)
    page.click("button")
    page.wait_for_url(f"{live_server.url}/lti/instructor")  # the token left the address bar
    page.wait_for_selector("#class-view:not([hidden]) #roster-table tbody tr")
    names = page.locator("#roster-table tbody th").all_inner_texts()
    assert {"Ada Lovelace", "Alan Turing", "Barbara Liskov"} <= set(names)
    assert "Barbara Liskov" in page.inner_text("#not-started")
    # The item analysis shows the API's choice and mistake counts for q1-bn-axes.
    token = page.evaluate("sessionStorage.getItem('activation-lab.instructor')")
    bearer = {"Authorization": f"Bearer {token}"}
    status, view = live_server.api("GET", "/v1/lti/instructor/class", None, bearer)
    assert status == 200, view
    (q1,) = [q for q in view["analytics"]["questions"] if q["id"] == "q1-bn-axes"]
    assert q1["choices"]["b"] == 1
    assert q1["misconceptions"]["per-example-statistics"] == 1
    row = page.locator("#analysis-table tbody tr", has_text="q1-bn-axes")
    shown_choice = row.locator('li[data-kind="choice"][data-id="b"]')
    assert shown_choice.inner_text() == f"b: {q1['choices']['b']}"
    shown_mistake = row.locator('li[data-kind="misconception"][data-id="per-example-statistics"]')
    expected = q1["misconceptions"]["per-example-statistics"]
    assert shown_mistake.inner_text() == f"per-example-statistics: {expected}"
    assert row.locator('li[data-kind="choice"]').count() == len(q1["choices"])
    page.screenshot(path=screenshots / "lti-instructor-class.png", full_page=True)
    assert_no_axe_violations(page, state="instructor class after a real launch")

    # By keyboard: Tab reaches the roster region, then Alan Turing's "Send grade again".
    button = page.get_by_role("button", name="Send Alan Turing's grade again")
    for _ in range(12):
        page.keyboard.press("Tab")
        if button.evaluate("el => el === document.activeElement"):
            break
    assert button.evaluate("el => el.matches(':focus-visible')")
    page.keyboard.press("Enter")
    page.locator("#class-status").filter(has_text="queued for your LMS").wait_for()
