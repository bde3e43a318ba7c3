"""Export/import: JSON round trip, GIFT checked by an independent parser, Moodle XML structure."""

from __future__ import annotations

import io
import sys
import types
import warnings
import xml.etree.ElementTree as ET
from fractions import Fraction
from typing import Any

import pytest
from marshmallow import ValidationError

from service.quizzes.bank_loader import load_bank
from service.quizzes.domain import (
    Choice,
    Misconception,
    Question,
    Quiz,
    QuizSettings,
    Tolerance,
    instantiate,
)
from service.quizzes.interchange import (
    FORMATS,
    InterchangeError,
    export_quiz,
    gift_escape,
    gift_unescape,
    import_quiz,
)
from service.quizzes.numbers import exact_text

# pygiftparser 1.1 pins Markdown 3.0, which imports pkg_resources (gone from setuptools >= 81).
# Parsing never renders markdown, so a stub module will do when the real one cannot load.
try:
    import markdown  # type: ignore[import-untyped]  # noqa: F401
except ImportError:
    sys.modules["markdown"] = types.ModuleType("markdown")
with warnings.catch_warnings():  # its i18n calls the deprecated locale.getdefaultlocale
    warnings.simplefilter("ignore", DeprecationWarning)
    from pygiftparser import parser as gift_parser  # type: ignore[import-untyped]

BANK = [entry.quiz for entry in load_bank()]
EXAMPLE_SEED = 0


def _sample_quiz() -> Quiz:
    """Every type, special characters, non-default settings and points."""
    return Quiz(
        slug="sample-quiz",
        title="Sample: all types",
        lesson=None,
        description="Braces {like these}, equals = and hashes # must survive.",
        settings=QuizSettings(
            max_attempts=3,
            pass_fraction=Fraction(2, 3),
            scoring_policy="average",
            shuffle_choices=False,
            show_correct_answers="never",
        ),
        questions=(
            Question(
                id="n-third",
                type="numeric",
                prompt="What is 1/3 ~ roughly? Use a:b {or} c=d # ok",
                explanation="One third\nsecond line.",
                points=Fraction(5, 2),
                answer=Fraction(1, 3),
                tolerance=Tolerance("sig_figs", Fraction(4)),
                misconceptions=(
                    Misconception("inverse", "You inverted it: 3 ~ 1/(1/3) # = wrong", 3),
                    Misconception("halved", "Half: 0.5", Fraction(1, 2)),
                ),
            ),
            Question(
                id="tiny",
                type="numeric",
                prompt="Give 10^-10.",
                explanation="Tiny.",
                answer=Fraction(1, 10**10),
                tolerance=Tolerance("relative", Fraction(1, 1000)),
            ),
            Question(
                id="sc",
                type="single_choice",
                prompt="Pick = the right one",
                explanation="b.",
                choices=(Choice("a", "A ~ tilde"), Choice("b", "B = equals", True)),
                misconceptions=(Misconception("tilde", "Not a: x = y # z ~ w", choice="a"),),
            ),
            Question(
                id="mc",
                type="multiple_choice",
                prompt="Pick two.",
                explanation="a and c.",
                points=Fraction(2),
                choices=(
                    Choice("a", "Alpha", True),
                    Choice("b", "Beta"),
                    Choice("c", "Gamma: third", True),
                ),
                misconceptions=(Misconception("beta", "Beta is wrong.", choice="b"),),
            ),
            Question(
                id="tf",
                type="true_false",
                prompt="False?",
                explanation="Yes, false.",
                answer=False,
            ),
        ),
    )


QUIZZES = [*BANK, _sample_quiz()]
IDS = [quiz.slug for quiz in QUIZZES]


def _messages(error: ValidationError) -> dict[Any, Any]:
    assert isinstance(error.messages, dict)
    return error.messages


def _comparable(quiz: Quiz, *, points: bool) -> list[dict[str, Any]]:
    """What GIFT and Moodle XML carry: generated questions as their exported instance."""
    rows = []
    for question, instance in zip(
        quiz.questions, instantiate(_unshuffled(quiz), EXAMPLE_SEED), strict=True
    ):
        row: dict[str, Any] = {
            "id": question.id,
            "type": question.type,
            "prompt": instance.prompt,
            "explanation": instance.explanation,
            "choices": [(c.id, c.text, c.correct) for c in instance.choices],
            "answer": instance.answer,
        }
        row["misconceptions"] = [
            (m.id, m.feedback, m.choice if m.value is None else float(m.value))
            for m in instance.misconceptions
        ]
        if instance.tolerance is not None:
            # Both formats write decimals: a rational such as 1/3 travels as 17 digits.
            assert isinstance(instance.answer, Fraction)
            row["answer"] = float(instance.answer)
            row["half_width"] = float(instance.tolerance.half_width(instance.answer))
            row["half_widths"] = [
                float(instance.tolerance.half_width(m.value))
                for m in instance.misconceptions
                if m.value is not None
            ]
        if points:
            row["points"] = question.points
        rows.append(row)
    return rows


