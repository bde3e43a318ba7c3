"""Launches from a real LTI 1.3 platform (lti1p3platform): login, id_token validation, the
learner and attempt it opens, and every refusal (which writes nothing)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from flask.testing import FlaskClient

from tests.backends import all_backends
from tests.factories import ALL_RIGHT, seed_sample
from tests.lti.conftest import QUIZ, TARGET, Tool, row_counts
from tests.lti.platform import KeyPair, LaunchForm, Lms, launch_form, login, path_of

pytestmark = all_backends


def _page_params(location: str) -> tuple[dict[str, str], dict[str, str]]:
    parts = urlsplit(location)
    return dict(parse_qsl(parts.query)), dict(parse_qsl(parts.fragment))


def test_a_launch_maps_the_user_opens_an_attempt_and_hands_over_to_the_quiz_page(
    tool: Tool, lms: Lms
) -> None:
    form = launch_form(tool.client, lms, TARGET, name="Grace Hopper", user_id="lms-user-7")
    response = form.post(tool.client)

    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/?")
    query, fragment = _page_params(location)
    assert query == {"quiz": QUIZ}
    assert set(fragment) == {"token", "learner"}
    assert response.headers["Cache-Control"] == "no-store"

    bearer = {"Authorization": f"Bearer {fragment['token']}"}
    me = tool.client.get("/v1/learners/me", headers=bearer)
    assert me.status_code == 200
    assert me.json["id"] == fragment["learner"]
    assert me.json["display_name"] == "Grace Hopper"
    assert me.json["from_lms"] is True
    # The page resumes the attempt the launch opened.
    resumed = tool.client.post(f"/v1/quizzes/{QUIZ}/attempts", headers=bearer)
    assert resumed.status_code == 200
    counts = row_counts(tool.app)
    assert counts["attempts"] == 1
    assert counts["lti_launch_contexts"] == 1


def test_a_second_launch_resumes_the_same_learner_and_attempt(tool: Tool, lms: Lms) -> None:
    first = launch_form(tool.client, lms, TARGET).post(tool.client)
    second = launch_form(tool.client, lms, TARGET).post(tool.client)
    assert first.status_code == second.status_code == 303
    learner_1 = _page_params(first.headers["Location"])[1]["learner"]
    learner_2 = _page_params(second.headers["Location"])[1]["learner"]
    assert learner_1 == learner_2
    counts = row_counts(tool.app)
    assert (counts["learners"], counts["attempts"], counts["learner_tokens"]) == (1, 1, 2)


def test_the_quiz_can_come_from_a_custom_parameter(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, "http://localhost/lti/launch", custom={"quiz": QUIZ})
    response = form.post(tool.client)
    assert response.status_code == 303
    assert _page_params(response.headers["Location"])[0] == {"quiz": QUIZ}


def test_a_link_without_a_quiz_is_refused_and_writes_nothing(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, "http://localhost/lti/launch")
    before = row_counts(tool.app)
    response = form.post(tool.client)
    assert response.status_code == 422
    assert "names no quiz" in response.json["detail"]
    assert row_counts(tool.app) == before


def test_a_link_to_a_missing_quiz_is_a_404_and_writes_nothing(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, "http://localhost/lti/launch?quiz=no-such-quiz")
    before = row_counts(tool.app)
    response = form.post(tool.client)
    assert response.status_code == 404
    assert row_counts(tool.app) == before


# --------------------------------------------------------------------------------------------
# Refusals: each a clear 4xx, nothing written


def _refused(tool: Tool, form: LaunchForm, reason: str) -> None:
    before = row_counts(tool.app)
    response = form.post(tool.client)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("lti-launch-refused")
    assert reason in response.json["detail"]
    assert row_counts(tool.app) == before


def test_a_forged_signature_is_refused(tool: Tool, lms: Lms, attacker_keys: KeyPair) -> None:
    form = launch_form(tool.client, lms, TARGET)
    claims = lms.decode(form.id_token)
    claims["sub"] = "someone-else"
    forged = jwt.encode(claims, attacker_keys.private_pem, "RS256", headers={"kid": lms.kid()})
    _refused(tool, LaunchForm(form.url, forged, form.state), "Signature verification failed")


def test_a_token_signed_by_an_unknown_key_is_refused(
    tool: Tool, lms: Lms, attacker_keys: KeyPair
) -> None:
    form = launch_form(tool.client, lms, TARGET, keys=attacker_keys)
    _refused(tool, form, "Unable to find public key")


def test_a_wrong_audience_is_refused(tool: Tool, lms: Lms) -> None:
    auth_request = login(tool.client, lms, TARGET)
    # The platform signs for another client id than the one this tool is registered as.
    form = lms.authorize(
        {**auth_request, "client_id": "another-tool"},
        target_link_uri=TARGET,
        client_id="another-tool",
    )
    _refused(
        tool,
        LaunchForm(form["launch_url"], form["id_token"], form["state"]),
        "Registration not found",
    )


def test_an_expired_token_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET, expires_in=-120)
    _refused(tool, form, "Signature has expired")


def test_a_token_without_expiry_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET)
    claims = lms.decode(form.id_token)
    del claims["exp"]
    unexpiring = jwt.encode(claims, lms.keys.private_pem, "RS256", headers={"kid": lms.kid()})
    _refused(tool, LaunchForm(form.url, unexpiring, form.state), '"exp"')


def _resigned(lms: Lms, form: LaunchForm, **changes: Any) -> LaunchForm:
    """The form's id_token with `changes` (a None value removes the claim), signed again."""
    merged = {**lms.decode(form.id_token), **changes}
    claims = {name: value for name, value in merged.items() if value is not None}
    token = jwt.encode(claims, lms.keys.private_pem, "RS256", headers={"kid": lms.kid()})
    return LaunchForm(form.url, token, form.state)


