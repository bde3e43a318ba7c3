"""Quiz persistence: versions, the bank seed, listing and authoring.

Each distinct content of a quiz is a row of `quiz_versions` (found again by its content hash), so
a changed bank file or an author's PUT adds a version and attempts keep the one they started on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.orm import Session, object_session

from service.db import utcnow
from service.errors import Conflict, NotFound, Unprocessable, UnsupportedMediaType
from service.pagination import Page, PageRequest, paginate
from service.quizzes import domain
from service.quizzes.bank_loader import content_hash, load_bank
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.interchange import (
    InterchangeError,
    UnsupportedUpload,
    check_upload_media_type,
    export_quiz,
    import_quiz,
)
from service.quizzes.models import QuizRecord, QuizVersion
from service.quizzes.read_model import QuizReadModel, RenderedQuiz, of_session


@dataclass(frozen=True)
class QuizSummary:
    slug: str
    title: str
    lesson: int | None
    description: str
    question_count: int
    max_score: float


@dataclass(frozen=True)
class CurrentQuiz:
    """A quiz's current version: its row ids, number and content hash, and the domain quiz."""

    quiz_id: int
    version_id: int
    version: int
    content_hash: str
    quiz: domain.Quiz


def quiz_of_version(version: QuizVersion) -> domain.Quiz:
    """The built quiz of a version row (inside its session's transaction)."""
    session = object_session(version)
    if session is None:
        raise LookupError("the quiz version is not attached to a session")
    return of_session(session).quiz(version.content_hash, lambda: version.definition)


def _max_score(quiz: domain.Quiz) -> float:
    return float(sum(question.points for question in quiz.questions))


def upsert_quiz(session: Session, quiz: domain.Quiz, *, source: str) -> str:
    """Make `quiz` the current version of its slug, inside the caller's transaction.

    Returns "created", "updated" or "unchanged". A soft-deleted quiz is restored only by an
    author's write (source "author"), never by the bank seed."""
    definition = dump_quiz(quiz)
    digest = content_hash(quiz)
    record = session.scalar(
        select(QuizRecord).where(QuizRecord.slug == quiz.slug).with_for_update()
    )
    now = utcnow()
    if record is None:
        record = QuizRecord(
            slug=quiz.slug,
            title=quiz.title,
            lesson=quiz.lesson,
            description=quiz.description,
            question_count=len(quiz.questions),
            max_score=_max_score(quiz),
            current_version=1,
            source=source,
            created_at=now,
            updated_at=now,
        )
        session.add(record)
        session.flush()
        session.add(
            QuizVersion(quiz_id=record.id, version=1, content_hash=digest, definition=definition)
        )
        return "created"
    if record.deleted_at is not None and source == "bank":
        return "unchanged"
    existing = session.scalar(
        select(QuizVersion).where(
            QuizVersion.quiz_id == record.id, QuizVersion.content_hash == digest
        )
    )
    if (
        existing is not None
        and existing.version == record.current_version
        and (record.deleted_at is None)
    ):
        return "unchanged"
    if existing is None:
        latest = session.scalar(
            select(func.max(QuizVersion.version)).where(QuizVersion.quiz_id == record.id)
        )
        existing = QuizVersion(
            quiz_id=record.id,
            version=(latest or 0) + 1,
            content_hash=digest,
            definition=definition,
        )
        session.add(existing)
    record.current_version = existing.version
    record.title = quiz.title
    record.lesson = quiz.lesson
    record.description = quiz.description
    record.question_count = len(quiz.questions)
    record.max_score = _max_score(quiz)
    record.deleted_at = None
    record.updated_at = now
    return "updated"


def seed_quizzes(session: Session, quizzes: list[domain.Quiz]) -> dict[str, str]:
    """Load the bank's quizzes in one transaction; {slug: created|updated|unchanged}."""
    with session.begin():
        return {quiz.slug: upsert_quiz(session, quiz, source="bank") for quiz in quizzes}


