"""Generated numeric questions: numbers drawn per attempt, answers computed by service.numerics.

Each generator has a `template` (the preview prompt, without numbers), `draw(rng, options)`
(rng: `domain.SeededDraws`, stable across numpy versions), `render(params)`, `answer(params)` and
`explain(params)` (the worked numbers, shown after grading). `params` hold only ints, floats and
lists, so an attempt can store them. Bank questions name a generator in REGISTRY and may narrow
its draws with `options` (checked by `check_options`). Bump `version` whenever a change would
alter the numbers or answers drawn for an existing seed: it is part of the quiz content hash.

- `normalization`: one element of a small array normalized by one variant
- `propagation`: the variance after L linear or ReLU layers
- `batch_size`: the noise of batch statistics (first-order variance, the pair at batch size 2)
"""

from __future__ import annotations

from collections.abc import Mapping

from service.quizzes.domain import QuestionGenerator
from service.quizzes.generators.batch_size import BATCH_NORM_NOISE_VARIANCE, BATCH_NORM_PAIR
from service.quizzes.generators.normalization import (
    BATCH_NORM_ELEMENT,
    GROUP_NORM_ELEMENT,
    INSTANCE_NORM_ELEMENT,
    LAYER_NORM_ELEMENT,
    NormalizationElement,
)
from service.quizzes.generators.propagation import (
    LINEAR_VARIANCE_PROPAGATION,
    RELU_VARIANCE_PROPAGATION,
    LinearVariancePropagation,
    ReluVariancePropagation,
)


def _registry(*generators: QuestionGenerator) -> dict[str, QuestionGenerator]:
    return {generator.name: generator for generator in generators}


REGISTRY: Mapping[str, QuestionGenerator] = _registry(
    LINEAR_VARIANCE_PROPAGATION,
    RELU_VARIANCE_PROPAGATION,
    LAYER_NORM_ELEMENT,
    BATCH_NORM_ELEMENT,
    GROUP_NORM_ELEMENT,
    INSTANCE_NORM_ELEMENT,
    BATCH_NORM_NOISE_VARIANCE,
    BATCH_NORM_PAIR,
)

__all__ = [
    "BATCH_NORM_ELEMENT",
    "BATCH_NORM_NOISE_VARIANCE",
    "BATCH_NORM_PAIR",
    "GROUP_NORM_ELEMENT",
    "INSTANCE_NORM_ELEMENT",
    "LAYER_NORM_ELEMENT",
    "LINEAR_VARIANCE_PROPAGATION",
    "REGISTRY",
    "RELU_VARIANCE_PROPAGATION",
    "LinearVariancePropagation",
    "NormalizationElement",
    "ReluVariancePropagation",
]
