"""Page/per_page query arguments and the paginated envelope {items, total, page, per_page}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import marshmallow as ma

T = TypeVar("T")
DEFAULT_PER_PAGE = 20


class PageArgsSchema(ma.Schema):
    page = ma.fields.Integer(
        load_default=1, validate=ma.validate.Range(min=1, max=1_000_000), metadata={"example": 1}
    )
    per_page = ma.fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=ma.validate.Range(min=1),
        metadata={"description": "Items per page (at most MAX_PAGE_SIZE, default 100)"},
    )


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int


def page_request(args: dict[str, int], max_page_size: int) -> PageRequest:
    """Validated page arguments; per_page above the cap is a 422 naming the cap."""
    per_page = args.get("per_page", DEFAULT_PER_PAGE)
    if per_page > max_page_size:
        raise ma.ValidationError(
            {"per_page": [f"Must be at most {max_page_size} (MAX_PAGE_SIZE)."]}
        )
    return PageRequest(page=args.get("page", 1), per_page=per_page)


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A paginated envelope schema around `item_schema`."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "total": ma.fields.Integer(required=True),
            "page": ma.fields.Integer(required=True),
            "per_page": ma.fields.Integer(required=True),
        },
        name=name,
    )