def _unshuffled(quiz: Quiz) -> Quiz:
    settings = QuizSettings(shuffle_choices=False)
    return Quiz(quiz.slug, quiz.title, quiz.lesson, quiz.description, settings, quiz.questions)


# ---------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize("quiz", QUIZZES, ids=IDS)
def test_json_round_trip_is_lossless(quiz: Quiz) -> None:
    assert import_quiz(export_quiz(quiz, "json"), "json") == quiz


def test_json_import_can_rename() -> None:
    quiz = _sample_quiz()
    renamed = import_quiz(export_quiz(quiz, "json"), "json", slug="copy", title="Copy")
    assert (renamed.slug, renamed.title) == ("copy", "Copy")
    assert renamed.questions == quiz.questions


def test_json_import_errors_are_field_level() -> None:
    with pytest.raises(InterchangeError, match="not valid JSON"):
        import_quiz("{", "json")
    with pytest.raises(InterchangeError, match="object"):
        import_quiz("[]", "json")
    bad = export_quiz(_sample_quiz(), "json").replace('"sig_figs"', '"percent"')
    with pytest.raises(ValidationError) as caught:
        import_quiz(bad, "json")
    assert "kind" in _messages(caught.value)["questions"][0]["tolerance"]


def test_unknown_format() -> None:
    with pytest.raises(InterchangeError, match="unknown format"):
        export_quiz(_sample_quiz(), "csv")
    with pytest.raises(InterchangeError, match="unknown format"):
        import_quiz("", "qti")
    assert tuple(FORMATS) == ("json", "gift", "moodle-xml")
    assert FORMATS["gift"].media_type == "text/plain; charset=utf-8"


# ---------------------------------------------------------------------------------------------
# GIFT


def _explained(row: dict[str, Any]) -> list[str]:
    """Each choice's expected feedback: its misconception's, else none."""
    feedback = {choice: text for _, text, choice in row["misconceptions"]}
    return [feedback.get(choice_id, "") for choice_id, _, _ in row["choices"]]


def _choice_feedback(answers: list[Any], row: dict[str, Any]) -> list[str]:
    return [gift_unescape(a.feedback or "") for a in answers]


@pytest.mark.parametrize("quiz", QUIZZES, ids=IDS)
def test_gift_parsed_by_pygiftparser(quiz: Quiz) -> None:
    text = export_quiz(quiz, "gift", example_seed=EXAMPLE_SEED)
    parsed = gift_parser.parseFile(io.StringIO(text))
    expected = _comparable(quiz, points=False)
    assert [q.title for q in parsed] == [row["id"] for row in expected]
    negative_numeric = 0
    for question, row in zip(parsed, expected, strict=True):
        assert question.markup == "plain"
        assert gift_unescape(question.text) == row["prompt"]
        assert gift_unescape(question.generalFeedback) == row["explanation"]
        values = [row.get("answer", 0)] + [m[2] for m in row["misconceptions"]]
        if row["type"] == "numeric" and min(values) < 0:
            # pygiftparser's number pattern has no sign (Moodle's own reader accepts one).
            assert not question.valid
            negative_numeric += 1
            continue
        answers = question.answers
        kind = type(answers).__name__
        assert question.valid
        if row["type"] == "numeric":
            assert kind == "NumericAnswerSet"
            answer, *mistakes = answers.answers
            assert answer.value == row["answer"]
            assert answer.tolerance == row["half_width"]
            assert answer.fraction == 100
            # Misconceptions: 0% answers after the correct one, each with its feedback.
            assert [
                (m.value, m.tolerance, m.fraction, gift_unescape(m.feedback)) for m in mistakes
            ] == [
                (value, width, 0, feedback)
                for (_, feedback, value), width in zip(
                    row["misconceptions"], row["half_widths"], strict=True
                )
            ]
        elif row["type"] == "true_false":
            assert kind == "TrueFalseSet"
            assert answers.answer is row["answer"]
        elif row["type"] == "single_choice":
            assert kind == "SelectSet"
            got = [(gift_unescape(a.answer), a.fraction) for a in answers.answers]
            assert got == [(text, 100 if ok else 0) for _, text, ok in row["choices"]]
            assert _choice_feedback(answers.answers, row) == _explained(row)
        else:
            assert kind == "MultipleChoicesSet"
            right = sum(ok for *_, ok in row["choices"])
            got = [(gift_unescape(a.answer), a.fraction) for a in answers.answers]
            weight = 100 / right
            assert [text for text, _ in got] == [text for _, text, _ in row["choices"]]
            assert [fraction for _, fraction in got] == [
                pytest.approx(weight if ok else -weight, abs=1e-5) for *_, ok in row["choices"]
            ]
            assert _choice_feedback(answers.answers, row) == _explained(row)
    assert negative_numeric <= sum(q.generator is not None for q in quiz.questions)


