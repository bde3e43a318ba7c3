"""Instantiation: a quiz as one attempt (seed) sees it, and the answer-free views of it.

A pure function of (quiz, seed): an attempt's start and its submission draw the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

from service.quizzes.domain.draws import SeededDraws
from service.quizzes.domain.misconceptions import Misconception, collision
from service.quizzes.domain.questions import (
    CHOICE_TYPES,
    Instances,
    InstantiatedQuestion,
    Question,
    QuestionGenerator,
    Quiz,
)
from service.quizzes.numbers import number_from_float

# A generated question redraws while its answer and misconceptions collide; the collision
# sweep (tests/quizzes/test_misconceptions.py) shows that the bank's questions never need
# this many.
MAX_COLLISION_REDRAWS = 100


def instantiate_question(
    question: Question, seed: int, shuffle_choices: bool = True
) -> InstantiatedQuestion:
    """Draw the numbers of a generated question and order choices for attempt `seed`."""
    choices = question.choices
    if shuffle_choices and len(choices) > 1:
        order = SeededDraws(seed, question.id, "shuffle").permutation(len(choices))
        choices = tuple(choices[i] for i in order)
    if question.generator is None:
        return InstantiatedQuestion(
            id=question.id,
            type=question.type,
            prompt=question.prompt,
            points=question.points,
            choices=choices,
            answer=question.answer,
            tolerance=question.tolerance,
            explanation=question.explanation,
            misconceptions=question.misconceptions,
        )
    generator = question.generator
    params, answer, misconceptions = _distinct_draw(question, generator, seed)
    worked = generator.explain(params)
    return InstantiatedQuestion(
        id=question.id,
        type=question.type,
        prompt=generator.render(params),
        points=question.points,
        choices=choices,
        answer=answer,
        tolerance=question.tolerance,
        explanation=f"{question.explanation} {worked}".strip(),
        params=params,
        misconceptions=misconceptions,
    )


def _exact(value: float) -> Fraction | None:
    """The shortest decimal of the float (what is shown), not its binary expansion; None when
    the value is not finite."""
    return number_from_float(float(value)) if math.isfinite(value) else None


def _distinct_draw(
    question: Question, generator: QuestionGenerator, seed: int
) -> tuple[Mapping[str, Any], Fraction, tuple[Misconception, ...]]:
    """Draw the question's parameters, drawing again from the same stream (so deterministically)
    while the answer and the question's misconceptions collide under its tolerance. A question
    without misconceptions keeps its first draw, as before misconceptions existed.

    Should every draw collide (an author's options narrowed the numbers too far), the last draw
    is served with only the misconceptions that stay apart, tried in bank order: a
    misconception may then go undiagnosed, but no feedback is ever wrong."""
    rng = SeededDraws(seed, question.id, "params")
    assert question.tolerance is not None
    half_width = question.tolerance.half_width
    for _ in range(MAX_COLLISION_REDRAWS):
        params = generator.draw(rng, question.generator_options)
        # The shortest decimal of the float (what is shown), not its binary expansion.
        answer = number_from_float(float(generator.answer(params)))
        if not question.misconceptions:
            return params, answer, ()
        computed = generator.misconception_answers(params)
        filled = [replace(m, value=_exact(computed[m.id])) for m in question.misconceptions]
        if collision(answer, [(m.id, m.value) for m in filled], half_width) is None:
            return params, answer, tuple(filled)
    kept: list[Misconception] = []
    for candidate in filled:
        trial = [*kept, candidate]
        if collision(answer, [(m.id, m.value) for m in trial], half_width) is None:
            kept.append(candidate)
    return params, answer, tuple(kept)


def instantiate(quiz: Quiz, seed: int) -> Instances:
    """Every question of `quiz` as attempt `seed` sees it (quiz order; choices maybe shuffled)."""
    shuffle = quiz.settings.shuffle_choices
    return tuple(instantiate_question(question, seed, shuffle) for question in quiz.questions)


def json_number(value: Fraction | int | float) -> int | float:
    """An int when whole (1 rather than 1.0), otherwise the nearest float."""
    fraction = Fraction(value)
    if fraction.denominator == 1:
        return int(fraction)
    return float(fraction)


def _public_question(question: Question | InstantiatedQuestion, prompt: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": question.id,
        "type": question.type,
        "prompt": prompt,
        "points": json_number(question.points),
    }
    if question.type in CHOICE_TYPES:
        view["choices"] = [{"id": choice.id, "text": choice.text} for choice in question.choices]
    return view


def public_view(quiz: Quiz, seed: int | None = None) -> dict[str, Any]:
    """Answer-free quiz dict: a preview (templates, authored order) when `seed` is None,
    otherwise what attempt `seed` shows (drawn numbers, shuffled choices)."""
    if seed is None:
        questions = [_public_question(q, q.prompt) for q in quiz.questions]
    else:
        questions = [_public_question(q, q.prompt) for q in instantiate(quiz, seed)]
    return {
        "slug": quiz.slug,
        "title": quiz.title,
        "lesson": quiz.lesson,
        "description": quiz.description,
        "questions": questions,
    }
