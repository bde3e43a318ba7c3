"""Misconceptions: the predictable mistakes behind wrong answers, and when two answers collide.

A misconception has a stable `id`, the learner-facing `feedback`, and the wrong answer it gives:

- static numeric question: `value`, the number the mistake produces;
- choice question: `choice`, the id of the distractor it explains;
- generated question: neither; the generator computes the value from the drawn parameters
  (`QuestionGenerator.misconception_answers`), beside the correct answer.

Collision. A numeric answer `a` accepts every given g with |g − a| ≤ h(a), h being the question's
tolerance half-width. Two expected values a and b *collide* when their accepted intervals
overlap, |a − b| ≤ h(a) + h(b): some answer would then be read as both, and the feedback would
guess. The correct answer and every misconception, and every two misconceptions, must not
collide; a value that is not finite (the mistake is undefined for these numbers) counts as a
collision too. Choice misconceptions collide when two name the same distractor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Misconception:
    """One mistake: `id`, `feedback` and its answer (`value` or `choice`; see the module)."""

    id: str
    feedback: str
    value: Fraction | None = None
    choice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What a graded result row shows: the id and the feedback, never the value."""
        return {"id": self.id, "feedback": self.feedback}


HalfWidth = Callable[[Fraction], Fraction]


def collision(
    answer: Fraction, wrong: Sequence[tuple[str, Fraction | None]], half_width: HalfWidth
) -> str | None:
    """The first collision among the correct `answer` and the `(id, value)` misconceptions, as
    a sentence naming them; None when every two are told apart (see the module docstring).
    A value of None (undefined for these numbers) is a collision."""
    # (name, value, half-width): each width computed once (sig_figs widths cost a logarithm).
    named: list[tuple[str, Fraction, Fraction]] = [
        ("the correct answer", answer, half_width(answer))
    ]
    for identifier, value in wrong:
        if value is None:
            return f"misconception {identifier!r} is undefined for these numbers"
        width = half_width(value)
        for other, known, known_width in named:
            if abs(value - known) <= width + known_width:
                return (
                    f"misconception {identifier!r} ({float(value):.6g}) coincides with "
                    f"{other if other.startswith('the ') else repr(other)} "
                    f"({float(known):.6g}) within the tolerance"
                )
        named.append((identifier, value, width))
    return None


def choice_collision(misconceptions: Sequence[Misconception]) -> str | None:
    """Two misconceptions that explain the same distractor, as a sentence; None otherwise."""
    seen: dict[str, str] = {}
    for misconception in misconceptions:
        choice = misconception.choice
        if choice is None:
            continue
        if choice in seen:
            return (
                f"misconceptions {seen[choice]!r} and {misconception.id!r} both explain "
                f"choice {choice!r}"
            )
        seen[choice] = misconception.id
    return None


def numeric_match(
    misconceptions: Sequence[Misconception], given: Fraction, half_width: HalfWidth
) -> Misconception | None:
    """The first misconception (bank order) whose value accepts `given` under the tolerance."""
    for misconception in misconceptions:
        value = misconception.value
        if value is not None and abs(given - value) <= half_width(value):
            return misconception
    return None


def choice_match(
    misconceptions: Sequence[Misconception], picked: Sequence[str]
) -> Misconception | None:
    """The first misconception (bank order) whose distractor is among the `picked` choices."""
    for misconception in misconceptions:
        if misconception.choice is not None and misconception.choice in picked:
            return misconception
    return None