@pytest.mark.parametrize(
    ("aud", "azp"),
    [
        ("{client}", None),
        (["{client}"], None),
        ("{client}", "{client}"),
        (["{client}"], "{client}"),
        (["{client}", "{client}"], "{client}"),
    ],
)
def test_an_audience_of_only_this_tool_is_accepted(
    tool: Tool, lms: Lms, aud: str | list[str], azp: str | None
) -> None:
    form = launch_form(tool.client, lms, TARGET)
    changes = _audience_claims(lms, aud, azp)
    assert _resigned(lms, form, **changes).post(tool.client).status_code == 303


@pytest.mark.parametrize(
    ("aud", "azp", "reason"),
    [
        (["{client}", "untrusted-tool"], None, "untrusted audiences ['untrusted-tool']"),
        (["{client}", "untrusted-tool"], "{client}", "untrusted audiences ['untrusted-tool']"),
        ("{client}", "untrusted-tool", "\"azp\" 'untrusted-tool' is not this tool's client id"),
        (["{client}"], "untrusted-tool", "\"azp\" 'untrusted-tool' is not this tool's client id"),
        (["{client}", "{client}"], None, '"azp" is required'),
        ([], None, '"aud" is missing'),
    ],
)
def test_another_audience_or_authorized_party_is_refused(
    tool: Tool, lms: Lms, aud: str | list[str], azp: str | None, reason: str
) -> None:
    """OIDC Core §3.1.3.7: a token also meant for another audience, an azp naming another
    party, or several audiences without azp are refused, in string and array forms."""
    form = launch_form(tool.client, lms, TARGET)
    _refused(tool, _resigned(lms, form, **_audience_claims(lms, aud, azp)), reason)


def _audience_claims(lms: Lms, aud: str | list[str], azp: str | None) -> dict[str, Any]:
    def fill(value: str) -> str:
        return value.format(client=lms.client_id)

    return {
        "aud": fill(aud) if isinstance(aud, str) else [fill(value) for value in aud],
        "azp": None if azp is None else fill(azp),
    }


def test_a_platform_clock_a_little_ahead_is_tolerated(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET)
    ahead = _resigned(lms, form, iat=int(time.time()) + 10)
    assert ahead.post(tool.client).status_code == 303


def test_a_token_issued_in_the_future_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET)
    _refused(tool, _resigned(lms, form, iat=int(time.time()) + 600), "not yet valid")


def test_an_unknown_deployment_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET, deployment_id="deployment-not-registered")
    _refused(tool, form, "Unable to find deployment")


def test_a_replayed_launch_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET)
    assert form.post(tool.client).status_code == 303
    _refused(tool, form, "already used")


def test_a_replay_from_another_browser_is_refused(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET)
    other_browser = tool.app.test_client()
    _refused(Tool(tool.app, other_browser, tool.admin, tool.platform_id), form, "state")


def test_a_nonce_the_tool_never_issued_is_refused(tool: Tool, lms: Lms) -> None:
    auth_request = login(tool.client, lms, TARGET)
    form = lms.authorize({**auth_request, "nonce": "made-up-nonce"}, target_link_uri=TARGET)
    _refused(tool, LaunchForm(form["launch_url"], form["id_token"], form["state"]), "nonce")