def seed_bank(session: Session) -> str:
    """Load service/quizzes/bank/ (the `flask seed` step); one line per quiz."""
    outcome = seed_quizzes(session, [entry.quiz for entry in load_bank()])
    return "\n".join(f"quiz {slug}: {state}" for slug, state in outcome.items())


def list_quizzes(session: Session, page: PageRequest) -> Page[QuizSummary]:
    """One page of the active quizzes, in lesson order."""
    with session.begin():
        records = paginate(
            session,
            select(QuizRecord)
            .where(QuizRecord.deleted_at.is_(None))
            .order_by(QuizRecord.lesson.asc().nulls_last(), QuizRecord.slug),
            page,
        )
    return records.map(
        lambda r: QuizSummary(
            r.slug, r.title, r.lesson, r.description, r.question_count, r.max_score
        )
    )


def current_quiz(session: Session, slug: str) -> CurrentQuiz:
    """The current version of an active quiz (call inside a transaction); NotFound otherwise.

    It selects the version's ids and hash, not its definition, which is read only when the
    quiz is not built in this process yet."""
    row = session.execute(_current_version_statement(), {"slug": slug}).first()
    if row is None:
        raise NotFound(f"There is no quiz {slug!r}.")
    quiz_id, version_id, version, digest = row
    return CurrentQuiz(quiz_id, version_id, version, digest, quiz_of(session, digest, version_id))


def quiz_of(session: Session, digest: str, version_id: int) -> domain.Quiz:
    """The built quiz of the version with content hash `digest` and id `version_id`; its
    definition is read (inside the caller's transaction) only when the app's read model
    lacks it."""

    def definition() -> Mapping[str, Any]:
        stored = session.scalar(select(QuizVersion.definition).where(QuizVersion.id == version_id))
        if stored is None:
            raise NotFound(f"There is no quiz version {version_id}.")
        return stored

    return of_session(session).quiz(digest, definition)


_SelectT = TypeVar("_SelectT", bound=Select)


def with_current_version(select_: _SelectT) -> _SelectT:
    """`select_` (from quizzes) joined to the current version of the active quiz whose slug is
    the bind parameter `slug`."""
    return select_.join(QuizVersion, QuizVersion.quiz_id == QuizRecord.id).where(
        QuizRecord.slug == bindparam("slug"),
        QuizRecord.deleted_at.is_(None),
        QuizVersion.version == QuizRecord.current_version,
    )


# Built once: making a select and its cache key costs more than running it on these tables.
@functools.cache
def _current_version_statement() -> Select[int, int, int, str]:
    return with_current_version(
        select(QuizRecord.id, QuizVersion.id, QuizVersion.version, QuizVersion.content_hash)
    )


def get_current_quiz(session: Session, slug: str) -> CurrentQuiz:
    """`current_quiz` in its own transaction (for reading only)."""
    with session.begin():
        return current_quiz(session, slug)


def rendered_quiz(
    model: QuizReadModel,
    session: Callable[[], Session],
    slug: str,
    render: Callable[[CurrentQuiz], bytes],
) -> RenderedQuiz:
    """The GET body of `slug`'s current version, rendered by `render` once per version: from
    the app's read model (`current`, for QUIZ_CACHE_SECONDS) without opening a session, else
    after asking the database (a `session()`) which version is current."""
    rendered = model.current.get(slug)
    if rendered is None:
        reader = session()
        rendered = rendered_version(reader, get_current_quiz(reader, slug), render)
        model.current.put(slug, rendered)
    return rendered


def rendered_version(
    session: Session, current: CurrentQuiz, render: Callable[[CurrentQuiz], bytes]
) -> RenderedQuiz:
    """The GET body of the version `current` (rendered by `render` on the read model's miss)."""
    return of_session(session).render(
        current.content_hash, current.version, lambda: render(current)
    )


Precondition = Callable[[CurrentQuiz], None]
"""Called inside a write's transaction with the quiz's current version, the quiz row locked,
before anything is written; it raises to refuse the write (the routes compare If-Match)."""


