"""Payloads of the instructor API: the class view and a re-sent grade."""

from __future__ import annotations

import marshmallow as ma


class ClassMemberSchema(ma.Schema):
    user_id = ma.fields.String(metadata={"description": "The LMS user id (NRPS `user_id`)"})
    name = ma.fields.String(allow_none=True)
    role = ma.fields.String(metadata={"description": "learner or staff, by the role policy"})
    status = ma.fields.String(
        metadata={"description": "Active or Inactive (NRPS); Unknown when not on the roster"}
    )
    learner_id = ma.fields.UUID(allow_none=True)
    state = ma.fields.String(metadata={"description": "not_started, in_progress or submitted"})
    attempts = ma.fields.Integer(metadata={"description": "Submitted attempts on the quiz"})
    best_score = ma.fields.Float(allow_none=True)
    last_submitted_at = ma.fields.DateTime(allow_none=True)


class ClassQuestionAnalyticsSchema(ma.Schema):
    id = ma.fields.String()
    attempts = ma.fields.Integer()
    max_score = ma.fields.Float(allow_none=True)
    facility_index = ma.fields.Float(allow_none=True)
    sd = ma.fields.Float(allow_none=True)
    discrimination_index = ma.fields.Float(allow_none=True)
    discriminative_efficiency = ma.fields.Float(allow_none=True)
    choices = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "How often each choice id was picked"},
    )
    misconceptions = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "How often each misconception id was matched"},
    )
    reasons = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class ClassAnalyticsSchema(ma.Schema):
    """Item analysis (Moodle's definitions) of this course's learners' first attempts."""

    attempts = ma.fields.Integer()
    max_score = ma.fields.Float(allow_none=True)
    mean_score = ma.fields.Float(allow_none=True)
    median_score = ma.fields.Float(allow_none=True)
    score_sd = ma.fields.Float(allow_none=True)
    cronbach_alpha = ma.fields.Float(allow_none=True)
    questions = ma.fields.List(ma.fields.Nested(ClassQuestionAnalyticsSchema))
    reasons = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class ClassViewSchema(ma.Schema):
    context_id = ma.fields.String(metadata={"description": "The LMS course (context) id"})
    course_title = ma.fields.String(allow_none=True)
    quiz = ma.fields.String(metadata={"description": "The slug of the link's quiz"})
    quiz_title = ma.fields.String()
    max_score = ma.fields.Float()
    roster_synced_at = ma.fields.DateTime(allow_none=True)
    roster_error = ma.fields.String(
        allow_none=True, metadata={"description": "Why the roster shown may be out of date"}
    )
    members = ma.fields.List(ma.fields.Nested(ClassMemberSchema))
    not_started = ma.fields.List(ma.fields.Nested(ClassMemberSchema))
    analytics = ma.fields.Nested(ClassAnalyticsSchema)


class ResendSchema(ma.Schema):
    user_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 255),
        metadata={"description": "The member whose grade to send again"},
    )


class QueuedGradeSchema(ma.Schema):
    user_id = ma.fields.String()
    attempt_id = ma.fields.UUID()
    score_given = ma.fields.Float()
    score_maximum = ma.fields.Float()
    queued_at = ma.fields.DateTime()
