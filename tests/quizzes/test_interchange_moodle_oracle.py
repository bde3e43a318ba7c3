"""The Moodle XML export of every lesson quiz, read by an independent parser: moodle-xml-parser
0.3.1 (PyPI, MIT; pinned in the `test` extra). The quizzes are exported over HTTP
(`GET /v1/quizzes/{slug}/export?format=moodle-xml`) from a database seeded with the bank, and the
expectations come from the bank's own questions (the export's example instance, seed 0).
Every fraction it reads must also be one of the grades Moodle's import accepts.

What the library reads: `multichoice` questions (name, question text, defaultgrade, penalty,
single, shuffleanswers, answernumbering, general feedback) and each <answer>'s `fraction`, text
and <feedback> in document order, which is the order Moodle matches answers in.

Gaps, all valid per Moodle's format docs (docs.moodle.org/en/Moodle_XML_format) but not read by
0.3.1, so not checked through it:
- it reads only `multichoice` and `cloze` questions and silently drops `numerical` and `truefalse`
  (and `shortanswer`, `matching`, `essay`, ...). A test pins that drop, so a release that reads
  them fails here and should then be given those types in full;
- for `numerical` questions the <answer> elements are still read by the library's own answer
  reader (`_parse_option`, private but the same code its multichoice path uses; the pin keeps it
  stable): fraction, value text and feedback. It has no field for <tolerance>, which is therefore
  read with ElementTree — our own reading, as in test_interchange.py;
- it ignores the category pseudo-question, <idnumber> and the `format` attribute of texts (it
  HTML-unescapes every text, harmless for the bank's plain texts);
- it prints and skips a question it fails to parse instead of raising, so counts are asserted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
from flask import Flask
from flask.testing import FlaskClient
from moodle_xml_parser import parser as moodle  # type: ignore[import-untyped]
from moodle_xml_parser.models import MultiChoiceQuestion, Option  # type: ignore[import-untyped]

from service.quizzes import domain
from service.quizzes.bank_loader import load_bank
from service.quizzes.interchange.common import Exported, flatten
from service.quizzes.services import seed_bank
from tests.backends import all_backends
from tests.factories import api_key

BANK = {entry.quiz.slug: entry.quiz for entry in load_bank()}
CHOICE_TYPES = (domain.SINGLE_CHOICE, domain.MULTIPLE_CHOICE)


def _exported_xml(app: Flask, client: FlaskClient, slug: str) -> str:
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    response = client.get(
        f"/v1/quizzes/{slug}/export?format=moodle-xml", headers=api_key(app, "author")
    )
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/xml"
    return response.get_data(as_text=True)


def _items(slug: str) -> list[Exported]:
    return flatten(BANK[slug], 0)


def test_the_bank_has_every_kind_to_check() -> None:
    kinds = {item.question.type for slug in BANK for item in _items(slug)}
    assert kinds == {domain.NUMERIC, domain.TRUE_FALSE, *CHOICE_TYPES}
    assert len(BANK) >= 6


@all_backends
@pytest.mark.parametrize("slug", sorted(BANK))
def test_every_choice_question_is_read_with_its_fractions_and_feedback(
    app: Flask, client: FlaskClient, slug: str
) -> None:
    parsed = moodle.parse_string(_exported_xml(app, client, slug))
    items = [item for item in _items(slug) if item.question.type in CHOICE_TYPES]
    assert parsed["cloze"] == []
    read: list[MultiChoiceQuestion] = parsed["multichoice"]
    assert [q.name for q in read] == [item.question.id for item in items]
    for question, item in zip(read, items, strict=True):
        instance = item.instance
        single = item.question.type == domain.SINGLE_CHOICE
        assert question.type == "multichoice"
        assert question.single is single
        assert question.text_pre_parse == instance.prompt.strip()
        assert question.general_feedback == instance.explanation.strip()
        assert Fraction(question.default_grade) == item.question.points
        assert question.shuffle_answers is BANK[slug].settings.shuffle_choices
        assert [o.answer for o in question.options] == [c.text.strip() for c in instance.choices]
        right = len([c for c in instance.choices if c.correct])
        for option, choice in zip(question.options, instance.choices, strict=True):
            if single:
                assert option.score_fraction == (100 if choice.correct else 0)
            else:  # each right choice earns its share, each wrong one takes a share away
                share = 100 / right
                expected = share if choice.correct else -share
                assert option.score_fraction == pytest.approx(expected, abs=1e-4)
        assert sum(o.score_fraction for o in question.options if o.score_fraction > 0) == (
            pytest.approx(100, abs=1e-3)
        )
        # A distractor's feedback is the misconception it explains, word for word.
        explained = {m.choice: m.feedback.strip() for m in instance.misconceptions}
        assert explained, f"{item.question.id} names no misconception"
        feedback = {
            c.id: o.feedback for o, c in zip(question.options, instance.choices, strict=True)
        }
        for choice in instance.choices:
            assert feedback[choice.id] == explained.get(choice.id, "")
            if choice.id in explained:
                assert not choice.correct


@all_backends
@pytest.mark.parametrize("slug", sorted(BANK))
def test_numerical_and_truefalse_are_the_gap_and_their_answers_still_parse(
    app: Flask, client: FlaskClient, slug: str
) -> None:
    text = _exported_xml(app, client, slug)
    parsed = moodle.parse_string(text)
    assert set(parsed) == {"multichoice", "cloze"}  # 0.3.1 reads no other type (see the module)
    items = _items(slug)
    elements = [q for q in ET.fromstring(text).findall("question") if q.get("type") != "category"]
    assert len(elements) == len(items)
    kinds = {
        domain.NUMERIC: "numerical",
        domain.TRUE_FALSE: "truefalse",
        domain.SINGLE_CHOICE: "multichoice",
        domain.MULTIPLE_CHOICE: "multichoice",
    }
    assert [e.get("type") for e in elements] == [kinds[item.question.type] for item in items]
    for element, item in zip(elements, items, strict=True):
        instance = item.instance
        options = [moodle._parse_option(answer) for answer in element.findall("answer")]
        if item.question.type == domain.TRUE_FALSE:
            assert [o.answer for o in options] == ["true", "false"]
            right = [100, 0] if instance.answer else [0, 100]
            assert [o.score_fraction for o in options] == right
        elif item.question.type == domain.NUMERIC:
            _check_numerical(element, options, instance)


def _check_numerical(
    element: ET.Element, options: list[Option], instance: domain.InstantiatedQuestion
) -> None:
    """Correct answer first at 100% with its tolerance, then each misconception at 0% with its
    feedback and the tolerance the question gives its value (Moodle grades the first match)."""
    assert isinstance(instance.answer, Fraction)
    assert instance.tolerance is not None
    mistakes = instance.misconceptions
    assert mistakes, f"{instance.id} names no misconception"
    assert [o.score_fraction for o in options] == [100] + [0] * len(mistakes)
    values = [Fraction(o.answer) for o in options]
    tolerances = [Fraction(t.text or "") for t in element.iter("tolerance")]
    expected = [instance.answer] + [m.value for m in mistakes if m.value is not None]
    assert len(expected) == len(values) == len(tolerances)
    for value, tolerance, truth in zip(values, tolerances, expected, strict=True):
        width = instance.tolerance.half_width(truth)
        # The value is written exactly, or rounded to 17 significant digits (far inside the width).
        assert abs(value - truth) <= width / 10**6
        assert tolerance == pytest.approx(width, rel=1e-15)
    assert options[0].feedback == ""
    feedback = [o.feedback for o in options[1:]]
    assert feedback == [m.feedback.strip() for m in mistakes]
    # No misconception falls inside the correct answer's interval (first match would hide it).
    low, high = values[0] - tolerances[0], values[0] + tolerances[0]
    assert all(not low <= v <= high for v in values[1:])


# The grades Moodle's question editor offers (question_bank::fraction_options_full): 0, ±1 and
# ± each of 9/10, 5/6, 4/5, 3/4, 7/10, 2/3, 3/5, 1/2, 2/5, 1/3, 3/10, 1/4, 1/5, 1/6, 1/7, 1/8,
# 1/9, 1/10, 1/20. Its XML import matches every answer's fraction to one of them (within 1e-7)
# and, by default, refuses the question when one does not match.
_GRADES = [0, 1, 9 / 10, 5 / 6, 4 / 5, 3 / 4, 7 / 10, 2 / 3, 3 / 5, 1 / 2, 2 / 5, 1 / 3, 3 / 10]
_GRADES += [1 / 4, 1 / 5, 1 / 6, 1 / 7, 1 / 8, 1 / 9, 1 / 10, 1 / 20]
MOODLE_GRADES = sorted({sign * grade for grade in _GRADES for sign in (1, -1)})


@all_backends
@pytest.mark.parametrize("slug", sorted(BANK))
def test_every_fraction_is_a_grade_moodle_accepts(
    app: Flask, client: FlaskClient, slug: str
) -> None:
    text = _exported_xml(app, client, slug)
    read = [o.score_fraction for q in moodle.parse_string(text)["multichoice"] for o in q.options]
    answers = ET.fromstring(text).iter("answer")
    read += [moodle._parse_option(answer).score_fraction for answer in answers]
    assert len(read) > len(_items(slug))
    for fraction in read:
        assert min(abs(fraction / 100 - grade) for grade in MOODLE_GRADES) < 1e-7, fraction
