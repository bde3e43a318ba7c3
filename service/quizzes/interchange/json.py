"""JSON: the bank definition (see `bank_schema`); lossless: import(export(quiz)) == quiz."""

from __future__ import annotations

import json
import math

from service.quizzes import domain
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.interchange.common import InterchangeError, check_size


def export_json(quiz: domain.Quiz) -> str:
    return json.dumps(dump_quiz(quiz), ensure_ascii=False, indent=2)


def import_json(text: str, *, slug: str | None = None, title: str | None = None) -> domain.Quiz:
    """Read a bank definition; `slug` and `title` replace the file's own."""
    check_size(text)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as error:
        # ValueError: malformed, NaN/Infinity or a float past the double range (1e5000), or an
        # integer past Python's digit limit; RecursionError: nesting deeper than the parser's
        # stack.
        raise InterchangeError(f"not valid JSON: {str(error)[:200]}") from error
    if not isinstance(data, dict):
        raise InterchangeError("expected one quiz (a JSON object)")
    where = _lone_surrogate(data, "")
    if where is not None:
        raise InterchangeError(
            f"{where} holds a lone surrogate (an unpaired \\ud800-\\udfff "
            "escape), which is not Unicode text"
        )
    quiz = load_quiz(data)
    if slug is not None or title is not None:
        data = dump_quiz(quiz)
        data.update({k: v for k, v in (("slug", slug), ("title", title)) if v is not None})
        quiz = load_quiz(data)
    return quiz


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent: finite (1e5000 would read as infinity)."""
    if len(text) > 200:
        raise ValueError(f"the number {text[:20]}... is longer than 200 characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is beyond the double range")
    return value


def _lone_surrogate(value: object, path: str) -> str | None:
    """The path (questions[2].prompt) of the first string holding an unpaired surrogate (the
    one thing UTF-8 cannot encode); None when there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "the document"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if _lone_surrogate(key, path) is not None:
                return f"a key of {path or 'the document'}"
            where = _lone_surrogate(item, inner)
            if where is not None:
                return where
    if isinstance(value, list):
        for index, item in enumerate(value):
            where = _lone_surrogate(item, f"{path}[{index}]")
            if where is not None:
                return where
    return None
