"""Learner, attempt, progress and quiz results payloads."""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma

from service.pagination import PageArgsSchema, page_schema
from service.quizzes.schemas import GradeResultSchema, PublicQuestionSchema, QuestionResultSchema

MAX_ANSWERS = 500


class RegisterSchema(ma.Schema):
    display_name = ma.fields.String(
        validate=ma.validate.Length(1, 100), metadata={"example": "Ada"}
    )


class RegisteredSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)
    token = ma.fields.String(
        required=True, metadata={"description": "Bearer token; shown once, keep it"}
    )
    token_expires_at = ma.fields.AwareDateTime(required=True)


class LearnerSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    from_lms = ma.fields.Function(
        lambda learner: learner.issuer is not None, metadata={"type": "boolean"}
    )


LearnerListSchema = page_schema(LearnerSchema, "LearnerList")


class AttemptSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    quiz = ma.fields.String(required=True, metadata={"description": "The quiz's slug"})
    quiz_version = ma.fields.Integer(required=True)
    attempt_number = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["open", "submitted"]})
    started_at = ma.fields.AwareDateTime(required=True)
    submitted_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    questions = ma.fields.List(ma.fields.Nested(PublicQuestionSchema), required=True)
    result = ma.fields.Nested(GradeResultSchema, allow_none=True, required=True)


class AnswersSchema(ma.Schema):
    answers = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(1, 200)),
        values=ma.fields.Raw(allow_none=True),
        required=True,
        validate=ma.validate.Length(max=MAX_ANSWERS),
        metadata={
            "description": "{question_id: answer}: a number or string (numeric), a choice id "
            "(single choice), a list of choice ids (multiple choice), a boolean (true/false)",
            "example": {"q1": "2^20"},
        },
    )


class IdempotencyHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        validate=ma.validate.Length(1, 255),
        metadata={"description": "Repeat a submission safely: the same key replays its result"},
    )


class SubmissionSchema(ma.Schema):
    attempt_id = ma.fields.UUID(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    score = ma.fields.Float(required=True)
    max_score = ma.fields.Float(required=True)
    passed = ma.fields.Boolean(required=True)
    results = ma.fields.List(ma.fields.Nested(QuestionResultSchema), required=True)


class QuizProgressSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    lesson = ma.fields.Integer(allow_none=True, required=True)
    attempts = ma.fields.Integer(required=True, metadata={"description": "Submitted attempts"})
    best_score = ma.fields.Float(allow_none=True, required=True)
    last_score = ma.fields.Float(allow_none=True, required=True)
    max_score = ma.fields.Float(required=True)
    score = ma.fields.Float(
        allow_none=True, required=True, metadata={"description": "By the quiz's scoring policy"}
    )
    passed = ma.fields.Boolean(required=True)
    last_submitted_at = ma.fields.AwareDateTime(allow_none=True, required=True)


class ProgressSchema(ma.Schema):
    learner_id = ma.fields.UUID(required=True)
    quizzes = ma.fields.List(ma.fields.Nested(QuizProgressSchema), required=True)
    lessons_completed = ma.fields.Integer(required=True)
    lessons_total = ma.fields.Integer(required=True)


class ResultRowSchema(ma.Schema):
    learner_id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)
    attempts = ma.fields.Integer(required=True)
    best_score = ma.fields.Float(allow_none=True, required=True)
    last_score = ma.fields.Float(allow_none=True, required=True)
    score = ma.fields.Float(allow_none=True, required=True)
    max_score = ma.fields.Float(required=True)
    passed = ma.fields.Boolean(required=True)
    last_submitted_at = ma.fields.AwareDateTime(allow_none=True, required=True)


QuizResultsSchema = page_schema(ResultRowSchema, "QuizResults")


class ResultsArgsSchema(PageArgsSchema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: every row, for gradebook import"},
    )


class AnalyticsArgsSchema(ma.Schema):
    attempts = ma.fields.String(
        load_default="first",
        validate=ma.validate.OneOf(["first", "all"]),
        metadata={
            "description": "first: each learner's first submitted attempt (Moodle's "
            "default); all: every submitted attempt"
        },
    )
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: one row for the quiz, then one per question"},
    )


def _percent(description: str) -> ma.fields.Float:
    return ma.fields.Float(
        allow_none=True, required=True, metadata={"description": f"{description}, in percent"}
    )


_REASONS = ma.fields.Dict(
    keys=ma.fields.String(),
    values=ma.fields.String(),
    required=True,
    metadata={"description": "Why a figure is null, by figure name"},
)


class QuestionAnalyticsSchema(ma.Schema):
    id = ma.fields.String(required=True)
    attempts = ma.fields.Integer(
        required=True, metadata={"description": "Attempts that include this question"}
    )
    max_score = ma.fields.Float(allow_none=True, required=True)
    facility_index = _percent("Mean score as a share of the question's mark")
    sd = _percent("Standard deviation of the score as a share of the mark")
    random_guess_score = _percent("Expected score of a random guess (Moodle's estimate)")
    intended_weight = _percent("The question's share of the quiz's maximum score")
    effective_weight = _percent("The question's share of the spread of the total scores")
    discrimination_index = _percent(
        "Correlation between the score on this question and on the rest of the quiz"
    )
    discriminative_efficiency = _percent(
        "Covariance with the rest of the quiz over its largest possible value"
    )
    choices = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={
            "description": "How often each choice id was picked (true/false questions: "
            "'true' and 'false')"
        },
    )
    misconceptions = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "How often each misconception id was matched"},
    )
    reasons = _REASONS


class QuizAnalyticsSchema(ma.Schema):
    """Item analysis as Moodle's quiz statistics report defines it (scores in points, indices,
    weights and alpha in percent)."""

    quiz = ma.fields.String(required=True)
    version = ma.fields.Integer(
        required=True, metadata={"description": "The current version, whose questions are listed"}
    )
    attempts_included = ma.fields.String(required=True, metadata={"enum": ["first", "all"]})
    attempts = ma.fields.Integer(required=True)
    max_score = ma.fields.Float(allow_none=True, required=True)
    mean_score = ma.fields.Float(allow_none=True, required=True)
    median_score = ma.fields.Float(allow_none=True, required=True)
    score_sd = ma.fields.Float(
        allow_none=True, required=True, metadata={"description": "Sample standard deviation"}
    )
    skewness = ma.fields.Float(allow_none=True, required=True)
    kurtosis = ma.fields.Float(allow_none=True, required=True)
    cronbach_alpha = _percent("Cronbach's alpha (Moodle's coefficient of internal consistency)")
    error_ratio = _percent("Share of the score spread that is measurement error")
    standard_error = ma.fields.Float(allow_none=True, required=True)
    questions = ma.fields.List(ma.fields.Nested(QuestionAnalyticsSchema), required=True)
    reasons = _REASONS

    @ma.pre_dump
    def flatten(self, analysis: Any, **kwargs: Any) -> dict[str, Any]:
        """An `item_analysis.ItemAnalysis` as one mapping."""
        return {
            "quiz": analysis.quiz,
            "version": analysis.version,
            "attempts_included": analysis.attempts_included,
            **dataclasses.asdict(analysis.figures),
        }
