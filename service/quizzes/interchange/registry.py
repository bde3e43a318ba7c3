"""The formats by name: how each is read and written, and what it is served as."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.quizzes import domain
from service.quizzes.interchange import gift, moodle_xml
from service.quizzes.interchange import json as json_format
from service.quizzes.interchange.common import InterchangeError


class UnsupportedUpload(InterchangeError):
    """The body's media type is not one the format is sent as (a 415, not a 422)."""


Reader = Callable[..., domain.Quiz]  # (text, *, slug, title) -> Quiz
Writer = Callable[[domain.Quiz, int], str]  # (quiz, example_seed) -> text


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str  # what an export is served as
    upload_media_type: str  # what an import is sent as (documented in OpenAPI)
    also_accepted: tuple[str, ...]  # other media types an import may be sent as
    extension: str  # of the exported file's name
    read: Reader
    write: Writer


FORMATS: Mapping[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format(
            "json",
            "application/json",
            "application/json",
            ("text/plain",),
            "json",
            json_format.import_json,
            lambda quiz, _seed: json_format.export_json(quiz),
        ),
        Format(
            "gift",
            "text/plain; charset=utf-8",
            "text/plain",
            (),
            "gift.txt",
            gift.import_gift,
            gift.export_gift,
        ),
        Format(
            "moodle-xml",
            "application/xml",
            "application/xml",
            ("text/xml", "text/plain"),
            "xml",
            moodle_xml.import_moodle_xml,
            moodle_xml.export_moodle_xml,
        ),
    )
}
MEDIA_TYPES = {name: fmt.media_type for name, fmt in FORMATS.items()}


def format_named(name: str) -> Format:
    """The format called `name`; InterchangeError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(FORMATS)
        raise InterchangeError(f"unknown format {name!r} (known: {known})") from None


def check_upload_media_type(fmt: str, media_type: str) -> None:
    """InterchangeError unless `media_type` (the request's, parameters stripped) is one that
    `fmt` is sent as; UnsupportedUpload says which."""
    accepted = (format_named(fmt).upload_media_type, *format_named(fmt).also_accepted)
    if media_type.lower() not in accepted:
        raise UnsupportedUpload(
            f"a {fmt} import is sent as {' or '.join(accepted)}, not "
            f"{media_type or 'a body without Content-Type'}"
        )


def export_quiz(quiz: domain.Quiz, fmt: str, *, example_seed: int = 0) -> str:
    """`quiz` as text in `fmt` (one of FORMATS); its `media_type` is the response's type."""
    return format_named(fmt).write(quiz, example_seed)


def import_quiz(
    text: str, fmt: str, *, slug: str | None = None, title: str | None = None
) -> domain.Quiz:
    """Parse and validate a quiz in `fmt`; `slug`/`title` replace (json) or name (gift,
    moodle-xml) the file's own."""
    return format_named(fmt).read(text, slug=slug, title=title)
