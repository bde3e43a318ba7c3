"""Page/per_page query arguments, the paginated envelope {items, total, page, per_page}, and
`paginate`, the one count-then-page query every listing runs.

flask-smorest's own `@blp.paginate` does not fit this API's contract: it reads `page_size`, fixes
the maximum when the view is decorated (MAX_PAGE_SIZE is a setting) and puts the totals in an
X-Pagination header instead of the body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple

import marshmallow as ma
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
U = TypeVar("U")
Ts = TypeVarTuple("Ts")
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

    def map(self, function: Callable[[T], U]) -> Page[U]:
        """The same page with each item passed through `function`."""
        return Page([function(item) for item in self.items], self.total, self.page, self.per_page)


def paginate(
    session: Session, query: Select[*Ts], page: PageRequest | None, *, rows: bool = False
) -> Page[Any]:
    """Count what `query` selects, then read one page of it (every row when `page` is None),
    inside the caller's transaction: two statements. Items are the first column of each row
    (an ORM entity, say), or whole rows with `rows=True`. `query` must be ordered."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if page is not None:
        query = query.offset(page.offset).limit(page.per_page)
    result = session.execute(query)
    items: Sequence[Any] = result.all() if rows else result.scalars().all()
    if page is None:
        return Page(items, total, 1, max(total, 1))
    return Page(items, total, page.page, page.per_page)


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
