"""What a validated launch does: map the LMS user to a learner, open or resume the attempt,
remember the launch context (for grade passback), and build deep-linking responses.

A resource-link launch is one unit of work: the nonce is consumed (the single winner of a
replay race goes on), then learner, token, attempt and launch context are written, all in one
transaction. A refusal or failure at any step writes nothing; with the database launch store the
nonce is given back too (Redis forgets it at once: the LMS sends a fresh one with every launch).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import run_in_transaction
from service.errors import NotFound, Unprocessable
from service.learners.attempts import open_or_resume
from service.learners.learners import lms_learner
from service.lti.dynamic_registration import SCOPES as SERVICE_SCOPES
from service.lti.models import LtiLaunchContext
from service.lti.storage import LAUNCH_DATA_TTL_SECONDS, LaunchStore, nonce_key
from service.lti.tool import LtiLaunchRefused, ToolMessageLaunch, ValidatedLaunch
from service.quizzes.models import QuizRecord

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
CUSTOM_CLAIM = CLAIM + "custom"
TARGET_LINK_CLAIM = CLAIM + "target_link_uri"
DEPLOYMENT_CLAIM = CLAIM + "deployment_id"
RESOURCE_LINK_CLAIM = CLAIM + "resource_link"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
QUIZ_TAG = "activation-lab-quiz"
LAUNCH_ATTEMPTS = 3


@dataclass(frozen=True)
class QuizLaunch:
    """Where to send the browser after a resource-link launch."""

    quiz: str
    learner_id: uuid.UUID
    attempt_id: uuid.UUID
    token: str

    def page_url(self, root: str = "") -> str:
        fragment = urlencode({"token": self.token, "learner": str(self.learner_id)})
        return f"{root}/?{urlencode({'quiz': self.quiz})}#{fragment}"


@dataclass(frozen=True)
class QuizChoice:
    slug: str
    title: str
    description: str
    max_score: float


def quiz_slug_of(claims: dict[str, Any]) -> str | None:
    """The quiz a resource link names: custom parameter `quiz`, else `?quiz=` of the target
    link URI."""
    custom = claims.get(CUSTOM_CLAIM)
    slug = str(custom.get("quiz") or "") if isinstance(custom, dict) else ""
    if not slug.strip():
        target = str(claims.get(TARGET_LINK_CLAIM) or "")
        slug = (parse_qs(urlsplit(target).query).get("quiz") or [""])[0]
    return slug.strip() or None


def display_name_of(claims: dict[str, Any]) -> str | None:
    name = claims.get("name") or " ".join(
        str(part) for part in (claims.get("given_name"), claims.get("family_name")) if part
    )
    return str(name)[:100] or None


def consume_nonce(session: Session, store: LaunchStore, nonce: str) -> None:
    """Use the launch's nonce up inside the caller's transaction (with the database store);
    LtiLaunchRefused for every caller but the first."""
    if not store.consume(nonce_key(nonce), session):
        raise LtiLaunchRefused(
            "LTI launch refused: the nonce is unknown, expired or was already used "
            "(a replayed launch)."
        )


@dataclass
class _Nonce:
    """A launch's nonce, consumed in every round of its unit of work, or only in the first when
    the store is not transactional (a rollback does not give a Redis key back)."""

    store: LaunchStore
    value: str
    consumed: bool = False

    def consume(self, session: Session) -> None:
        if self.consumed:
            return
        consume_nonce(session, self.store, self.value)
        self.consumed = not self.store.transactional


def remember_launch(session: Session, attempt_id: uuid.UUID, launch: ValidatedLaunch) -> None:
    """Keep where the attempt came from (platform, deployment, resource link, line item) for
    its grade passback, inside the caller's transaction."""
    claims = launch.claims
    ags = claims.get(AGS_CLAIM) or {}
    resource_link = claims.get(RESOURCE_LINK_CLAIM) or {}
    session.merge(
        LtiLaunchContext(
            attempt_id=attempt_id,
            platform_id=launch.platform_id,
            deployment_id=str(claims[DEPLOYMENT_CLAIM]),
            lti_user_id=str(claims["sub"]),
            resource_link_id=resource_link.get("id"),
            context_id=(claims.get(CLAIM + "context") or {}).get("id"),
            lineitem_url=ags.get("lineitem"),
            lineitems_url=ags.get("lineitems"),
            ags_scopes=list(ags.get("scope") or []),
        )
    )


