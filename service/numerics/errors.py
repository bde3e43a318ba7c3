"""Errors raised by the numerics: ValueError subclasses that name the offending parameter.

The service layer maps every NumericsError to a 422 problem; `field` becomes the
`errors` member's key so a client can tell which input to fix.
"""

from __future__ import annotations


class NumericsError(ValueError):
    """A bad argument: `field` names the parameter, the message says why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CostLimitExceeded(NumericsError):
    """The requested computation is more expensive than `limit` (named by `limit_name`)."""

    def __init__(
        self, message: str, *, field: str | None, limit_name: str, limit: float, cost: float
    ) -> None:
        super().__init__(message, field)
        self.limit_name = limit_name
        self.limit = limit
        self.cost = cost

    def renamed(self, limit_name: str) -> CostLimitExceeded:
        """The same refusal naming the setting behind the limit (`max_elements` ->
        `MAX_ARRAY_ELEMENTS`), in the message too."""
        message = str(self).replace(self.limit_name, limit_name)
        return CostLimitExceeded(
            message, field=self.field, limit_name=limit_name, limit=self.limit, cost=self.cost
        )


class NonFiniteResult(NumericsError):
    """The computation would produce NaN or infinity (for example eps = 0 on a constant group)."""


class DeadlineExceeded(Exception):
    """The computation outran its wall-clock budget (`seconds`, the setting `limit_name`).

    Not a NumericsError: the request was acceptable, the machine too slow for it right now."""

    def __init__(self, message: str, *, limit_name: str, seconds: float) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.seconds = seconds
