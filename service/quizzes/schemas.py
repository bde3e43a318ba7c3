"""Quiz payloads as clients see them: no answer key, explanation or correctness field."""

from __future__ import annotations

import marshmallow as ma

from service.pagination import PageArgsSchema, page_schema
from service.quizzes.interchange import FORMATS


class QuizSummarySchema(ma.Schema):
    slug = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    lesson = ma.fields.Integer(allow_none=True, required=True)
    description = ma.fields.String(required=True)
    question_count = ma.fields.Integer(required=True)
    max_score = ma.fields.Float(required=True)


QuizListSchema = page_schema(QuizSummarySchema, "QuizList")


class QuizListArgsSchema(PageArgsSchema):
    pass


class PublicChoiceSchema(ma.Schema):
    id = ma.fields.String(required=True)
    text = ma.fields.String(required=True)


class PublicQuestionSchema(ma.Schema):
    id = ma.fields.String(required=True)
    type = ma.fields.String(
        required=True,
        metadata={"enum": ["single_choice", "multiple_choice", "true_false", "numeric"]},
    )
    prompt = ma.fields.String(required=True)
    points = ma.fields.Float(required=True)
    choices = ma.fields.List(
        ma.fields.Nested(PublicChoiceSchema), metadata={"description": "Choice types only"}
    )


class QuizSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    lesson = ma.fields.Integer(allow_none=True, required=True)
    description = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "Content version"})
    questions = ma.fields.List(ma.fields.Nested(PublicQuestionSchema), required=True)


class MisconceptionHitSchema(ma.Schema):
    id = ma.fields.String(required=True, metadata={"description": "The misconception's stable id"})
    feedback = ma.fields.String(
        required=True, metadata={"description": "What the mistake is, for the learner"}
    )


class QuestionResultSchema(ma.Schema):
    question_id = ma.fields.String(required=True)
    correct = ma.fields.Boolean(required=True)
    points = ma.fields.Float(required=True)
    max_points = ma.fields.Float(required=True)
    feedback = ma.fields.String(required=True)
    correct_answer = ma.fields.Raw(
        allow_none=True,
        required=True,
        metadata={"description": "null when the quiz's review policy withholds it"},
    )
    explanation = ma.fields.String(allow_none=True, required=True)
    misconception = ma.fields.Nested(
        MisconceptionHitSchema,
        allow_none=True,
        required=True,
        dump_default=None,
        metadata={
            "description": "The common mistake this wrong answer matches (the first in the "
            "question's order, under its tolerance); null when none does, or while the quiz's "
            "review policy withholds the correct answer"
        },
    )


class GradeResultSchema(ma.Schema):
    score = ma.fields.Float(required=True)
    max_score = ma.fields.Float(required=True)
    passed = ma.fields.Boolean(required=True)
    results = ma.fields.List(ma.fields.Nested(QuestionResultSchema), required=True)


class QuizDefinitionBodySchema(ma.Schema):
    """A quiz definition, as in the bank files (validated by the bank schema)."""

    class Meta:
        unknown = ma.INCLUDE

    slug = ma.fields.String(metadata={"description": "Lowercase words joined by '-'"})
    title = ma.fields.String(required=True)
    questions = ma.fields.List(ma.fields.Dict(), required=True)


class ExportArgsSchema(ma.Schema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(list(FORMATS)),
        metadata={"description": "json (lossless), gift or moodle-xml (for Moodle and others)"},
    )


class ImportArgsSchema(ma.Schema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(list(FORMATS)))
    slug = ma.fields.String(
        validate=ma.validate.Length(1, 80), metadata={"description": "Slug for the new quiz"}
    )
    title = ma.fields.String(validate=ma.validate.Length(1, 200))