def test_a_browser_sees_a_readable_refusal_page(tool: Tool, lms: Lms) -> None:
    form = launch_form(tool.client, lms, TARGET, expires_in=-120)
    response = form.post(tool.client, Accept="text/html,application/xhtml+xml")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Signature has expired" in page
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]


# --------------------------------------------------------------------------------------------
# Login initiation


def test_login_sets_a_state_cookie_and_stores_a_nonce(tool: Tool, lms: Lms) -> None:
    response = tool.client.get(path_of(lms.login_url(TARGET)))
    assert response.status_code == 302
    auth_request = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert auth_request["redirect_uri"] == "http://localhost/lti/launch"
    assert auth_request["client_id"] == lms.client_id
    assert auth_request["response_mode"] == "form_post"
    cookie = tool.client.get_cookie(f"lti1p3-{auth_request['state']}")
    assert cookie is not None
    assert cookie.http_only
    assert row_counts(tool.app)["lti_launch_data"] == 1


def test_login_from_an_unknown_issuer_is_refused(tool: Tool) -> None:
    response = tool.client.get(
        "/lti/login?iss=https://unknown.example&login_hint=u1&target_link_uri=x"
    )
    assert response.status_code == 400
    assert response.json["type"].endswith("lti-login-refused")
    assert "registration" in response.json["detail"]


def test_login_without_parameters_is_refused(tool: Tool) -> None:
    response = tool.client.post("/lti/login", data={})
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["get", "post"])
def test_login_accepts_get_and_post(tool: Tool, lms: Lms, method: str) -> None:
    url = lms.login_url(TARGET)
    parts = urlsplit(url)
    if method == "get":
        response = tool.client.get(path_of(url))
    else:
        response = tool.client.post(parts.path, data=dict(parse_qsl(parts.query)))
    assert response.status_code == 302


def test_launch_state_and_nonce_live_in_the_database_not_the_process(tool: Tool, lms: Lms) -> None:
    """A second app on the same database (another gunicorn worker) completes the launch."""
    from service import create_app

    form = launch_form(tool.client, lms, TARGET)
    other_worker = create_app(tool.app.config["SETTINGS"])
    try:
        browser = other_worker.test_client()
        for cookie in ("lti1p3-" + form.state,):
            value = tool.client.get_cookie(cookie)
            assert value is not None
            browser.set_cookie(cookie, value.value)
        response = form.post(browser)
        assert response.status_code == 303
    finally:
        other_worker.extensions["database"].dispose()


def test_the_launch_endpoint_refuses_a_get(client: FlaskClient) -> None:
    assert client.get("/lti/launch").status_code == 405


def test_a_learner_without_attempts_left_is_refused_before_anything_is_written(
    tool: Tool, lms: Lms
) -> None:
    seed_sample(tool.app, QUIZ, max_attempts=1)
    first = launch_form(tool.client, lms, TARGET).post(tool.client)
    token = dict(parse_qsl(urlsplit(first.headers["Location"]).fragment))["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    attempt = tool.client.post(f"/v1/quizzes/{QUIZ}/attempts", headers=bearer).json
    tool.client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=bearer
    )
    form = launch_form(tool.client, lms, TARGET)
    before = row_counts(tool.app)
    response = form.post(tool.client)
    assert response.status_code == 409
    assert "attempts" in response.json["detail"]
    assert row_counts(tool.app) == before


def test_a_launch_whose_last_step_fails_writes_nothing(
    tool: Tool, lms: Lms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch is one transaction: when writing the launch context (its last step) fails
    after the learner, token and attempt were written, all of them are rolled back, and the
    nonce is given back, so the same launch then succeeds."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from service.lti import services
    from service.lti.tool import ValidatedLaunch

    remember = services.remember_launch

    def remember_then_fail(session: Session, attempt_id: Any, launch: ValidatedLaunch) -> None:
        remember(session, attempt_id, launch)
        session.flush()  # the context row reaches the database before the failure
        raise OperationalError("INSERT INTO lti_launch_contexts", {}, Exception("disk full"))

    form = launch_form(tool.client, lms, TARGET, user_id="lms-user-9")
    before = row_counts(tool.app)
    monkeypatch.setattr(services, "remember_launch", remember_then_fail)
    failed = form.post(tool.client)
    assert failed.status_code == 503, failed.get_data(as_text=True)
    assert row_counts(tool.app) == before

    monkeypatch.setattr(services, "remember_launch", remember)
    assert form.post(tool.client).status_code == 303
    after = row_counts(tool.app)
    assert (after["learners"], after["attempts"], after["lti_launch_contexts"]) == (
        before["learners"] + 1,
        before["attempts"] + 1,
        before["lti_launch_contexts"] + 1,
    )