def resource_link_launch(
    session: Session,
    store: LaunchStore,
    launch: ValidatedLaunch,
    *,
    secret_key: str,
    token_ttl: timedelta,
) -> QuizLaunch:
    """Map the LMS user to a learner, open or resume their attempt on the linked quiz, store
    the launch context and issue a short-lived learner token: one transaction."""
    claims = launch.claims
    slug = quiz_slug_of(claims)
    if slug is None:
        raise Unprocessable(
            "This LMS link names no quiz: add the custom parameter quiz=<slug> or "
            "?quiz=<slug> to the target link URI.",
            errors={"quiz": ["missing"]},
        )
    nonce = _Nonce(store, launch.nonce)

    def launch_once(session: Session) -> QuizLaunch:
        nonce.consume(session)
        learner, issued = lms_learner(
            session,
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            display_name=display_name_of(claims),
            secret_key=secret_key,
            token_ttl=token_ttl,
        )
        try:
            opened = open_or_resume(session, learner.id, slug)
        except NotFound as exc:
            raise NotFound(f"This LMS link names quiz {slug!r}, which does not exist.") from exc
        remember_launch(session, opened.attempt.id, launch)
        return QuizLaunch(slug, learner.id, opened.attempt.id, issued.token)

    return run_in_transaction(
        session,
        launch_once,
        attempts=LAUNCH_ATTEMPTS,
        conflict="The launch could not be completed because of concurrent requests; "
        "launch again from the LMS.",
    )


def deep_link_launch(session: Session, store: LaunchStore, launch: ValidatedLaunch) -> str:
    """Accept a deep-linking request: consume its nonce and keep the launch for the picker's
    answer; the launch id the picker posts back."""
    with session.begin():
        consume_nonce(session, store, launch.nonce)
    launch.launch.set_launch_data_lifetime(LAUNCH_DATA_TTL_SECONDS)
    launch.launch.save_launch_data()
    return str(launch.launch.get_launch_id())


def quiz_choices(session: Session) -> list[QuizChoice]:
    """The quizzes an instructor can link, in lesson order."""
    with session.begin():
        rows = session.scalars(
            select(QuizRecord)
            .where(QuizRecord.deleted_at.is_(None))
            .order_by(QuizRecord.lesson.asc().nulls_last(), QuizRecord.slug)
        ).all()
        return [QuizChoice(r.slug, r.title, r.description, r.max_score) for r in rows]


def deep_link_response(
    session: Session,
    store: LaunchStore,
    launch: ToolMessageLaunch,
    slug: str,
    *,
    base_url: str,
) -> tuple[str, str]:
    """The signed LtiDeepLinkingResponse linking `slug`, with a line item whose maximum is the
    quiz's; (return URL, JWT). A launch answers once: its saved data is consumed."""
    with session.begin():
        record = session.scalar(
            select(QuizRecord).where(QuizRecord.slug == slug, QuizRecord.deleted_at.is_(None))
        )
        if record is None:
            raise NotFound(f"There is no quiz {slug!r}.")
        title, max_score = record.title, record.max_score
    with session.begin():
        if not store.consume(str(launch.get_launch_id()), session):
            raise LtiLaunchRefused("Deep linking refused: this selection was already sent.")
    line_item = (
        LineItem()
        .set_score_maximum(max_score)
        .set_label(title)
        .set_resource_id(slug)
        .set_tag(QUIZ_TAG)
    )
    resource = (
        DeepLinkResource()
        .set_url(f"{base_url}/lti/launch?{urlencode({'quiz': slug})}")
        .set_title(title)
        .set_custom_params({"quiz": slug})
        .set_lineitem(line_item)
    )
    deep_link = launch.get_deep_link()
    settings = launch.get_launch_data().get(
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", {}
    )
    return str(settings["deep_link_return_url"]), str(deep_link.get_response_jwt([resource]))


def tool_configuration(base_url: str, tool_name: str) -> dict[str, Any]:
    """The tool's registration document (LTI Dynamic Registration's client metadata) and the
    values an LMS administrator enters by hand."""
    login, launch, jwks = f"{base_url}/lti/login", f"{base_url}/lti/launch", f"{base_url}/lti/jwks"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "client_name": tool_name,
        "initiate_login_uri": login,
        "redirect_uris": [launch],
        "jwks_uri": jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SERVICE_SCOPES),
        "lti_tool_configuration": {
            "domain": urlsplit(base_url).netloc,
            "target_link_uri": launch,
            "description": "Quizzes on why deep networks need normalization and careful "
            "initialization, graded into the LMS gradebook.",
            "claims": ["iss", "sub", "name", "given_name", "family_name"],
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": launch},
                {
                    "type": "LtiDeepLinkingRequest",
                    "target_link_uri": launch,
                    "label": f"Add a {tool_name} quiz",
                    "placements": ["assignment_selection", "link_selection"],
                },
            ],
        },
        "admin_values": {
            "tool_name": tool_name,
            "login_initiation_url": login,
            "redirect_url": launch,
            "target_link_url": launch,
            "deep_linking_url": launch,
            "public_keyset_url": jwks,
            "signature_method": "RS256",
            "services": "Assignment and Grade Services (scores, line items), Names and Role "
            "Provisioning Services (the instructor's roster), Deep Linking",
            "privacy": "send the user's name (the learner's display name)",
            "custom_parameters": "quiz=<slug> on links made by hand (deep linking sets it)",
        },
    }
