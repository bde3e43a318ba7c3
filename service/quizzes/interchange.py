"""Export quizzes to JSON, GIFT and Moodle XML, and import them back.

- json: the bank definition (see `bank_schema`); lossless: import(export(quiz)) == quiz.
- gift: Moodle's GIFT text. Carries question id (as the title), prompt, type, choices and which are
  right, numeric answer with an absolute tolerance, and the explanation (general feedback).
  Not carried: points (Moodle uses 1), quiz title, lesson, description and settings, choice ids
  (re-assigned a, b, c... on import), the tolerance kind (relative and significant-figure
  tolerances are exported as the equivalent absolute ± around the answer).
- moodle-xml: Moodle XML. Carries all GIFT carries plus points (defaultgrade), quiz title (category
  path), slug (category idnumber), description (category info) and choice shuffling.

Generated questions cannot travel as generators: GIFT and Moodle XML get one instantiated example
(numbers drawn with `example_seed`), marked as such in a comment. Multiple choice is exported with
Moodle's weights, +100/k for each of the k right choices and −100/k for each wrong one, which
Moodle sums and clamps to [0, 1]: the same partial credit as `domain.grade`.

Import raises `InterchangeError` for text that is not the format or uses a question type this
service does not have, and `marshmallow.ValidationError` (field-level) for an invalid quiz.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction
from html.parser import HTMLParser
from typing import Any

from marshmallow import ValidationError

from service.quizzes import domain
from service.quizzes.bank_schema import dump_exact, dump_quiz, load_quiz

FORMATS = ("json", "gift", "moodle-xml")
MEDIA_TYPES = {
    "json": "application/json",
    "gift": "text/plain; charset=utf-8",
    "moodle-xml": "application/xml",
}
MAX_IMPORT_CHARS = 1_000_000
CHOICE_LETTERS = "abcdefghij"


class InterchangeError(ValueError):
    """Text that cannot be imported; `location` says where (a question title or number)."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


# ---------------------------------------------------------------------------------------------
# Shared helpers


@dataclass(frozen=True)
class _Exported:
    """A question flattened for GIFT/XML: a generated one becomes one example instance."""

    question: domain.Question
    instance: domain.InstantiatedQuestion
    generated: bool


def _flatten(quiz: domain.Quiz, example_seed: int) -> list[_Exported]:
    return [
        _Exported(
            question,
            domain.instantiate_question(question, example_seed, shuffle_choices=False),
            question.generator is not None,
        )
        for question in quiz.questions
    ]


def plain_decimal(value: Fraction, significant: int = 17) -> str:
    """Positional decimal text (no exponent: GIFT readers accept only digits and '.').

    Exact when `value` is a terminating decimal of at most 60 digits, else rounded to
    `significant` digits (17 reproduce any float).
    """
    if value == 0:
        return "0"
    numerator, denominator = Decimal(value.numerator), Decimal(value.denominator)
    exact = Context(prec=60).divide(numerator, denominator)
    if Fraction(exact) == value:
        return format(exact.normalize(Context(prec=60)), "f")
    rounded = Context(prec=significant).divide(numerator, denominator)
    return format(rounded.normalize(Context(prec=significant)), "f")


def _weights(count: int) -> str:
    """100/count as Moodle writes grade percentages (5 decimals, no trailing zeros)."""
    text = f"{100 / count:.5f}".rstrip("0").rstrip(".")
    return text


def _numeric_parts(item: _Exported) -> tuple[str, str]:
    answer = item.instance.answer
    tolerance = item.instance.tolerance
    assert isinstance(answer, Fraction)
    assert tolerance is not None
    return plain_decimal(answer), plain_decimal(tolerance.half_width(answer))


def _tolerance_note(item: _Exported) -> str:
    tolerance = item.question.tolerance
    if tolerance is None:
        return ""
    return f"tolerance {tolerance.kind} {dump_exact(tolerance.value)}"


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique_id(candidate: str, number: int, seen: set[str]) -> str:
    identifier = _slugify(candidate)[:64].strip("-") or f"q{number}"
    base, suffix = identifier, 2
    while identifier in seen:
        identifier = f"{base[:60]}-{suffix}"
        suffix += 1
    seen.add(identifier)
    return identifier


def _check_size(text: str) -> None:
    if len(text) > MAX_IMPORT_CHARS:
        raise InterchangeError(f"the file is larger than {MAX_IMPORT_CHARS} characters")


