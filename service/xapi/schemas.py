"""xAPI statement query arguments and the statement list."""

from __future__ import annotations

import marshmallow as ma

from service.pagination import PageArgsSchema


class StatementArgsSchema(PageArgsSchema):
    learner = ma.fields.UUID(metadata={"description": "Only this learner's statements"})
    since = ma.fields.AwareDateTime(
        metadata={"description": "Only statements with a timestamp after this instant"}
    )
    until = ma.fields.AwareDateTime(
        metadata={"description": "Only statements with a timestamp at or before this instant"}
    )
    verb = ma.fields.String(
        validate=ma.validate.Length(1, 255),
        metadata={"example": "http://adlnet.gov/expapi/verbs/passed"},
    )


class StatementListSchema(ma.Schema):
    items = ma.fields.List(
        ma.fields.Dict(),
        required=True,
        metadata={"description": "xAPI 1.0.3 statements, oldest first"},
    )
    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