@pytest.mark.parametrize("quiz", QUIZZES, ids=IDS)
def test_gift_round_trip_keeps_what_gift_carries(quiz: Quiz) -> None:
    imported = import_quiz(export_quiz(quiz, "gift", example_seed=EXAMPLE_SEED), "gift")
    assert imported.slug == quiz.slug
    assert all(q.generator is None for q in imported.questions)
    assert all(q.points == 1 for q in imported.questions)
    assert _comparable(imported, points=False) == _comparable(quiz, points=False)


def test_gift_escaping_round_trips() -> None:
    text = "a ~ b = c # d { e } f : g \\ h\nnew line"
    assert gift_unescape(gift_escape(text)) == text
    assert "\n" not in gift_escape(text)


def test_gift_generated_question_is_marked_as_an_example() -> None:
    text = export_quiz(BANK[0], "gift")
    assert "generated by 'linear-variance-propagation'" in text
    assert "one example instance" in text


FOREIGN_GIFT = """
// A hand-written GIFT file in the styles Moodle's documentation shows.
$CATEGORY: $course$/top/Foreign Quiz

::Sum::What is 1 + 1?{#2}

::Range::Pick a number between 1 and 5{#1..5####Any of them.}

::Tol::[html]π to two places?{#3.14:0.005}

Grant is buried in Grant's tomb.{FALSE#No, he is not.#Right.}

::Colour::Which colour is the sky?{=blue#yes ~green#no ~red}

::Primes::Which are prime?{~%50%2 ~%50%3 ~%-100%4}

::Multi numeric::How many?{#=12:0 =%50%11:0}
"""


def test_gift_import_of_a_foreign_file() -> None:
    quiz = import_quiz(FOREIGN_GIFT, "gift")
    assert quiz.slug == "foreign-quiz"
    assert quiz.title == "Foreign Quiz"
    by_id = {q.id: q for q in quiz.questions}
    assert list(by_id) == ["sum", "range", "tol", "q4", "colour", "primes", "multi-numeric"]
    assert by_id["sum"].answer == 2
    assert by_id["sum"].tolerance == Tolerance("absolute", Fraction(0))
    assert by_id["range"].answer == 3
    assert by_id["range"].tolerance == Tolerance("absolute", Fraction(2))
    assert by_id["range"].explanation == "Any of them."
    assert by_id["tol"].answer == Fraction("3.14")
    assert by_id["tol"].prompt == "π to two places?"
    assert by_id["q4"].type == "true_false"
    assert by_id["q4"].answer is False
    assert by_id["colour"].type == "single_choice"
    assert [(c.id, c.text, c.correct) for c in by_id["colour"].choices] == [
        ("a", "blue", True),
        ("b", "green", False),
        ("c", "red", False),
    ]
    assert by_id["primes"].type == "multiple_choice"
    assert [c.correct for c in by_id["primes"].choices] == [True, True, False]
    assert by_id["multi-numeric"].answer == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("::E::Write an essay.{}", "essay"),
        ("::M::Match.{=a -> 1 =b -> 2}", "matching"),
        ("::S::Short?{=one =uno}", "short-answer"),
        ("The {=sun ~moon} rises in the east.", "missing-word"),
        ("Just a description.", "descriptions"),
        ("::N::Number?{#abc}", "is not a decimal number"),
        ("::P::Partial single?{=a ~%50%b ~c}", "partial-credit"),
        ("// only a comment\n", "no questions"),
    ],
)
def test_gift_import_refuses_what_it_cannot_represent(text: str, message: str) -> None:
    with pytest.raises(InterchangeError, match=message):
        import_quiz(text, "gift", slug="x")


