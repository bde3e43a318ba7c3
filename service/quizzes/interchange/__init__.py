"""Export quizzes to JSON, GIFT and Moodle XML, and import them back: one module per format
(`json`, `gift`, `moodle_xml`, each saying what it carries) and `registry`, the formats by name.

Generated questions cannot travel as generators: GIFT and Moodle XML get one instantiated example
(numbers drawn with `example_seed`), marked as such in a comment. Multiple choice is exported with
Moodle's weights, +100/k for each of the k right choices and −100/k for each wrong one, which
Moodle sums and clamps to [0, 1]: the same partial credit as `domain.grade`.

Import raises `InterchangeError` for text that is not the format or uses a question type this
service does not have, and `marshmallow.ValidationError` (field-level) for an invalid quiz.
"""

from marshmallow import ValidationError

from service.quizzes.interchange.common import InterchangeError, plain_decimal
from service.quizzes.interchange.gift import gift_escape, gift_unescape
from service.quizzes.interchange.registry import (
    FORMATS,
    MEDIA_TYPES,
    Format,
    UnsupportedUpload,
    check_upload_media_type,
    export_quiz,
    format_named,
    import_quiz,
)

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Format",
    "InterchangeError",
    "UnsupportedUpload",
    "ValidationError",
    "check_upload_media_type",
    "export_quiz",
    "format_named",
    "gift_escape",
    "gift_unescape",
    "import_quiz",
    "plain_decimal",
]
