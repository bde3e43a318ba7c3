"""Marshmallow schema of a quiz definition: bank files, author uploads and JSON interchange.

`QuizDefinitionSchema().load(data)` validates a plain dict (parsed YAML or JSON) and returns a
`domain.Quiz`; errors are field-level (`{"questions": {0: {"answer": [...]}}}`).
`QuizDefinitionSchema().dump(quiz)` gives the same plain shape back, so load(dump(q)) == q.

Shape (YAML)::

    slug: activation-distribution        # lowercase words joined by '-'
    title: ...
    lesson: 1                            # optional
    description: ...                     # optional
    settings:                            # optional, each key optional
      max_attempts: null                 # null = unlimited (practice)
      pass_fraction: 0.8
      scoring_policy: highest            # highest | last | average
      shuffle_choices: true
      show_correct_answers: after_submission   # after_submission | after_pass | never
    questions:
      - id: q1-variance-20-layers
        type: numeric                    # single_choice | multiple_choice | true_false | numeric
        prompt: ...
        points: 1                        # optional, default 1
        answer: "2^20"                   # numeric: number or text the answer reader accepts
        tolerance: {kind: relative, value: 0.0001}   # absolute | relative | sig_figs
        explanation: ...
      - id: q2-...
        type: numeric
        generator: {name: propagation-variance, options: {}}   # instead of answer
        tolerance: {kind: relative, value: 0.001}
        explanation: ...                 # prompt optional: defaults to the generator's template
        misconceptions:                  # optional, in the order grading tries them
          - id: multiplied-by-depth      # one the generator computes (it gives the value)
            feedback: ...                # shown beside a wrong answer that matches
      - type: numeric                    # static: each misconception gives its value
        misconceptions: [{id: added-factors, value: 40, feedback: ...}]
      - type: single_choice / multiple_choice
        choices: [{id: a, text: ..., correct: true}, ...]
        misconceptions: [{id: dataset-shift, choice: b, feedback: ...}]   # the distractor
      - type: true_false
        answer: false
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validates_schema,
)
from marshmallow.validate import Length, OneOf, Range, Regexp

from service.quizzes import domain
from service.quizzes.generators import REGISTRY
from service.quizzes.numbers import (
    NumberFormatError,
    exact_text,
    number_from_float,
    parse_number,
)

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
MAX_QUESTIONS = 100
MAX_CHOICES = 10
MAX_SIG_FIGS = 15
MAX_POINTS = 100


def read_exact(value: object) -> Fraction:
    """A number (int, float or answer-reader text) as an exact rational; ValidationError if not."""
    if isinstance(value, bool):
        raise ValidationError("Expected a number, not a boolean.")
    try:
        if isinstance(value, int):
            return Fraction(value)
        if isinstance(value, float):
            return number_from_float(value)
        if isinstance(value, str):
            return parse_number(value)
    except NumberFormatError as error:
        raise ValidationError(f"Not a number: {error}.") from error
    raise ValidationError("Expected a number or a text such as '2^20'.")


def dump_exact(value: Fraction) -> int | float | str:
    """JSON form of an exact rational: int, float when the float reads back exactly, else text."""
    if value.denominator == 1 and abs(value.numerator) <= 2**53:
        return value.numerator
    as_float = float(value)
    if number_from_float(as_float) == value:
        return as_float
    return exact_text(value)


class ExactNumber(fields.Field[Fraction]):
    """A number read exactly: 0.1 is 1/10 and "2^20" is 1048576."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Fraction:
        return read_exact(value)

    def _serialize(self, value: Fraction | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else dump_exact(Fraction(value))


class AnswerField(fields.Field[Any]):
    """Numeric or boolean answer; kept raw on load and checked against the type by the schema."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if not isinstance(value, bool | int | float | str):
            raise ValidationError("Expected a number, a text such as '2^20', or a boolean.")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        return dump_exact(Fraction(value))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ChoiceSchema(_Strict):
    id = fields.String(
        required=True,
        validate=[Length(1, 32), Regexp(ID_PATTERN, error="Use lowercase letters, digits, '-'.")],
    )
    text = fields.String(required=True, validate=Length(1, 1000))
    correct = fields.Boolean(load_default=False)

    @post_load
    def make_choice(self, data: dict[str, Any], **kwargs: Any) -> domain.Choice:
        return domain.Choice(**data)


class ToleranceSchema(_Strict):
    kind = fields.String(required=True, validate=OneOf(domain.TOLERANCE_KINDS))
    value = ExactNumber(required=True)

    @validates_schema
    def check_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind, value = data["kind"], data["value"]
        if value < 0:
            raise ValidationError("Must be 0 or more.", "value")
        if kind == "relative" and value >= 1:
            raise ValidationError("A relative tolerance must be below 1 (0.01 is 1%).", "value")
        if kind == "sig_figs" and (value.denominator != 1 or not 1 <= value <= MAX_SIG_FIGS):
            raise ValidationError(f"A whole number from 1 to {MAX_SIG_FIGS}.", "value")

    @post_load
    def make_tolerance(self, data: dict[str, Any], **kwargs: Any) -> domain.Tolerance:
        return domain.Tolerance(**data)


class GeneratorSchema(_Strict):
    name = fields.String(required=True)
    options = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def check_generator(self, data: dict[str, Any], **kwargs: Any) -> None:
        generator = REGISTRY.get(data["name"])
        if generator is None:
            known = ", ".join(sorted(REGISTRY)) or "none"
            raise ValidationError(f"Unknown generator (known: {known}).", "name")
        try:
            generator.check_options(data["options"])
        except ValueError as error:
            raise ValidationError(str(error), "options") from error


class MisconceptionSchema(_Strict):
    id = fields.String(
        required=True,
        validate=[Length(1, 64), Regexp(ID_PATTERN, error="Use lowercase letters, digits, '-'.")],
    )
    feedback = fields.String(required=True, validate=Length(1, 2000))
    value = ExactNumber(load_default=None, allow_none=True)
    choice = fields.String(load_default=None, allow_none=True, validate=Length(1, 32))

    @post_load
    def make_misconception(self, data: dict[str, Any], **kwargs: Any) -> domain.Misconception:
        return domain.Misconception(**data)

    @post_dump
    def drop_empty(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


class SettingsSchema(_Strict):
    max_attempts = fields.Integer(
        load_default=None, allow_none=True, validate=Range(min=1, max=1000)
    )
    pass_fraction = ExactNumber(load_default=Fraction(4, 5))
    scoring_policy = fields.String(load_default="highest", validate=OneOf(domain.SCORING_POLICIES))
    shuffle_choices = fields.Boolean(load_default=True)
    show_correct_answers = fields.String(
        load_default="after_submission", validate=OneOf(domain.REVIEW_POLICIES)
    )

    @validates_schema
    def check_pass_fraction(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not 0 <= data["pass_fraction"] <= 1:
            raise ValidationError("Must be between 0 and 1.", "pass_fraction")

    @post_load
    def make_settings(self, data: dict[str, Any], **kwargs: Any) -> domain.QuizSettings:
        return domain.QuizSettings(**data)


_NOT_FOR = {
    domain.SINGLE_CHOICE: ("answer", "tolerance", "generator"),
    domain.MULTIPLE_CHOICE: ("answer", "tolerance", "generator"),
    domain.TRUE_FALSE: ("choices", "tolerance", "generator"),
    domain.NUMERIC: ("choices",),
}


class QuestionSchema(_Strict):
    id = fields.String(
        required=True,
        validate=[Length(1, 64), Regexp(ID_PATTERN, error="Use lowercase letters, digits, '-'.")],
    )
    type = fields.String(required=True, validate=OneOf(domain.QUESTION_TYPES))
    prompt = fields.String(load_default=None, validate=Length(1, 4000))
    points = ExactNumber(load_default=Fraction(1))
    choices = fields.List(fields.Nested(ChoiceSchema), load_default=None)
    answer = AnswerField(load_default=None, allow_none=True)
    tolerance = fields.Nested(ToleranceSchema, load_default=None, allow_none=True)
    explanation = fields.String(required=True, validate=Length(1, 4000))
    generator = fields.Method(
        "dump_generator", "load_generator", load_default=None, allow_none=True
    )
    misconceptions = fields.List(fields.Nested(MisconceptionSchema), load_default=None)

    def dump_generator(self, question: domain.Question) -> dict[str, Any] | None:
        if question.generator is None:
            return None
        return {"name": question.generator.name, "options": dict(question.generator_options)}

    def load_generator(self, value: Any) -> tuple[domain.QuestionGenerator, dict[str, Any]]:
        data = GeneratorSchema().load(value)
        return REGISTRY[data["name"]], data["options"]

    @validates_schema
    def check_question(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        kind = data["type"]
        for key in _NOT_FOR[kind]:
            if data.get(key) not in (None, []):
                errors.setdefault(key, []).append(f"Not allowed for a {kind} question.")
        points = data["points"]
        if not 0 < points <= MAX_POINTS:
            errors.setdefault("points", []).append(f"Must be above 0 and at most {MAX_POINTS}.")
        if kind in domain.CHOICE_TYPES:
            errors.update(_choice_errors(kind, data.get("choices")))
        elif kind == domain.TRUE_FALSE and not isinstance(data.get("answer"), bool):
            errors.setdefault("answer", []).append("A true/false question needs true or false.")
        elif kind == domain.NUMERIC:
            errors.update(_numeric_errors(data))
        if data.get("prompt") is None and data.get("generator") is None:
            errors.setdefault("prompt", []).append("Missing data for required field.")
        if errors:
            raise ValidationError(errors)

    @post_load
    def make_question(self, data: dict[str, Any], **kwargs: Any) -> domain.Question:
        generator, options = data.pop("generator") or (None, {})
        if data["prompt"] is None and generator is not None:
            data["prompt"] = generator.template
        if data["type"] == domain.NUMERIC and data["answer"] is not None:
            data["answer"] = read_exact(data["answer"])
        data["choices"] = tuple(data["choices"] or ())
        data["misconceptions"] = tuple(data["misconceptions"] or ())
        question = domain.Question(
            **{**data, "misconceptions": ()}, generator=generator, generator_options=options
        )
        try:  # the misconceptions' forms and collisions are the domain's checks
            return replace(question, misconceptions=data["misconceptions"])
        except ValueError as error:
            raise ValidationError(str(error), "misconceptions") from error

    @post_dump
    def drop_empty(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value not in (None, [])}


def _choice_errors(kind: str, choices: list[domain.Choice] | None) -> dict[str, list[str]]:
    if not choices or not 2 <= len(choices) <= MAX_CHOICES:
        return {"choices": [f"A choice question needs 2 to {MAX_CHOICES} choices."]}
    messages = []
    if len({choice.id for choice in choices}) != len(choices):
        messages.append("Choice ids must be unique within the question.")
    correct = sum(choice.correct for choice in choices)
    if kind == domain.SINGLE_CHOICE and correct != 1:
        messages.append(f"Exactly one choice must be correct (found {correct}).")
    if kind == domain.MULTIPLE_CHOICE and correct < 1:
        messages.append("At least one choice must be correct.")
    return {"choices": messages} if messages else {}


def _numeric_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    answer, generator = data.get("answer"), data.get("generator")
    if data.get("tolerance") is None:
        errors["tolerance"] = ["A numeric question needs a tolerance."]
    if answer is None and generator is None:
        errors["answer"] = ["A numeric question needs an answer or a generator."]
    elif answer is not None and generator is not None:
        errors["answer"] = ["A generated question computes its answer: remove 'answer'."]
    elif answer is not None:
        try:
            read_exact(answer)
        except ValidationError as error:
            errors["answer"] = [str(message) for message in _flat(error.messages)]
    return errors


def _flat(messages: Any) -> list[Any]:
    return messages if isinstance(messages, list) else [messages]


class QuizDefinitionSchema(_Strict):
    slug = fields.String(
        required=True,
        validate=[
            Length(1, 80),
            Regexp(SLUG_PATTERN, error="Lowercase words joined by '-' (e.g. layer-norm)."),
        ],
    )
    title = fields.String(required=True, validate=Length(1, 200))
    lesson = fields.Integer(load_default=None, allow_none=True, validate=Range(min=1))
    description = fields.String(load_default="", validate=Length(0, 4000))
    settings = fields.Nested(SettingsSchema, load_default=domain.QuizSettings)
    questions = fields.List(
        fields.Nested(QuestionSchema), required=True, validate=Length(1, MAX_QUESTIONS)
    )

    @validates_schema
    def check_unique_ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[str] = set()
        for question in data["questions"]:
            if question.id in seen:
                raise ValidationError(f"Question id {question.id!r} is used twice.", "questions")
            seen.add(question.id)

    @post_load
    def make_quiz(self, data: dict[str, Any], **kwargs: Any) -> domain.Quiz:
        data["questions"] = tuple(data["questions"])
        return domain.Quiz(**data)


def load_quiz(data: Mapping[str, Any]) -> domain.Quiz:
    """Validate a quiz definition and build it; raises marshmallow.ValidationError."""
    quiz: domain.Quiz = QuizDefinitionSchema().load(data)
    return quiz


def dump_quiz(quiz: domain.Quiz) -> dict[str, Any]:
    """The plain (JSON/YAML) definition of `quiz`; `load_quiz` reads it back to an equal quiz."""
    data: dict[str, Any] = QuizDefinitionSchema().dump(quiz)
    return data
