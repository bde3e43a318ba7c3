"""Assignment and Grade Services: the score message for a submitted LTI attempt and its delivery.

Delivery asks the platform's token endpoint for an access token with a client assertion (a JWT
signed by the tool's active key, RFC 7523) and POSTs the score to `<line item>/scores`. A launch
that named only the line items container has its line item found or created first (lineitems.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import orjson
from sqlalchemy.orm import Session

from service.errors import ServiceUnavailable
from service.lti.keys import signing_key
from service.lti.lineitems import LINEITEM_SCOPE, LineItemSpec, find_or_create, remember_lineitem
from service.lti.models import LtiLaunchContext, LtiPlatform
from service.outbox.queue import DeliveryContext, DeliveryError, enqueue
from service.outbox.transport import TransportError

AGS_SCORE = "lti.ags_score"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def scores_url(lineitem_url: str) -> str:
    """The line item's score endpoint: `/scores` appended to its path (query kept)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def score_document(
    *, user_id: str, score_given: float, score_maximum: float, timestamp: datetime, comment: str
) -> dict[str, Any]:
    """An AGS score: the attempt is complete and fully graded."""
    return {
        "userId": user_id,
        "scoreGiven": score_given,
        "scoreMaximum": score_maximum,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "comment": comment,
    }


def enqueue_score(
    session: Session,
    launch: LtiLaunchContext,
    *,
    attempt_id: uuid.UUID,
    score_given: float,
    score_maximum: float,
    timestamp: datetime,
    comment: str,
    label: str,
    resource_id: str,
    tag: str,
    dedupe_key: str | None = None,
) -> bool:
    """Queue the score of an LTI attempt (inside the submission's transaction); False when the
    launch gave no score scope, or neither a line item nor a container the tool may add one to
    (the LMS keeps no grade for this link)."""
    scopes = launch.ags_scopes or []
    if SCORE_SCOPE not in scopes:
        return False
    lineitem: LineItemSpec | None = None
    if not launch.lineitem_url:
        if not (launch.lineitems_url and launch.resource_link_id and LINEITEM_SCOPE in scopes):
            return False
        lineitem = LineItemSpec(
            lineitems_url=launch.lineitems_url,
            resource_link_id=launch.resource_link_id,
            resource_id=resource_id,
            tag=tag,
            label=label,
            score_maximum=score_maximum,
        )
    score = score_document(
        user_id=launch.lti_user_id,
        score_given=score_given,
        score_maximum=score_maximum,
        timestamp=timestamp,
        comment=comment,
    )
    enqueue(
        session,
        AGS_SCORE,
        dedupe_key or f"ags:{attempt_id}",
        {
            "platform_id": launch.platform_id,
            "lineitem_url": launch.lineitem_url,
            "lineitem": lineitem.to_payload() if lineitem else None,
            "score": score,
        },
    )
    return True


def client_assertion(
    *, client_id: str, audience: str, private_pem: str, kid: str, lifetime_seconds: int = 300
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": kid})


def access_token(
    context: DeliveryContext, secret_key: str, platform_id: int, scopes: list[str]
) -> str:
    """An OAuth2 access token of the platform for `scopes` (client credentials grant with a
    signed client assertion); DeliveryError when the platform gives none."""
    with context.sessions() as session, session.begin():
        platform = session.get(LtiPlatform, platform_id)
        if platform is None:
            raise DeliveryError(
                f"LTI platform {platform_id} is no longer registered.", permanent=True
            )
        try:
            key = signing_key(session, secret_key)
        except ServiceUnavailable as exc:
            raise DeliveryError(exc.detail) from exc
        token_url, client_id = platform.auth_token_url, platform.client_id
        audience = platform.auth_audience or token_url
    assertion = client_assertion(
        client_id=client_id, audience=audience, private_pem=key.private_pem, kid=key.kid
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    }
    try:
        response = context.transport.request(
            "POST", token_url, headers={"Accept": "application/json"}, form=form
        )
    except TransportError as exc:
        raise DeliveryError(f"token request failed: {exc}") from exc
    if not response.ok:
        raise DeliveryError(f"token endpoint answered {response.status}: {response.snippet()}")
    try:
        return str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError("token endpoint answered without an access_token") from exc


@dataclass(frozen=True)
class ScorePassback:
    """The outbox handler for AGS_SCORE messages; signs its token requests with the tool's key,
    which is kept encrypted with `secret_key`."""

    secret_key: str = field(repr=False)

    def __call__(self, context: DeliveryContext, payload: dict[str, Any]) -> None:
        deliver_score(context, payload, secret_key=self.secret_key)


def deliver_score(context: DeliveryContext, payload: dict[str, Any], *, secret_key: str) -> None:
    """Post one score to its line item (found or created first when the launch named only the
    container); DeliveryError unless the platform accepts it (2xx)."""
    platform_id = int(payload["platform_id"])
    lineitem = payload.get("lineitem")
    scopes = [SCORE_SCOPE] + ([LINEITEM_SCOPE] if lineitem else [])
    token = access_token(context, secret_key, platform_id, scopes)
    lineitem_url = payload.get("lineitem_url")
    if lineitem:
        spec = LineItemSpec.from_payload(lineitem)
        lineitem_url = find_or_create(context.transport, token, spec)
        with context.sessions() as session, session.begin():
            remember_lineitem(session, platform_id, spec, lineitem_url)
    url = scores_url(str(lineitem_url))
    try:
        response = context.transport.request(
            "POST",
            url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE_MEDIA_TYPE},
            body=orjson.dumps(payload["score"]),
        )
    except TransportError as exc:
        raise DeliveryError(f"score post failed: {exc}") from exc
    if not response.ok:
        raise DeliveryError(f"score endpoint answered {response.status}: {response.snippet()}")