def create_quiz(session: Session, definition: Mapping[str, Any]) -> CurrentQuiz:
    """An author's new quiz; Conflict when an active quiz has the slug. A soft-deleted quiz's
    slug is free again: the quiz comes back with this content as a new version (its past
    attempts kept)."""
    return _create(session, load_quiz(definition))


def import_quiz_text(
    session: Session,
    body: bytes,
    media_type: str,
    fmt: str,
    *,
    slug: str | None,
    title: str | None,
) -> CurrentQuiz:
    """A new quiz from a JSON, GIFT or Moodle XML body (validated as bank files are).

    Refused alike on every backend, before anything is written: a media type the format is not
    sent as (415); a body that is not UTF-8 or holds NUL, which PostgreSQL cannot store (422)."""
    try:
        check_upload_media_type(fmt, media_type)
    except UnsupportedUpload as exc:
        raise UnsupportedMediaType(f"The body's Content-Type is wrong: {exc}.") from exc
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (
            f"the body is not UTF-8 text: byte {exc.start} (0x{body[exc.start]:02x}) is invalid"
        )
        raise Unprocessable(message, errors={"body": [message]}) from exc
    if "\x00" in text:
        message = f"the body holds a NUL character (U+0000) at offset {text.index(chr(0))}"
        raise Unprocessable(message, errors={"body": [message]})
    try:
        quiz = import_quiz(text, fmt, slug=slug, title=title)
    except InterchangeError as exc:
        raise Unprocessable(str(exc), errors={"body": [str(exc)]}) from exc
    return _create(session, quiz)


def export_quiz_text(session: Session, slug: str, fmt: str) -> str:
    """The current version of `slug` as JSON, GIFT or Moodle XML (answers included)."""
    return export_quiz(get_current_quiz(session, slug).quiz, fmt)


def _create(session: Session, quiz: domain.Quiz) -> CurrentQuiz:
    with session.begin():
        active = session.scalar(
            select(QuizRecord.id).where(
                QuizRecord.slug == quiz.slug, QuizRecord.deleted_at.is_(None)
            )
        )
        if active is not None:
            raise Conflict(
                f"A quiz with slug {quiz.slug!r} exists; PUT it (with If-Match) to change it."
            )
        upsert_quiz(session, quiz, source="author")
        created = current_quiz(session, quiz.slug)
    of_session(session).current.forget(quiz.slug)
    return created


def replace_quiz(
    session: Session, slug: str, definition: Mapping[str, Any], *, precondition: Precondition
) -> CurrentQuiz:
    """An author's new version of the active quiz `slug` (the definition's slug must match the
    path); NotFound when there is none, whatever `precondition` would say."""
    quiz = load_quiz({**definition, "slug": definition.get("slug", slug)})
    if quiz.slug != slug:
        raise Conflict(f"The definition's slug {quiz.slug!r} differs from the path's {slug!r}.")
    with session.begin():
        precondition(_locked_current(session, slug))
        upsert_quiz(session, quiz, source="author")
        replaced = current_quiz(session, slug)
    of_session(session).current.forget(slug)
    return replaced


def delete_quiz(session: Session, slug: str, *, precondition: Precondition) -> None:
    """Soft-delete: hidden from listings and new attempts; past attempts and results remain."""
    with session.begin():
        precondition(_locked_current(session, slug))
        session.execute(
            update(QuizRecord).where(QuizRecord.slug == slug).values(deleted_at=utcnow())
        )
    of_session(session).current.forget(slug)


def _locked_current(session: Session, slug: str) -> CurrentQuiz:
    """The current version of the active quiz `slug`, its row locked until the transaction
    ends (PostgreSQL: FOR UPDATE; SQLite: writes begin IMMEDIATE); NotFound otherwise."""
    locked = session.scalar(
        select(QuizRecord.id)
        .where(QuizRecord.slug == slug, QuizRecord.deleted_at.is_(None))
        .with_for_update()
    )
    if locked is None:
        raise NotFound(f"There is no quiz {slug!r}.")
    return current_quiz(session, slug)
