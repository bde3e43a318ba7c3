"""What a simulation may spend: memory, work and wall-clock time.

A simulation's cost is estimated from its spec alone, before any array is allocated, in two
independent measures (so that neither a thin-and-deep nor a wide-and-shallow request slips under
a single product such as width² · depth · batch):

    memory_bytes   bytes of the arrays alive at the peak (float64 and intp: 8 bytes a value)
    work           element operations: one multiply-add is 1, one elementwise pass over a value
                   or one drawn random number counts as its measured cost in multiply-adds

`Budget.check` refuses a cost above either limit with CostLimitExceeded naming the limit (its
`limit_name` is the setting an operator changes). A `Deadline` is checked as the work proceeds
(between layers) and raises DeadlineExceeded once its wall-clock budget is spent: the estimate
bounds what a request asks for, the deadline what a loaded machine lets it take.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from service.numerics.errors import CostLimitExceeded, DeadlineExceeded

BYTES_PER_VALUE: Final = 8
DEFAULT_MAX_MEMORY_BYTES: Final = 512 * 2**20
DEFAULT_MAX_WORK: Final = 2e10


@dataclass(frozen=True)
class SimulationCost:
    """A simulation's estimated peak memory (bytes) and work (multiply-add equivalents)."""

    memory_bytes: int
    work: int


@dataclass(frozen=True)
class Budget:
    """Limits on memory and work; the names are what a refusal reports as `limit.name`."""

    max_memory_bytes: float = DEFAULT_MAX_MEMORY_BYTES
    max_work: float = DEFAULT_MAX_WORK
    memory_limit_name: str = "max_memory_bytes"
    work_limit_name: str = "max_work"

    def check(
        self,
        cost: SimulationCost,
        *,
        what: str,
        advice: str,
        work_field: str | None = None,
        memory_field: str | None = None,
    ) -> None:
        """CostLimitExceeded when `cost` is above a limit; above both, the one it exceeds
        by the larger factor (the change that helps most). `what` names the computation
        ("this Monte Carlo run"), `advice` says how to make it cheaper."""
        work_ratio = cost.work / self.max_work if self.max_work > 0 else math.inf
        memory_ratio = (
            cost.memory_bytes / self.max_memory_bytes if self.max_memory_bytes > 0 else math.inf
        )
        if max(work_ratio, memory_ratio) <= 1:
            return
        if work_ratio >= memory_ratio:
            raise CostLimitExceeded(
                f"{what} costs about {cost.work:,} operations, above the limit of "
                f"{self.max_work:,.0f} ({self.work_limit_name}); {advice}",
                field=work_field,
                limit_name=self.work_limit_name,
                limit=self.max_work,
                cost=cost.work,
            )
        raise CostLimitExceeded(
            f"{what} needs about {_mebibytes(cost.memory_bytes)} of memory, above the limit "
            f"of {_mebibytes(self.max_memory_bytes)} ({self.memory_limit_name}, "
            f"{self.max_memory_bytes:,.0f} bytes); {advice}",
            field=memory_field,
            limit_name=self.memory_limit_name,
            limit=self.max_memory_bytes,
            cost=cost.memory_bytes,
        )


def _mebibytes(count: float) -> str:
    return f"{count / 2**20:,.1f} MiB" if count < 2**40 else f"{count / 2**30:,.0f} GiB"


class Deadline:
    """A wall-clock budget started at construction; `check()` raises DeadlineExceeded once
    `seconds` have passed (None or inf: never). `clock` is injectable for tests."""

    __slots__ = ("_clock", "_ends", "limit_name", "seconds")

    def __init__(
        self,
        seconds: float | None,
        *,
        limit_name: str = "deadline_seconds",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = math.inf if seconds is None or seconds <= 0 else float(seconds)
        self.limit_name = limit_name
        self._clock = clock
        self._ends = clock() + self.seconds

    def check(self) -> None:
        if self._clock() > self._ends:
            raise DeadlineExceeded(
                f"the simulation ran longer than its budget of {self.seconds:g} s "
                f"({self.limit_name}) and was stopped; ask for a smaller one or retry when the "
                "service is less busy",
                limit_name=self.limit_name,
                seconds=self.seconds,
            )


NO_DEADLINE: Final = Deadline(None)
DEFAULT_BUDGET: Final = Budget()
