"""Names and Role Provisioning Services 2.0: a course's roster from the platform, kept in
`lti_roster_members` and brought up to date through the `differences` link.

Contract: GET the membership container (media type MEMBERSHIP_MEDIA_TYPE, scope
MEMBERSHIP_SCOPE) and every page after it (`Link: <…>; rel="next"`, at most MAX_PAGES); the
last `rel="differences"` link seen is stored. The next sync GETs that link instead, which lists
only the members changed since: `Deleted` members are removed, others replaced. Without a
stored link (or when the platform refuses it) the whole roster is read again and members it no
longer lists are removed. Each sync writes in one transaction with the course row locked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.lti.ags import access_token
from service.lti.lineitems import call, linked
from service.lti.models import LtiCourse, LtiRosterMember
from service.outbox.queue import DeliveryContext, DeliveryError

MEMBERSHIP_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
MAX_PAGES = 100
DELETED = "Deleted"


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str | None
    roles: list[str]
    status: str  # Active, Inactive or Deleted


@dataclass(frozen=True)
class Roster:
    members: list[Member]
    differences_url: str | None


def _member(raw: Any) -> Member | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("user_id"), str):
        return None
    name = raw.get("name") or " ".join(
        str(part) for part in (raw.get("given_name"), raw.get("family_name")) if part
    )
    roles = [str(role) for role in raw.get("roles") or [] if isinstance(role, str)]
    status = str(raw.get("status") or "Active")
    return Member(raw["user_id"], str(name)[:255] or None, roles, status)


def _pages(context: DeliveryContext, token: str, url: str) -> Iterator[tuple[Any, str | None]]:
    headers = {"Authorization": f"Bearer {token}", "Accept": MEMBERSHIP_MEDIA_TYPE}
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        response = call(context.transport, "GET", next_url, what="NRPS endpoint", headers=headers)
        try:
            body = response.json()
        except ValueError as exc:
            raise DeliveryError("the membership container is not JSON") from exc
        yield body, linked(response, "differences")
        next_url = linked(response)


def fetch_roster(context: DeliveryContext, token: str, url: str) -> Roster:
    """Every page of the membership container (or differences) at `url`."""
    members: list[Member] = []
    differences: str | None = None
    for body, differences_link in _pages(context, token, url):
        raw = body.get("members") if isinstance(body, dict) else None
        members.extend(m for m in map(_member, raw or []) if m is not None)
        differences = differences_link or differences
    return Roster(members, differences)


def _apply(session: Session, course_id: int, roster: Roster, *, complete: bool) -> None:
    course = session.scalar(select(LtiCourse).where(LtiCourse.id == course_id).with_for_update())
    if course is None:
        return
    kept = {member.user_id: member for member in course.members}
    listed = {member.user_id for member in roster.members}
    for stale in list(course.members):
        if complete and stale.user_id not in listed:
            course.members.remove(stale)
    for member in roster.members:
        row = kept.get(member.user_id)
        if member.status == DELETED:
            if row is not None and row in course.members:
                course.members.remove(row)
            continue
        if row is None:
            row = kept[member.user_id] = LtiRosterMember(user_id=member.user_id)
            course.members.append(row)
        row.name, row.roles, row.status = member.name, member.roles, member.status
    course.differences_url = roster.differences_url
    course.synced_at = utcnow()


def sync_roster(context: DeliveryContext, secret_key: str, course_id: int) -> bool:
    """Bring the course's roster up to date from the platform; False when the course has no
    NRPS endpoint (the platform did not offer the service). DeliveryError when it fails."""
    with context.sessions() as session, session.begin():
        course = session.get(LtiCourse, course_id)
        if course is None or not course.memberships_url:
            return False
        platform_id = course.platform_id
        memberships_url, differences_url = course.memberships_url, course.differences_url
    token = access_token(context, secret_key, platform_id, [MEMBERSHIP_SCOPE])
    roster, complete = None, True
    if differences_url:
        try:
            roster, complete = fetch_roster(context, token, differences_url), False
        except DeliveryError:
            roster = None  # an expired or refused differences link: read the whole roster
    if roster is None:
        roster = fetch_roster(context, token, memberships_url)
    with context.sessions() as session, session.begin():
        _apply(session, course_id, roster, complete=complete)
    return True
