"""Outbox admin payloads: the message list and its filters, one message, a delivery report."""

from __future__ import annotations

import marshmallow as ma

from service.outbox.models import OUTBOX_STATUSES
from service.pagination import PageArgsSchema, page_schema


class OutboxArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(OUTBOX_STATUSES))
    kind = ma.fields.String(validate=ma.validate.Length(1, 32))


class OutboxMessageSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"example": "lti.ags_score"})
    status = ma.fields.String(required=True, metadata={"enum": list(OUTBOX_STATUSES)})
    attempts = ma.fields.Integer(required=True, metadata={"description": "Failed deliveries"})
    next_attempt_at = ma.fields.AwareDateTime(required=True)
    last_error = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    delivered_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    payload = ma.fields.Dict(required=True)


OutboxListSchema = page_schema(OutboxMessageSchema, "OutboxMessageList")


class DeliveryReportSchema(ma.Schema):
    delivered = ma.fields.Integer(required=True)
    retrying = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    ids = ma.fields.List(ma.fields.Integer(), required=True)
