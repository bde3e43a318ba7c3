"""A link's line item when the launch names only the container (AGS 2.0 §3.2, `lineitems`).

Contract: GET the container filtered by `resource_link_id` and `tag` (following `Link: <…>;
rel="next"` pages, at most MAX_PAGES), take the first item whose `resourceLinkId` and `tag` are
this link's (a platform may ignore the filters), else POST a new line item for the link; its
URL (`id`) is where scores go. Needs the `lineitem` scope. Two first scores of one link
delivered at the same moment could each create one (the platform has no uniqueness to lean on);
the URL found is written back to the link's launch contexts, so later scores skip the search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
from requests.utils import parse_header_links
from sqlalchemy import update
from sqlalchemy.orm import Session

from service.lti.models import LtiLaunchContext
from service.outbox.queue import DeliveryError
from service.outbox.transport import HttpResponse, Transport, TransportError

LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
CONTAINER_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
MAX_PAGES = 50


@dataclass(frozen=True)
class LineItemSpec:
    """The line item a resource link's scores go to, as the tool would create it."""

    lineitems_url: str
    resource_link_id: str
    resource_id: str
    tag: str
    label: str
    score_maximum: float

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LineItemSpec:
        return cls(**payload)

    def matches(self, item: Any) -> bool:
        return (
            isinstance(item, dict)
            and item.get("resourceLinkId") == self.resource_link_id
            and item.get("tag") == self.tag
            and isinstance(item.get("id"), str)
        )


def linked(response: HttpResponse, rel: str = "next") -> str | None:
    """The URL a response's Link header (RFC 8288) gives for `rel`, if any."""
    for name, value in response.headers.items():
        if name.lower() == "link":
            for link in parse_header_links(value):
                if rel in str(link.get("rel", "")).split():
                    return str(link["url"])
    return None


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def call(transport: Transport, method: str, url: str, *, what: str, **kwargs: Any) -> HttpResponse:
    """One request to a platform service; DeliveryError naming `what` unless it answers 2xx."""
    try:
        response = transport.request(method, url, **kwargs)
    except TransportError as exc:
        raise DeliveryError(f"{what} {method} failed: {exc}") from exc
    if not response.ok:
        raise DeliveryError(
            f"{what} answered {method} with {response.status}: {response.snippet()}"
        )
    return response


def _container_pages(transport: Transport, token: str, url: str) -> Iterator[list[Any]]:
    headers = {"Authorization": f"Bearer {token}", "Accept": CONTAINER_MEDIA_TYPE}
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        response = call(transport, "GET", next_url, what="line items endpoint", headers=headers)
        try:
            items = response.json()
        except ValueError as exc:
            raise DeliveryError("the line items container is not JSON") from exc
        yield items if isinstance(items, list) else []
        next_url = linked(response)


def find_or_create(transport: Transport, token: str, spec: LineItemSpec) -> str:
    """The URL of the link's line item: found in the container, else created there."""
    search = _with_query(
        spec.lineitems_url, {"resource_link_id": spec.resource_link_id, "tag": spec.tag}
    )
    for items in _container_pages(transport, token, search):
        for item in items:
            if spec.matches(item):
                return str(item["id"])
    created = call(
        transport,
        "POST",
        spec.lineitems_url,
        what="line items endpoint",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": LINEITEM_MEDIA_TYPE,
            "Accept": LINEITEM_MEDIA_TYPE,
        },
        body=orjson.dumps(
            {
                "scoreMaximum": spec.score_maximum,
                "label": spec.label,
                "resourceId": spec.resource_id,
                "tag": spec.tag,
                "resourceLinkId": spec.resource_link_id,
            }
        ),
    )
    try:
        return str(created.json()["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError("the platform created a line item without an id") from exc


def remember_lineitem(session: Session, platform_id: int, spec: LineItemSpec, url: str) -> None:
    """Give the link's launch contexts that had no line item the one found (caller's
    transaction)."""
    session.execute(
        update(LtiLaunchContext)
        .where(
            LtiLaunchContext.platform_id == platform_id,
            LtiLaunchContext.resource_link_id == spec.resource_link_id,
            LtiLaunchContext.lineitems_url == spec.lineitems_url,
            LtiLaunchContext.lineitem_url.is_(None),
        )
        .values(lineitem_url=url)
    )
