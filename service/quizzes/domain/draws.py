"""Seeds and stable random draws: what makes an attempt replayable.

An attempt's seed is derived from (learner, quiz, attempt number); every random choice of the
attempt (generated numbers, choice order) is drawn from it, per question and purpose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def _key_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def derive_seed(learner_key: str, quiz_slug: str, attempt_number: int) -> int:
    """Stable 63-bit seed from sha256(learner, quiz, attempt): fits a signed BIGINT column."""
    if isinstance(attempt_number, bool) or not isinstance(attempt_number, int):
        raise TypeError("attempt_number must be an int")
    if attempt_number < 1:
        raise ValueError("attempt_number starts at 1")
    payload = json.dumps([learner_key, quiz_slug, attempt_number], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(payload.encode("utf-8")).digest()[:8], "big") >> 1


class SeededDraws:
    """Random draws for one (seed, question, purpose), stable across numpy versions.

    Built on PCG64 seeded by a SeedSequence (both fixed algorithms) and reading raw 64-bit
    outputs; `np.random.Generator` methods may change their streams between numpy releases,
    which would silently change stored attempts on replay.
    """

    def __init__(self, seed: int, *keys: str) -> None:
        entropy = [seed & (2**64 - 1), *(_key_int(key) for key in keys)]
        self._bits = np.random.PCG64(np.random.SeedSequence(entropy))

    def _raw(self) -> int:
        return int(self._bits.random_raw())

    def integer(self, low: int, high: int) -> int:
        """Uniform integer in [low, high] (both inclusive), by rejection: no modulo bias."""
        if high < low:
            raise ValueError("high < low")
        span = high - low + 1
        limit = (2**64 // span) * span
        while True:
            raw = self._raw()
            if raw < limit:
                return low + raw % span

    def choice(self, options: Sequence[T]) -> T:
        """One element of `options`, uniformly."""
        if not options:
            raise ValueError("no options to choose from")
        return options[self.integer(0, len(options) - 1)]

    def permutation(self, n: int) -> list[int]:
        """A uniform permutation of range(n) (Fisher–Yates)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.integer(0, i)
            order[i], order[j] = order[j], order[i]
        return order
