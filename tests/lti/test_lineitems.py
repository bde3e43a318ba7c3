"""A launch that names only the line items container (AGS `lineitems`, no `lineitem`): the
score's delivery finds the link's line item in the container, following its pages, or creates
it, and later scores go straight to it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from service.lti.models import LtiLaunchContext
from service.lti.services import QUIZ_TAG
from service.outbox import queue
from service.outbox.wiring import app_outbox, delivery_context
from tests.backends import all_backends
from tests.lti.conftest import QUIZ, Tool, launch_and_submit
from tests.lti.platform import Lms

pytestmark = all_backends
LINK = "resource-link-1"  # the resource link of every launch of the test platform


def _deliver(app: Flask) -> queue.DeliveryReport:
    return queue.deliver_due(delivery_context(app), app_outbox(app).handlers)


def _context_lineitems(app: Flask) -> list[str | None]:
    with app.extensions["database"].sessionmaker() as session, session.begin():
        return list(session.scalars(select(LtiLaunchContext.lineitem_url)))


def test_the_first_score_creates_the_line_item_and_later_ones_reuse_it(
    tool: Tool, lms: Lms
) -> None:
    launch_and_submit(tool, lms, user_id="learner-a", with_lineitem=False)
    assert _context_lineitems(tool.app) == [None]
    assert _deliver(tool.app).delivered == 1

    [item] = lms.line_items
    assert item["resourceLinkId"] == LINK
    assert item["tag"] == QUIZ_TAG
    assert item["resourceId"] == QUIZ
    assert item["scoreMaximum"] == 4.0
    assert item["label"] == "Sample quiz"
    created = item["id"]
    assert lms.line_item_requests == [
        f"GET /lineitems?resource_link_id={LINK}&tag={QUIZ_TAG}",
        "POST /lineitems",
    ]
    [(scored_item, score)] = lms.scores
    assert lms.lineitem_url(scored_item) == created
    assert score["userId"] == "learner-a"
    assert _context_lineitems(tool.app) == [created]

    # Another learner of the same link: the line item is found, not created again.
    launch_and_submit(tool, lms, user_id="learner-b", with_lineitem=False)
    assert _deliver(tool.app).delivered == 1
    assert len(lms.line_items) == 1
    assert lms.line_item_requests[2:] == [f"GET /lineitems?resource_link_id={LINK}&tag={QUIZ_TAG}"]
    assert [(lms.lineitem_url(i), s["userId"]) for i, s in lms.scores] == [
        (created, "learner-a"),
        (created, "learner-b"),
    ]


def test_the_line_item_is_found_on_a_later_page_of_the_container(tool: Tool, lms: Lms) -> None:
    lms.line_items.extend(
        [
            {"id": lms.lineitem_url("7"), "resourceLinkId": "another-link", "tag": QUIZ_TAG},
            {"id": lms.lineitem_url("8"), "resourceLinkId": LINK, "tag": "someone-elses-tag"},
            {"id": lms.lineitem_url("9"), "resourceLinkId": LINK, "tag": QUIZ_TAG},
        ]
    )
    lms.line_items_page_size = 1
    lms.line_items_filtered = False  # a platform may ignore the filters: the tool matches
    launch_and_submit(tool, lms, with_lineitem=False)
    assert _deliver(tool.app).delivered == 1
    assert [item for item, _ in lms.scores] == ["9"]
    query = f"resource_link_id={LINK}&tag={QUIZ_TAG}"
    assert lms.line_item_requests == [
        f"GET /lineitems?{query}",
        f"GET /lineitems?{query}&page=2",
        f"GET /lineitems?{query}&page=3",
    ]
    assert len(lms.line_items) == 3
