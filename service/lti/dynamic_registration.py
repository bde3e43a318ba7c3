"""The tool's side of 1EdTech LTI Dynamic Registration 1.0.

An LMS administrator gives the platform the tool's initiation URL (GET /lti/register); the
platform opens it with `openid_configuration` (its OpenID configuration URL) and, usually,
`registration_token`. The tool then:
1. refuses unless the issuer is listed in LTI_REGISTRATION_ISSUERS (empty: the feature is off);
2. GETs the configuration and checks it (§3.5): `issuer` is listed and the configuration URL
   starts with it, `authorization_endpoint`, `token_endpoint`, `jwks_uri` and
   `registration_endpoint` are present URLs, `private_key_jwt` and RS256 are supported when
   the lists are given, and the LTI platform configuration accepts resource-link launches;
3. POSTs its registration (§3.6: OpenID client metadata with the LTI tool configuration, only
   the messages the platform supports) to `registration_endpoint`, the token as a Bearer;
4. stores the platform with the client id and deployment id the platform answers, in one
   transaction (registry.add_platform), and the route closes the platform's dialog with
   `postMessage({subject: 'org.imsglobal.lti.close'}, '*')` (§3.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session

from service.errors import BadRequest, Forbidden, ServiceError
from service.lti.registry import PlatformSpec, PlatformView, add_platform

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
RESOURCE_LINK, DEEP_LINKING = "LtiResourceLinkRequest", "LtiDeepLinkingRequest"
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


class RegistrationRefused(BadRequest):
    slug = "lti-registration-refused"


class RegistrationNotAllowed(Forbidden):
    slug = "lti-registration-not-allowed"


class PlatformUnreachable(ServiceError):
    status = HTTPStatus.BAD_GATEWAY
    slug = "lti-platform-unreachable"


@dataclass(frozen=True)
class PlatformConfiguration:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product: str
    messages: frozenset[str]


def _is_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return bool(parts and parts.scheme in ("http", "https") and parts.netloc)


def _get_json(http: requests.Session, url: str) -> Any:
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise PlatformUnreachable(f"The platform's configuration could not be read: {exc}") from exc
    if not response.ok:
        raise PlatformUnreachable(
            f"The platform's configuration URL answered {response.status_code}."
        )
    try:
        return response.json()
    except ValueError as exc:
        raise RegistrationRefused("The platform's configuration is not JSON.") from exc


def check_allowed(configuration_url: str, allowed_issuers: tuple[str, ...]) -> None:
    """RegistrationNotAllowed unless the URL lies under an allowed issuer (before any fetch)."""
    if not allowed_issuers:
        raise RegistrationNotAllowed(
            "Dynamic registration is off: an administrator lists the LMS issuers allowed to "
            "register in LTI_REGISTRATION_ISSUERS."
        )
    if not _is_url(configuration_url):
        raise RegistrationRefused("openid_configuration must be the platform's http(s) URL.")
    if not any(_under(configuration_url, issuer) for issuer in allowed_issuers):
        raise RegistrationNotAllowed(
            "This LMS is not allowed to register the tool: its issuer is not listed in "
            "LTI_REGISTRATION_ISSUERS."
        )


def _under(url: str, issuer: str) -> bool:
    """Whether `url` starts with the issuer (same origin, issuer path a prefix at a `/`)."""
    base = issuer.rstrip("/")
    return url == base or url.startswith(base + "/")


def fetch_configuration(
    http: requests.Session, configuration_url: str, allowed_issuers: tuple[str, ...]
) -> PlatformConfiguration:
    """The platform's OpenID configuration, checked as the module docstring says."""
    check_allowed(configuration_url, allowed_issuers)
    document = _get_json(http, configuration_url)
    if not isinstance(document, dict):
        raise RegistrationRefused("The platform's configuration is not a JSON object.")
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not _under(configuration_url, issuer):
        raise RegistrationRefused(
            f"The configuration's issuer {issuer!r} does not match the URL it came from."
        )
    if issuer.rstrip("/") not in {allowed.rstrip("/") for allowed in allowed_issuers}:
        raise RegistrationNotAllowed(
            f"Issuer {issuer!r} is not listed in LTI_REGISTRATION_ISSUERS."
        )
    missing = [name for name in ENDPOINTS if not _is_url(document.get(name))]
    if missing:
        raise RegistrationRefused(f"The platform's configuration lacks {', '.join(missing)}.")
    for name, needed in (
        ("token_endpoint_auth_methods_supported", "private_key_jwt"),
        ("id_token_signing_alg_values_supported", "RS256"),
    ):
        offered = document.get(name)
        if isinstance(offered, list) and needed not in offered:
            raise RegistrationRefused(f"The platform does not support {needed} ({name}).")
    lti = document.get(PLATFORM_CONFIGURATION)
    if not isinstance(lti, dict):
        raise RegistrationRefused("The configuration has no LTI platform configuration.")
    listed = lti.get("messages_supported")
    messages = frozenset(
        str(m.get("type")) for m in listed or [] if isinstance(m, dict) and m.get("type")
    )
    if listed is not None and RESOURCE_LINK not in messages:
        raise RegistrationRefused("The platform does not support resource-link launches.")
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        registration_endpoint=document["registration_endpoint"],
        product=str(lti.get("product_family_code") or "LMS")[:100],
        messages=messages or frozenset({RESOURCE_LINK}),
    )


