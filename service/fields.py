"""Strict marshmallow fields for JSON bodies: a number must be a JSON number and a boolean a
JSON boolean ("10" or true is not a depth). Query strings keep marshmallow's lenient fields."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class StrictFloat(ma.fields.Float):
    """A finite JSON number (int or float), never a string or boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictInteger(ma.fields.Integer):
    """A JSON integer, never a float, string or boolean."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """A JSON true or false, never 1, "yes" or "true"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
