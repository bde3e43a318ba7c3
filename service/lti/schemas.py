"""LTI admin and tool payloads: platform registrations, the JWKS and the tool's registration
document."""

from __future__ import annotations

import marshmallow as ma

from service.pagination import page_schema

_URL = ma.validate.URL(schemes={"http", "https"}, require_tld=False)


class PlatformCreateSchema(ma.Schema):
    name = ma.fields.String(
        required=True, validate=ma.validate.Length(1, 100), metadata={"example": "Moodle"}
    )
    issuer = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 255),
        metadata={"description": "The platform's `iss`", "example": "https://lms.example.edu"},
    )
    client_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 255),
        metadata={"description": "The client id the platform gave this tool"},
    )
    auth_login_url = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(max=1000), _URL],
        metadata={"description": "The platform's OIDC authorization endpoint"},
    )
    auth_token_url = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(max=1000), _URL],
        metadata={"description": "The platform's OAuth2 token endpoint (grade passback)"},
    )
    auth_audience = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, 1000),
        metadata={"description": "Audience of the client assertion (default: the token URL)"},
    )
    key_set_url = ma.fields.String(
        load_default=None,
        validate=[ma.validate.Length(max=1000), _URL],
        metadata={"description": "The platform's JWKS URL (give this or key_set)"},
    )
    key_set = ma.fields.Dict(
        load_default=None, metadata={"description": "The platform's JWKS itself"}
    )
    deployment_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 255)),
        load_default=list,
        validate=ma.validate.Length(max=100),
    )


class PlatformSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    issuer = ma.fields.String(required=True)
    client_id = ma.fields.String(required=True)
    auth_login_url = ma.fields.String(required=True)
    auth_token_url = ma.fields.String(required=True)
    auth_audience = ma.fields.String(allow_none=True, required=True)
    key_set_url = ma.fields.String(allow_none=True, required=True)
    has_key_set = ma.fields.Boolean(required=True)
    deployment_ids = ma.fields.List(ma.fields.String(), required=True)
    created_at = ma.fields.AwareDateTime(required=True)


PlatformListSchema = page_schema(PlatformSchema, "LtiPlatformList")


class DeploymentCreateSchema(ma.Schema):
    deployment_id = ma.fields.String(required=True, validate=ma.validate.Length(1, 255))


class JwksSchema(ma.Schema):
    keys = ma.fields.List(
        ma.fields.Dict(), required=True, metadata={"description": "Public RSA keys (JWK)"}
    )


class ToolConfigurationSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    client_name = ma.fields.String(required=True)
    initiate_login_uri = ma.fields.String(required=True)
    redirect_uris = ma.fields.List(ma.fields.String(), required=True)
    jwks_uri = ma.fields.String(required=True)
    scope = ma.fields.String(required=True)
    lti_tool_configuration = ma.fields.Dict(
        required=True, data_key="https://purl.imsglobal.org/spec/lti-tool-configuration"
    )
    admin_values = ma.fields.Dict(
        required=True,
        metadata={"description": "The values an LMS administrator enters by hand"},
    )
