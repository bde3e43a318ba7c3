"""Interleaved repetitions and the ratios reported from them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Timed = Callable[[], float]  # runs once, returns the seconds it measured


def timed(function: Callable[[], object]) -> Timed:
    """Wrap a callable so that it returns its own wall time."""

    def run() -> float:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    return run


def interleave(
    subjects: Mapping[str, Timed], *, repeats: int, budget_s: float, warmup: int = 1
) -> dict[str, list[float]]:
    """Run subjects round-robin (order rotated each round) `repeats` times or until `budget_s`
    has passed after at least 3 rounds; returns each subject's samples in seconds."""
    names = list(subjects)
    for _ in range(warmup):
        for name in names:
            subjects[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + budget_s
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(subjects[name]())
        if round_index >= 2 and time.monotonic() > deadline:
            break
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> float:
    """Interquartile range over the median: the noise of a sample, as a fraction."""
    if len(values) < 4:
        return (max(values) - min(values)) / median(values) if median(values) else 0.0
    quartiles = statistics.quantiles(values, n=4)
    middle = median(values)
    return (quartiles[2] - quartiles[0]) / middle if middle else 0.0


@dataclass
class Ratio:
    """subject / baseline (times: lower is better; rates: higher is better) against a goal."""

    scenario: str
    name: str
    subject: str
    baseline: str
    subject_value: float
    baseline_value: float
    goal: float
    higher_is_better: bool = False
    unit: str = "ms"
    noise: float = 0.0
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    information: bool = False  # an old baseline kept beside a goal row: no goal of its own

    @property
    def ratio(self) -> float:
        return self.subject_value / self.baseline_value if self.baseline_value else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    @property
    def goal_text(self) -> str:
        if self.information:
            return f"none (was {'>=' if self.higher_is_better else '<='} {self.goal:g})"
        return f"{'>=' if self.higher_is_better else '<='} {self.goal:g}"


def pair_ratio(subject: list[float], baseline: list[float]) -> tuple[float, float]:
    """(ratio of medians, noise) where noise is the IQR/median of the per-round ratios."""
    per_round = [s / b for s, b in zip(subject, baseline, strict=False) if b > 0]
    return median(subject) / median(baseline), spread(per_round) if per_round else 0.0
