"""Health payloads."""

from __future__ import annotations

import marshmallow as ma


class LiveSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "Always 'ok'"})


class ReadySchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "'ok' when ready"})
    database = ma.fields.String(required=True, metadata={"description": "Database backend"})
    revision = ma.fields.String(
        required=True, metadata={"description": "Migration revision the database is at"}
    )