def registration_request(
    base_url: str, tool_name: str, platform: PlatformConfiguration
) -> dict[str, Any]:
    """The tool's client metadata (§3.6.1), with the messages the platform supports."""
    login, launch, jwks = f"{base_url}/lti/login", f"{base_url}/lti/launch", f"{base_url}/lti/jwks"
    messages: list[dict[str, Any]] = [{"type": RESOURCE_LINK, "target_link_uri": launch}]
    if DEEP_LINKING in platform.messages:
        messages.append(
            {
                "type": DEEP_LINKING,
                "target_link_uri": launch,
                "label": f"Add a {tool_name} quiz",
                "placements": ["assignment_selection", "link_selection"],
            }
        )
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": login,
        "redirect_uris": [launch],
        "client_name": tool_name,
        "jwks_uri": jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base_url).netloc,
            "target_link_uri": launch,
            "description": "Quizzes on why deep networks need normalization and careful "
            "initialization, graded into the LMS gradebook.",
            "claims": ["iss", "sub", "name", "given_name", "family_name"],
            "messages": messages,
        },
    }


def _post_registration(
    http: requests.Session, platform: PlatformConfiguration, body: dict[str, Any], token: str
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = http.post(platform.registration_endpoint, json=body, headers=headers)
    except requests.RequestException as exc:
        raise PlatformUnreachable(f"The platform's registration endpoint failed: {exc}") from exc
    if not response.ok:
        raise PlatformUnreachable(
            f"The platform refused the registration ({response.status_code}): {response.text[:300]}"
        )
    try:
        answer = response.json()
    except ValueError as exc:
        raise RegistrationRefused("The platform's registration answer is not JSON.") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("client_id"), str):
        raise RegistrationRefused("The platform's registration answer has no client_id.")
    return answer


def register(
    session: Session,
    http: requests.Session,
    *,
    configuration_url: str,
    registration_token: str,
    base_url: str,
    tool_name: str,
    allowed_issuers: tuple[str, ...],
) -> PlatformView:
    """Steps 1–4 of the module docstring; the stored platform."""
    platform = fetch_configuration(http, configuration_url, allowed_issuers)
    answer = _post_registration(
        http, platform, registration_request(base_url, tool_name, platform), registration_token
    )
    tool_configuration = answer.get(TOOL_CONFIGURATION) or {}
    deployment = (
        tool_configuration.get("deployment_id") if isinstance(tool_configuration, dict) else None
    )
    return add_platform(
        session,
        PlatformSpec(
            name=f"{platform.product} ({urlsplit(platform.issuer).netloc})"[:100],
            issuer=platform.issuer,
            client_id=answer["client_id"],
            auth_login_url=platform.authorization_endpoint,
            auth_token_url=platform.token_endpoint,
            key_set_url=platform.jwks_uri,
            deployment_ids=[str(deployment)] if deployment else [],
        ),
    )
