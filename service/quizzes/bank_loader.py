"""Read and validate the quiz bank (`service/quizzes/bank/*.yaml|*.yml|*.json`).

One quiz per file, named after its slug. Each quiz comes with a content hash: sha256 of the
canonical JSON of its validated definition plus the versions of the generators it uses. Layout,
comments and key order in a file do not change the hash; any change to what a learner sees or how
answers are graded does, so the seeder can store a new version and leave old attempts on theirs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.domain import Quiz

BANK_DIR = Path(__file__).resolve().parent / "bank"
BANK_SUFFIXES = (".yaml", ".yml", ".json")


class BankError(ValueError):
    """A bank file that cannot be loaded; `errors` holds field-level messages when known."""

    def __init__(self, path: Path, message: str, errors: Any = None) -> None:
        detail = f": {json.dumps(errors, default=str)}" if errors is not None else ""
        super().__init__(f"{path.name}: {message}{detail}")
        self.path = path
        self.errors = errors


@dataclass(frozen=True)
class BankEntry:
    quiz: Quiz
    content_hash: str
    path: Path


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def content_hash(quiz: Quiz) -> str:
    """Version identifier of a quiz's content: hex sha256 of its canonical definition."""
    generators = {
        question.generator.name: question.generator.version
        for question in quiz.questions
        if question.generator is not None
    }
    canonical = json.dumps(
        {"definition": dump_quiz(quiz), "generator_versions": generators},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_definition_text(text: str, suffix: str = ".yaml") -> Any:
    """Parse a definition file's text (YAML, or JSON for '.json') into plain data."""
    if suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def load_bank_file(path: Path) -> BankEntry:
    """Load and validate one bank file; raise BankError naming the file and the fields."""
    try:
        data = parse_definition_text(path.read_text(encoding="utf-8"), path.suffix)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, json.JSONDecodeError) as error:
        raise BankError(path, f"cannot read: {error}") from error
    if not isinstance(data, dict):
        raise BankError(path, "the file must hold one quiz (a mapping)")
    try:
        quiz = load_quiz(data)
    except ValidationError as error:
        raise BankError(path, "invalid quiz definition", error.messages) from error
    if quiz.slug != path.stem:
        raise BankError(path, f"the file must be named after the slug: {quiz.slug}{path.suffix}")
    return BankEntry(quiz=quiz, content_hash=content_hash(quiz), path=path)


def load_bank(directory: Path | None = None) -> tuple[BankEntry, ...]:
    """Every quiz of the bank, validated, ordered by lesson then slug."""
    folder = BANK_DIR if directory is None else directory
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in BANK_SUFFIXES)
    entries = [load_bank_file(path) for path in paths]
    seen: dict[str, Path] = {}
    for entry in entries:
        if entry.quiz.slug in seen:
            raise BankError(entry.path, f"slug also used by {seen[entry.quiz.slug].name}")
        seen[entry.quiz.slug] = entry.path
    entries.sort(key=lambda e: (e.quiz.lesson is None, e.quiz.lesson or 0, e.quiz.slug))
    return tuple(entries)