# ---------------------------------------------------------------------------------------------
# Moodle XML


@pytest.mark.parametrize("quiz", QUIZZES, ids=IDS)
def test_moodle_xml_structure(quiz: Quiz) -> None:
    text = export_quiz(quiz, "moodle-xml", example_seed=EXAMPLE_SEED)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text)
    assert root.tag == "quiz"
    category, *questions = root.findall("question")
    assert category.get("type") == "category"
    assert category.findtext("category/text") == f"$course$/top/{quiz.title}"
    assert category.findtext("idnumber") == quiz.slug
    assert category.findtext("info/text") in (quiz.description, None)
    expected = _comparable(quiz, points=True)
    assert len(questions) == len(expected)
    moodle_type = {
        "numeric": "numerical",
        "true_false": "truefalse",
        "single_choice": "multichoice",
        "multiple_choice": "multichoice",
    }
    for element, row in zip(questions, expected, strict=True):
        assert element.get("type") == moodle_type[row["type"]]
        assert element.findtext("name/text") == row["id"]
        assert element.findtext("idnumber") == row["id"]
        assert element.find("questiontext").get("format") == "plain_text"  # type: ignore[union-attr]
        assert element.findtext("questiontext/text") == row["prompt"]
        assert element.findtext("generalfeedback/text") == row["explanation"]
        assert Fraction(element.findtext("defaultgrade") or "") == row["points"]
        answers = element.findall("answer")
        fractions = [float(a.get("fraction", "nan")) for a in answers]
        texts = [a.findtext("text") for a in answers]
        feedback = [a.findtext("feedback/text") or "" for a in answers]
        if row["type"] == "numeric":
            # Moodle grades the first matching answer: the correct one, then the mistakes.
            assert fractions == [100] + [0] * len(row["misconceptions"])
            assert float(texts[0] or "") == row["answer"]
            assert float(answers[0].findtext("tolerance") or "") == row["half_width"]
            assert [float(t or "") for t in texts[1:]] == [m[2] for m in row["misconceptions"]]
            assert feedback[1:] == [m[1] for m in row["misconceptions"]]
            widths = [float(a.findtext("tolerance") or "") for a in answers[1:]]
            assert widths == row["half_widths"]
        elif row["type"] == "true_false":
            assert texts == ["true", "false"]
            assert fractions == ([100, 0] if row["answer"] else [0, 100])
        else:
            single = row["type"] == "single_choice"
            assert element.findtext("single") == ("true" if single else "false")
            assert texts == [text for _, text, _ in row["choices"]]
            assert feedback == _explained(row)
            right = [f for f in fractions if f > 0]
            assert sum(right) == pytest.approx(100, abs=1e-4)
            if single:
                assert fractions == [100 if ok else 0 for *_, ok in row["choices"]]
            else:
                assert all(f == pytest.approx(-right[0]) for f in fractions if f <= 0)


@pytest.mark.parametrize("quiz", QUIZZES, ids=IDS)
def test_moodle_xml_round_trip_keeps_what_it_carries(quiz: Quiz) -> None:
    imported = import_quiz(export_quiz(quiz, "moodle-xml", example_seed=EXAMPLE_SEED), "moodle-xml")
    assert (imported.slug, imported.title, imported.description) == (
        quiz.slug,
        quiz.title,
        quiz.description,
    )
    if any(q.choices for q in quiz.questions):
        assert imported.settings.shuffle_choices == quiz.settings.shuffle_choices
    assert _comparable(imported, points=True) == _comparable(quiz, points=True)


def test_generated_question_exports_one_instance() -> None:
    quiz = BANK[0]
    first = export_quiz(quiz, "moodle-xml", example_seed=1)
    assert first == export_quiz(quiz, "moodle-xml", example_seed=1)
    assert first != export_quiz(quiz, "moodle-xml", example_seed=2)
    assert "one example instance" in first


FOREIGN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/Imported</text></category></question>
  <question type="multichoice">
    <name><text>Sky colour</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>Which colour &amp; why?</p>]]></text>
    </questiontext>
    <defaultgrade>2.0000000</defaultgrade>
    <single>true</single>
    <answer fraction="100" format="html"><text>Blue</text></answer>
    <answer fraction="0" format="html"><text>Green</text></answer>
  </question>
  <question type="numerical">
    <name><text>Pi</text></name>
    <questiontext format="plain_text"><text>pi?</text></questiontext>
    <answer fraction="100"><text>3.14159</text><tolerance>0.001</tolerance></answer>
  </question>
