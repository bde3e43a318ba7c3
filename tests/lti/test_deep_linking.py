"""Deep linking: an instructor picks a quiz and the platform receives a signed response with a
line item whose maximum is the quiz's."""

from __future__ import annotations

import html
import re

from tests.backends import all_backends
from tests.lti.conftest import QUIZ, Tool, row_counts
from tests.lti.platform import INSTRUCTOR_ROLES, LEARNER_ROLES, Lms, launch_form

pytestmark = all_backends
RETURN_URL = "https://lms.example/deep-link-return"
LAUNCH = "http://localhost/lti/launch"


def _inputs(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def _picker(tool: Tool, lms: Lms) -> str:
    form = launch_form(
        tool.client, lms, LAUNCH, roles=INSTRUCTOR_ROLES, deep_link_return_url=RETURN_URL
    )
    response = form.post(tool.client)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_an_instructor_picks_a_quiz_and_the_platform_accepts_the_signed_response(
    tool: Tool, lms: Lms
) -> None:
    page = _picker(tool, lms)
    assert f'value="{QUIZ}"' in page
    assert "Sample quiz" in page
    launch_id = _inputs(page)["launch_id"]

    response = tool.client.post("/lti/deep-link", data={"launch_id": launch_id, "quiz": QUIZ})
    assert response.status_code == 200
    answer = response.get_data(as_text=True)
    assert f'action="{RETURN_URL}"' in answer
    assert "https://lms.example" in response.headers["Content-Security-Policy"]

    items = lms.validate_deep_link_response(_inputs(answer)["JWT"])  # checks the signature
    assert items == [
        {
            "type": "ltiResourceLink",
            "title": "Sample quiz",
            "url": f"http://localhost/lti/launch?quiz={QUIZ}",
            "custom": {"quiz": QUIZ},
            "lineItem": {
                "scoreMaximum": 4.0,
                "label": "Sample quiz",
                "resourceId": QUIZ,
                "tag": "activation-lab-quiz",
            },
        }
    ]
    claims = lms.decode(_inputs(answer)["JWT"])
    assert claims["iss"] == lms.client_id
    assert claims["aud"] == [lms.issuer]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == lms.deployment_id


def test_the_selection_is_answered_once(tool: Tool, lms: Lms) -> None:
    launch_id = _inputs(_picker(tool, lms))["launch_id"]
    data = {"launch_id": launch_id, "quiz": QUIZ}
    assert tool.client.post("/lti/deep-link", data=data).status_code == 200
    again = tool.client.post("/lti/deep-link", data=data)
    assert again.status_code == 403


def test_an_unknown_launch_id_is_refused(tool: Tool) -> None:
    response = tool.client.post(
        "/lti/deep-link", data={"launch_id": "lti1p3-launch-made-up", "quiz": QUIZ}
    )
    assert response.status_code == 403
    assert "Launch data not found" in response.json["detail"]


def test_a_learner_cannot_open_the_picker(tool: Tool, lms: Lms) -> None:
    form = launch_form(
        tool.client, lms, LAUNCH, roles=LEARNER_ROLES, deep_link_return_url=RETURN_URL
    )
    before = row_counts(tool.app)
    response = form.post(tool.client)
    assert response.status_code == 403
    assert "instructors" in response.json["detail"]
    assert row_counts(tool.app) == before


def test_deep_linking_needs_a_tool_key(tool: Tool, lms: Lms) -> None:
    from sqlalchemy import delete

    from service.lti.models import LtiToolKey

    launch_id = _inputs(_picker(tool, lms))["launch_id"]
    with tool.app.extensions["database"].sessionmaker() as session, session.begin():
        session.execute(delete(LtiToolKey))
    response = tool.client.post("/lti/deep-link", data={"launch_id": launch_id, "quiz": QUIZ})
    assert response.status_code == 503
    assert "generate-key" in response.json["detail"]


def test_a_missing_quiz_is_a_404(tool: Tool, lms: Lms) -> None:
    launch_id = _inputs(_picker(tool, lms))["launch_id"]
    response = tool.client.post(
        "/lti/deep-link", data={"launch_id": launch_id, "quiz": "no-such-quiz"}
    )
    assert response.status_code == 404
