"""The platform side of LTI Dynamic Registration 1.0, written from the specification for the
tests (lti1p3platform has none), served by the test platform (platform.py):

- GET /.well-known/openid-configuration: the platform's OpenID configuration (§3.4), with the
  LTI platform configuration claim; `Lms.openid_changes` alters it for refusal tests;
- POST /register: the registration endpoint (§3.6). It checks the Bearer registration token and
  the MUSTs of the tool's request (client metadata and LTI tool configuration) and answers 400
  `invalid_client_metadata` naming the first one broken, else 201 with the client id and the
  deployment id the tool must store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def openid_configuration(lms: Any) -> dict[str, Any]:
    document = {
        "issuer": lms.issuer,
        "authorization_endpoint": lms.auth_url,
        "registration_endpoint": f"{lms.base_url}/register",
        "jwks_uri": lms.jwks_url,
        "token_endpoint": lms.token_url,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
        "response_types_supported": ["id_token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name"],
        "subject_types_supported": ["public", "pairwise"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "test-lms",
            "version": "1.0",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest", "placements": ["assignment_selection"]},
            ],
        },
    }
    document.update(lms.openid_changes)
    return {name: value for name, value in document.items() if value is not None}


def _problem_in(body: Any) -> str | None:
    """The first MUST of §3.6.1 the tool's registration request breaks, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    checks = [
        (body.get("application_type") == "web", "application_type must be web"),
        ("id_token" in (body.get("response_types") or []), "response_types needs id_token"),
        (
            {"implicit", "client_credentials"} <= set(body.get("grant_types") or []),
            "grant_types needs implicit and client_credentials",
        ),
        (bool(body.get("initiate_login_uri")), "initiate_login_uri is required"),
        (bool(body.get("redirect_uris")), "redirect_uris is required"),
        (bool(body.get("jwks_uri")), "jwks_uri is required"),
        (
            body.get("token_endpoint_auth_method") == "private_key_jwt",
            "token_endpoint_auth_method must be private_key_jwt",
        ),
        (isinstance(body.get(TOOL_CONFIGURATION), dict), "the LTI tool configuration is missing"),
    ]
    for passed, problem in checks:
        if not passed:
            return problem
    tool = body[TOOL_CONFIGURATION]
    domain = tool.get("domain")
    if not domain or "://" in domain:
        return "domain is required, without a scheme"
    for uri in [body["initiate_login_uri"], *body["redirect_uris"], tool.get("target_link_uri")]:
        if not uri or urlsplit(uri).netloc != domain:
            return f"{uri!r} is not on the tool's domain {domain!r}"
    types = [m.get("type") for m in tool.get("messages") or [] if isinstance(m, dict)]
    if "LtiResourceLinkRequest" not in types:
        return "messages must include LtiResourceLinkRequest"
    return None


def add_registration_routes(app: Flask, lms: Any) -> None:
    @app.get("/.well-known/openid-configuration")
    def openid() -> Any:
        return jsonify(openid_configuration(lms))

    @app.post("/register")
    def register() -> Any:
        if request.headers.get("Authorization") != f"Bearer {lms.registration_token}":
            return jsonify({"error": "invalid_token"}), 401
        body = request.get_json(silent=True)
        problem = _problem_in(body)
        if problem is not None:
            return jsonify({"error": "invalid_client_metadata", "error_description": problem}), 400
        lms.registrations.append(body)
        client_id = f"dynamic-client-{len(lms.registrations)}"
        tool = {**body[TOOL_CONFIGURATION], "deployment_id": "dynamic-deployment-1"}
        return jsonify({**body, "client_id": client_id, TOOL_CONFIGURATION: tool}), 201
