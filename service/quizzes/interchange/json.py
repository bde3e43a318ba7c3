"""JSON: the bank definition (see `bank_schema`); lossless: import(export(quiz)) == quiz."""

from __future__ import annotations

import json

from service.quizzes import domain
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.interchange.common import InterchangeError, check_size


def export_json(quiz: domain.Quiz) -> str:
    return json.dumps(dump_quiz(quiz), ensure_ascii=False, indent=2)


def import_json(text: str, *, slug: str | None = None, title: str | None = None) -> domain.Quiz:
    """Read a bank definition; `slug` and `title` replace the file's own."""
    check_size(text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError: malformed, or an integer past Python's digit limit; RecursionError:
        # nesting deeper than the parser's stack.
        raise InterchangeError(f"not valid JSON: {str(error)[:200]}") from error
    if not isinstance(data, dict):
        raise InterchangeError("expected one quiz (a JSON object)")
    quiz = load_quiz(data)
    if slug is not None or title is not None:
        data = dump_quiz(quiz)
        data.update({k: v for k, v in (("slug", slug), ("title", title)) if v is not None})
        quiz = load_quiz(data)
    return quiz