def _quiz_dict(
    slug: str,
    title: str,
    questions: list[dict[str, Any]],
    description: str = "",
    lesson: int | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "lesson": lesson,
        "description": description,
        "settings": settings or {},
        "questions": questions,
    }


def _choices(entries: list[tuple[str, bool]], location: str) -> list[dict[str, Any]]:
    if len(entries) > len(CHOICE_LETTERS):
        raise InterchangeError(f"at most {len(CHOICE_LETTERS)} choices", location)
    return [
        {"id": CHOICE_LETTERS[i], "text": text, "correct": correct}
        for i, (text, correct) in enumerate(entries)
    ]


# ---------------------------------------------------------------------------------------------
# JSON


def export_json(quiz: domain.Quiz) -> str:
    return json.dumps(dump_quiz(quiz), ensure_ascii=False, indent=2)


def import_json(text: str) -> domain.Quiz:
    _check_size(text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError: malformed, or an integer past Python's digit limit; RecursionError:
        # nesting deeper than the parser's stack.
        raise InterchangeError(f"not valid JSON: {str(error)[:200]}") from error
    if not isinstance(data, dict):
        raise InterchangeError("expected one quiz (a JSON object)")
    return load_quiz(data)


# ---------------------------------------------------------------------------------------------
# GIFT

_GIFT_SPECIAL = "~=#{}:"
_GIFT_MARKUP = re.compile(r"^\[(html|moodle|plain|markdown)\]", re.IGNORECASE)


def gift_escape(text: str) -> str:
    escaped = text.replace("\\", "\\\\")
    for char in _GIFT_SPECIAL:
        escaped = escaped.replace(char, "\\" + char)
    return escaped.replace("\r\n", "\n").replace("\n", "\\n")


def gift_unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _gift_question(item: _Exported) -> str:
    question, instance = item.question, item.instance
    comment = f"// {question.id}: {question.type}, {domain.json_number(question.points)} point(s)"
    if question.type == domain.NUMERIC:
        comment += f", {_tolerance_note(item)}"
    if item.generated:
        assert question.generator is not None
        comment += (
            f"\n// generated by '{question.generator.name}': this is one example instance;"
            " numbers differ per attempt in Activation Lab"
        )
    if question.type == domain.NUMERIC:
        value, half_width = _numeric_parts(item)
        body = f"#{value}:{half_width}"
    elif question.type == domain.TRUE_FALSE:
        body = "TRUE" if instance.answer else "FALSE"
    elif question.type == domain.SINGLE_CHOICE:
        body = " ".join(
            ("=" if choice.correct else "~") + gift_escape(choice.text)
            for choice in instance.choices
        )
    else:
        weight = _weights(len(instance.correct_choice_ids))
        body = " ".join(
            f"~%{'' if choice.correct else '-'}{weight}%{gift_escape(choice.text)}"
            for choice in instance.choices
        )
    prompt = gift_escape(instance.prompt)
    feedback = gift_escape(instance.explanation)
    return f"{comment}\n::{question.id}::[plain]{prompt}{{{body}####{feedback}}}\n"


def export_gift(quiz: domain.Quiz, example_seed: int = 0) -> str:
    header = [
        f"// Activation Lab quiz {quiz.slug}: {quiz.title}".replace("\n", " "),
        "// GIFT does not carry points, settings or choice ids; non-absolute tolerances are",
        "// exported as the equivalent absolute tolerance.",
        f"$CATEGORY: $course$/top/{quiz.slug}",
        "",
    ]
    blocks = [_gift_question(item) for item in _flatten(quiz, example_seed)]
    return "\n".join(header) + "\n" + "\n".join(blocks)


def _gift_blocks(text: str) -> tuple[str | None, list[str]]:
    category: str | None = None
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if stripped.startswith("$CATEGORY:"):
            category = stripped.removeprefix("$CATEGORY:").strip()
            continue
        if not stripped:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return category, blocks


def _split_unescaped(text: str, separators: str) -> list[tuple[str, str]]:
    """Split at unescaped separator characters: [(separator or '', chunk), ...]."""
    parts: list[tuple[str, str]] = []
    sign, chunk, i = "", [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            chunk.append(text[i : i + 2])
            i += 2
            continue
        if char in separators:
            parts.append((sign, "".join(chunk)))
            sign, chunk = char, []
        else:
            chunk.append(char)
        i += 1
    parts.append((sign, "".join(chunk)))
    return parts


def _find_unescaped(text: str, target: str, start: int = 0) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(target, i):
            return i
        i += 1
    return -1


def _gift_number(text: str, location: str) -> Fraction:
    try:
        return Fraction(Decimal(text.strip()))
    except (ArithmeticError, ValueError) as error:
        raise InterchangeError(f"cannot read the number {text.strip()!r}", location) from error


def _gift_numeric(body: str, location: str) -> tuple[Fraction, Fraction]:
    """(answer, absolute tolerance) from `#value:tol`, `#min..max` or `#=value:tol ...`."""
    body = body[1:].strip()
    if body and body[0] in "=~":
        answers = [chunk for sign, chunk in _split_unescaped(body, "=~") if sign == "="]
        if not answers:
            raise InterchangeError("a numeric question needs an answer marked '='", location)
        body = re.sub(r"^%100%", "", answers[0].strip())
    body = _split_unescaped(body, "#")[0][1].strip()
    if ".." in body:
        low, _, high = body.partition("..")
        low_value, high_value = _gift_number(low, location), _gift_number(high, location)
        return (low_value + high_value) / 2, abs(high_value - low_value) / 2
    value, _, tolerance = body.partition(":")
    return _gift_number(value, location), _gift_number(tolerance or "0", location)


def _gift_choices(body: str, location: str) -> tuple[str, list[tuple[str, bool]]]:
    entries = [(sign, chunk) for sign, chunk in _split_unescaped(body, "=~") if sign]
    if not entries:
        raise InterchangeError("no answers found", location)
    if any("->" in chunk for _, chunk in entries):
        raise InterchangeError("matching questions are not supported", location)
    single = any(sign == "=" for sign, _ in entries)
    if single and all(sign == "=" for sign, _ in entries):
        raise InterchangeError("short-answer questions are not supported", location)
    choices: list[tuple[str, bool]] = []
    for sign, chunk in entries:
        text = _split_unescaped(chunk, "#")[0][1]
        weight = re.match(r"^\s*%(-?[\d.]+)%", text)
        correct = sign == "="
        if weight:
            text = text[weight.end() :]
            correct = float(weight.group(1)) > 0
            if single and sign == "~" and correct:
                raise InterchangeError("partial-credit single choice is not supported", location)
        choices.append((gift_unescape(text.strip()), correct))
    return (domain.SINGLE_CHOICE if single else domain.MULTIPLE_CHOICE), choices


def _gift_to_question(block: str, number: int, seen: set[str]) -> dict[str, Any]:
    location = f"question {number}"
    title = ""
    text = block.strip()
    match = re.match(r"^::(.*?)::", text, re.S)
    if match:
        title, text = match.group(1).strip(), text[match.end() :]
        location = f"question {number} ({title})"
    text = _GIFT_MARKUP.sub("", text.lstrip(), count=1)
    opening = _find_unescaped(text, "{")
    closing = _find_unescaped(text, "}", opening + 1) if opening >= 0 else -1
    if opening < 0 or closing < 0:
        raise InterchangeError("descriptions without answers are not supported", location)
    if text[closing + 1 :].strip():
        raise InterchangeError("missing-word questions are not supported", location)
    prompt = gift_unescape(text[:opening].strip())
    inner = text[opening + 1 : closing]
    feedback_at = _find_unescaped(inner, "####")
    explanation = ""
    if feedback_at >= 0:
        explanation = gift_unescape(_GIFT_MARKUP.sub("", inner[feedback_at + 4 :]).strip())
        inner = inner[:feedback_at]
    inner = inner.strip()
    question: dict[str, Any] = {
        "id": _unique_id(title, number, seen),
        "prompt": prompt,
        "explanation": explanation or "(no explanation given)",
    }
    tf = re.match(r"^(T|TRUE|F|FALSE)\s*(#.*)?$", inner, re.S)
    if not inner:
        raise InterchangeError("essay questions are not supported", location)
    if tf:
        question.update(type=domain.TRUE_FALSE, answer=tf.group(1).startswith("T"))
    elif inner.startswith("#"):
        value, half_width = _gift_numeric(inner, location)
        question.update(
            type=domain.NUMERIC,
            answer=dump_exact(value),
            tolerance={"kind": "absolute", "value": dump_exact(half_width)},
        )
    else:
        kind, choices = _gift_choices(inner, location)
        question.update(type=kind, choices=_choices(choices, location))
    return question


def import_gift(text: str, *, slug: str | None = None, title: str | None = None) -> domain.Quiz:
    """Read GIFT; the quiz slug comes from `slug`, else the last $CATEGORY segment."""
    _check_size(text)
    category, blocks = _gift_blocks(text)
    if not blocks:
        raise InterchangeError("no questions found")
    seen: set[str] = set()
    questions = [_gift_to_question(block, n, seen) for n, block in enumerate(blocks, start=1)]
    category_name = (category or "").rstrip("/").rsplit("/", 1)[-1]
    quiz_slug = slug or _slugify(category_name) or "imported-quiz"
    return load_quiz(_quiz_dict(quiz_slug, title or category_name or quiz_slug, questions))


# ---------------------------------------------------------------------------------------------
# Moodle XML

_FORMAT = "plain_text"


def _text_element(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    ET.SubElement(element, "text").text = text
    return element


def _xml_question(quiz: domain.Quiz, item: _Exported) -> ET.Element:
    question, instance = item.question, item.instance
    kind = {
        domain.SINGLE_CHOICE: "multichoice",
        domain.MULTIPLE_CHOICE: "multichoice",
        domain.TRUE_FALSE: "truefalse",
        domain.NUMERIC: "numerical",
    }[question.type]
    element = ET.Element("question", {"type": kind})
    if item.generated:
        assert question.generator is not None
        element.append(
            ET.Comment(
                f" generated by '{question.generator.name}': one example instance; numbers"
                " differ per attempt in Activation Lab "
            )
        )
    _text_element(element, "name", question.id)
    _text_element(element, "questiontext", instance.prompt, format=_FORMAT)
    _text_element(element, "generalfeedback", instance.explanation, format=_FORMAT)
    ET.SubElement(element, "defaultgrade").text = plain_decimal(question.points)
    ET.SubElement(element, "penalty").text = "0"
    ET.SubElement(element, "hidden").text = "0"
    ET.SubElement(element, "idnumber").text = question.id
    if question.type == domain.NUMERIC:
        value, half_width = _numeric_parts(item)
        answer = _text_element(element, "answer", value, fraction="100", format=_FORMAT)
        _text_element(answer, "feedback", "", format=_FORMAT)
        ET.SubElement(answer, "tolerance").text = half_width
    elif question.type == domain.TRUE_FALSE:
        for text in ("true", "false"):
            right = (text == "true") == bool(instance.answer)
            answer = _text_element(
                element, "answer", text, fraction="100" if right else "0", format=_FORMAT
            )
            _text_element(answer, "feedback", "", format=_FORMAT)
    else:
        single = question.type == domain.SINGLE_CHOICE
        weight = "100" if single else _weights(len(instance.correct_choice_ids))
        wrong = "0" if single else f"-{weight}"
        ET.SubElement(element, "single").text = "true" if single else "false"
        ET.SubElement(element, "shuffleanswers").text = (
            "true" if quiz.settings.shuffle_choices else "false"
        )
        ET.SubElement(element, "answernumbering").text = "abc"
        for choice in instance.choices:
            answer = _text_element(
                element,
                "answer",
                choice.text,
                fraction=weight if choice.correct else wrong,
                format=_FORMAT,
            )
            _text_element(answer, "feedback", "", format=_FORMAT)
    return element


def export_moodle_xml(quiz: domain.Quiz, example_seed: int = 0) -> str:
    root = ET.Element("quiz")
    category = ET.SubElement(root, "question", {"type": "category"})
    _text_element(category, "category", f"$course$/top/{quiz.title.replace('/', '-')}")
    _text_element(category, "info", quiz.description, format=_FORMAT)
    ET.SubElement(category, "idnumber").text = quiz.slug
    for item in _flatten(quiz, example_seed):
        root.append(_xml_question(quiz, item))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _xml_text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    text = element.findtext("text") or ""
    if element.get("format", "html") == "html":
        parser = _TextOnly()
        parser.feed(text)
        text = html.unescape("".join(parser.parts))
    return text.strip()


def _xml_fraction(answer: ET.Element, location: str) -> Fraction:
    try:
        return Fraction(Decimal(answer.get("fraction", "0")))
    except ArithmeticError as error:
        raise InterchangeError("bad answer fraction", location) from error


def _xml_to_question(element: ET.Element, number: int, seen: set[str]) -> dict[str, Any]:
    kind = element.get("type", "")
    name = _xml_text(element.find("name"))
    location = f"question {number}" + (f" ({name})" if name else "")
    identifier = (element.findtext("idnumber") or "").strip() or name
    question: dict[str, Any] = {
        "id": _unique_id(identifier, number, seen),
        "prompt": _xml_text(element.find("questiontext")),
        "explanation": _xml_text(element.find("generalfeedback")) or "(no explanation given)",
    }
    grade = element.findtext("defaultgrade")
    if grade is not None and grade.strip():
        question["points"] = grade.strip()
    answers = element.findall("answer")
    if kind == "truefalse":
        right = [a for a in answers if _xml_fraction(a, location) > 0]
        if len(right) != 1:
            raise InterchangeError("a true/false question needs one right answer", location)
        question.update(type=domain.TRUE_FALSE, answer=_xml_text(right[0]).lower() in ("true", "1"))
    elif kind == "numerical":
        right = [a for a in answers if _xml_fraction(a, location) == 100]
        if not right:
            raise InterchangeError("a numerical question needs a 100% answer", location)
        answer = right[0]
        value = _gift_number(answer.findtext("text") or "", location)
        tolerance = _gift_number(answer.findtext("tolerance") or "0", location)
        question.update(
            type=domain.NUMERIC,
            answer=dump_exact(value),
            tolerance={"kind": "absolute", "value": dump_exact(abs(tolerance))},
        )
    elif kind == "multichoice":
        single = (element.findtext("single") or "true").strip().lower() in ("true", "1")
        fractions = [_xml_fraction(a, location) for a in answers]
        if single and any(0 < f < 100 for f in fractions):
            raise InterchangeError("partial-credit single choice is not supported", location)
        entries = [(_xml_text(a), f > 0) for a, f in zip(answers, fractions, strict=True)]
        question.update(
            type=domain.SINGLE_CHOICE if single else domain.MULTIPLE_CHOICE,
            choices=_choices(entries, location),
        )
    else:
        raise InterchangeError(f"question type {kind!r} is not supported", location)
    return question


def import_moodle_xml(
    text: str, *, slug: str | None = None, title: str | None = None
) -> domain.Quiz:
    """Read Moodle XML (multichoice, truefalse, numerical; categories give title and slug)."""
    _check_size(text)
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise InterchangeError("document type declarations are not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise InterchangeError(f"not well-formed XML: {error}") from error
    if root.tag != "quiz":
        raise InterchangeError("the root element must be <quiz>")
    category_path, description, category_id = "", "", ""
    questions: list[dict[str, Any]] = []
    shuffles: set[bool] = set()
    seen: set[str] = set()
    for element in root.findall("question"):
        if element.get("type") == "category":
            category_path = (element.findtext("category/text") or "").strip()
            description = _xml_text(element.find("info"))
            category_id = (element.findtext("idnumber") or "").strip()
            continue
        questions.append(_xml_to_question(element, len(questions) + 1, seen))
        shuffle = element.findtext("shuffleanswers")
        if shuffle is not None:
            shuffles.add(shuffle.strip().lower() in ("true", "1"))
    if not questions:
        raise InterchangeError("no questions found")
    category_name = category_path.rstrip("/").rsplit("/", 1)[-1]
    quiz_slug = slug or _slugify(category_id) or _slugify(category_name) or "imported-quiz"
    settings = {"shuffle_choices": shuffles.pop()} if len(shuffles) == 1 else {}
    data = _quiz_dict(
        quiz_slug,
        title or category_name or quiz_slug,
        questions,
        description=description,
        settings=settings,
    )
    return load_quiz(data)


# ---------------------------------------------------------------------------------------------
# Entry points


def export_quiz(quiz: domain.Quiz, fmt: str, *, example_seed: int = 0) -> str:
    """`quiz` as text in `fmt` (one of FORMATS); see MEDIA_TYPES for the response type."""
    if fmt == "json":
        return export_json(quiz)
    if fmt == "gift":
        return export_gift(quiz, example_seed)
    if fmt == "moodle-xml":
        return export_moodle_xml(quiz, example_seed)
    raise InterchangeError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def import_quiz(
    text: str, fmt: str, *, slug: str | None = None, title: str | None = None
) -> domain.Quiz:
    """Parse and validate a quiz in `fmt`. For json, `slug`/`title` replace the file's own."""
    if fmt == "json":
        quiz = import_json(text)
        if slug is not None or title is not None:
            data = dump_quiz(quiz)
            data.update({k: v for k, v in (("slug", slug), ("title", title)) if v is not None})
            quiz = load_quiz(data)
        return quiz
    if fmt == "gift":
        return import_gift(text, slug=slug, title=title)
    if fmt == "moodle-xml":
        return import_moodle_xml(text, slug=slug, title=title)
    raise InterchangeError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "InterchangeError",
    "ValidationError",
    "export_quiz",
    "import_quiz",
]
