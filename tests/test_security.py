"""The Content-Security-Policy of the API docs (/docs): scripts only from the service itself
and the one inline start-up script Swagger UI's page carries (by its hash), nothing framed,
nothing fetched from elsewhere."""

from __future__ import annotations

import base64
import hashlib
import re

from flask.testing import FlaskClient


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_the_docs_page_has_a_policy_that_admits_only_its_own_scripts(
    client: FlaskClient,
) -> None:
    response = client.get("/docs/")
    assert response.status_code == 200
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    inline = re.findall(r"<script>(.*?)</script>", response.get_data(as_text=True), re.DOTALL)
    assert inline  # Swagger UI starts from an inline script: it is admitted by its hash only
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_docs_page_writes_no_url_from_the_host_header(client: FlaskClient) -> None:
    """Swagger UI's OAuth2 redirect URL was built from the request: no longer."""
    body = client.get("/docs/", headers={"Host": "attacker.example"}).get_data(as_text=True)
    assert "attacker.example" not in body
    assert "validator.swagger.io" not in body


def test_the_docs_assets_carry_the_policy_too(client: FlaskClient) -> None:
    response = client.get("/docs/swagger-ui.css")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_docs_redirect_is_relative_whatever_the_host(client: FlaskClient) -> None:
    """/docs -> /docs/ without writing the request's Host header into the Location."""
    response = client.get("/docs", headers={"Host": "attacker.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == "/docs/"
