"""The quiz domain: pure (numpy, the standard library and the stdlib-only number reader
`service.quizzes.numbers`), one module per reason to change:

- `questions`: question types, tolerances, settings and the quiz (the content and its invariants)
- `draws`: attempt seeds and random draws that stay stable across numpy versions
- `instances`: a quiz as one attempt sees it, and the answer-free views
- `answers`: reading a learner's raw answers (or every reason they cannot be read)
- `grading`: credit, feedback and score
- `misconceptions`: the mistakes behind wrong answers, and when two answers collide
- `review`: the review policy (when the key and explanations are shown)
- `scoring`: the scoring policy across attempts and attempt limits

Grading is a function of (quiz version, attempt seed, answers) only, so any attempt can be
replayed. The names below are the domain's public surface: import them from this package.
"""

from service.quizzes.domain.answers import UnreadableAnswer, check_answers, read_answers
from service.quizzes.domain.draws import SeededDraws, derive_seed
from service.quizzes.domain.grading import (
    NOT_ANSWERED,
    GradeResult,
    QuestionResult,
    grade,
    grade_instances,
)
from service.quizzes.domain.instances import (
    instantiate,
    instantiate_question,
    json_number,
    public_view,
)
from service.quizzes.domain.misconceptions import Misconception
from service.quizzes.domain.questions import (
    CHOICE_TYPES,
    MULTIPLE_CHOICE,
    NUMERIC,
    QUESTION_TYPES,
    REVIEW_POLICIES,
    SCORING_POLICIES,
    SINGLE_CHOICE,
    TOLERANCE_KINDS,
    TRUE_FALSE,
    AnswerMemo,
    Choice,
    Instances,
    InstantiatedQuestion,
    Question,
    QuestionGenerator,
    Quiz,
    QuizSettings,
    Tolerance,
    as_fraction,
    misconception_problem,
)
from service.quizzes.domain.review import apply_review_policy
from service.quizzes.domain.scoring import attempts_left, progress_fraction
from service.quizzes.numbers import number_from_float

__all__ = [
    "CHOICE_TYPES",
    "MULTIPLE_CHOICE",
    "NOT_ANSWERED",
    "NUMERIC",
    "QUESTION_TYPES",
    "REVIEW_POLICIES",
    "SCORING_POLICIES",
    "SINGLE_CHOICE",
    "TOLERANCE_KINDS",
    "TRUE_FALSE",
    "AnswerMemo",
    "Choice",
    "GradeResult",
    "Instances",
    "InstantiatedQuestion",
    "Misconception",
    "Question",
    "QuestionGenerator",
    "QuestionResult",
    "Quiz",
    "QuizSettings",
    "SeededDraws",
    "Tolerance",
    "UnreadableAnswer",
    "apply_review_policy",
    "as_fraction",
    "attempts_left",
    "check_answers",
    "derive_seed",
    "grade",
    "grade_instances",
    "instantiate",
    "instantiate_question",
    "json_number",
    "misconception_problem",
    "number_from_float",
    "progress_fraction",
    "public_view",
    "read_answers",
]