</quiz>
"""


def test_moodle_xml_import_of_a_foreign_file() -> None:
    quiz = import_quiz(FOREIGN_XML, "moodle-xml")
    assert (quiz.slug, quiz.title) == ("imported", "Imported")
    sky, pi = quiz.questions
    assert (sky.id, sky.prompt, sky.points) == ("sky-colour", "Which colour & why?", 2)
    assert [c.correct for c in sky.choices] == [True, False]
    assert pi.answer == Fraction("3.14159")
    assert pi.tolerance == Tolerance("absolute", Fraction("0.001"))
    assert pi.explanation == "(no explanation given)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<quiz><question type='essay'><name><text>E</text></name></question></quiz>", "essay"),
        ("<quiz><question", "well-formed"),
        ("<notquiz/>", "root element"),
        (
            '<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY a "aaaa">]><quiz>&a;</quiz>',
            "document type",
        ),
        ("<quiz></quiz>", "no questions"),
    ],
)
def test_moodle_xml_import_refusals(text: str, message: str) -> None:
    with pytest.raises(InterchangeError, match=message):
        import_quiz(text, "moodle-xml")


def test_import_size_limit() -> None:
    with pytest.raises(InterchangeError, match="larger"):
        import_quiz(" " * 1_000_001, "gift")


def test_exact_numbers_survive_json() -> None:
    quiz = _sample_quiz()
    text = export_quiz(quiz, "json")
    assert f'"answer": "{exact_text(Fraction(1, 3))}"' in text
    assert '"answer": 1e-10' in text


# ---------------------------------------------------------------------------------------------
# Misconceptions from files written elsewhere (no id note): ids from the feedback's words


def test_gift_import_reads_wrong_answer_feedback_as_misconceptions() -> None:
    text = """::depth::How much after 20 doublings? {#
        =1048576:0
        =%0%40:0#You added the factors instead of multiplying them.
        =%50%1048000:1000#Close.
    }

    ::axes::Which axis? {=rows ~columns#That is the batch axis. ~both}
    """
    depth, axes = import_quiz(text, "gift", slug="foreign").questions
    assert depth.answer == 1048576
    assert [(m.id, m.value, m.feedback) for m in depth.misconceptions] == [
        ("you-added-the-factors-instead", 40, "You added the factors instead of multiplying them.")
    ]
    assert [(m.id, m.choice) for m in axes.misconceptions] == [("that-is-the-batch-axis", "b")]


def test_moodle_xml_import_reads_zero_percent_answers_as_misconceptions() -> None:
    text = """<quiz><question type="numerical"><name><text>n</text></name>
      <questiontext format="plain_text"><text>2^20?</text></questiontext>
      <answer fraction="100"><text>1048576</text><tolerance>0</tolerance></answer>
      <answer fraction="0"><text>40</text><tolerance>0</tolerance>
        <feedback format="html"><text>&lt;p&gt;Factors multiply.&lt;/p&gt;</text></feedback>
      </answer>
      <answer fraction="0"><text>7</text><tolerance>0</tolerance></answer>
    </question></quiz>"""
    (question,) = import_quiz(text, "moodle-xml", slug="foreign").questions
    assert [(m.id, m.value, m.feedback) for m in question.misconceptions] == [
        ("factors-multiply", 40, "Factors multiply.")
    ]


@pytest.mark.parametrize("fmt", ["gift", "moodle-xml"])
def test_an_import_with_a_colliding_misconception_is_refused_naming_it(fmt: str) -> None:
    quiz = Quiz(
        "collide",
        "Collide",
        None,
        "",
        QuizSettings(),
        (
            Question(
                "q",
                "numeric",
                "?",
                "e",
                answer=100,
                tolerance=Tolerance("absolute", 1),
                misconceptions=(Misconception("far", "f", Fraction(50)),),
            ),
        ),
    )
    text = export_quiz(quiz, fmt).replace("50", "101.5")  # now within the answer's tolerance
    with pytest.raises(ValidationError) as caught:
        import_quiz(text, fmt)
    message = str(caught.value.messages)
    assert "misconception 'far' (101.5) coincides with the correct answer (100)" in message
