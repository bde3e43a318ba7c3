"""Classification data sets for the training simulations, drawn from an explicit rng.

Every set is (x, y) with x float64 (samples, features) and y int64 class indices, shuffled and
split into a training and a held-out test part (round(samples · test_fraction) test rows):

    blobs         class k around a centre c_k ~ N(0, (3/√features)² I); x = c_k + N(0, noise² I)
    circles       class k on the ring of radius (k + 1)/classes, radial jitter N(0, noise²)
    spirals       `classes` interleaved arms: r = t, angle = 2π(1.25 t + k/classes), t ~ U(0, 1),
                  plus N(0, noise²) jitter on both coordinates
    xor           (x₁, x₂) ~ U(-1, 1)²; class = [x₁ > 0] xor [x₂ > 0] (two classes)
    checkerboard  (x₁, x₂) ~ U(-1, 1)² on a 4 × 4 board; class = (column + row) mod classes
    teacher       x ~ N(0, I); class = argmax of a random tanh network (features → 32 → classes)
                  whose logits get N(0, noise²) noise
    digits        the UCI 8 × 8 handwritten digits shipped in data/ (see data/LICENSE.md), pixel
                  counts / 16 in [0, 1]; classes c keeps the digits 0 … c-1

The two-dimensional patterns (circles, spirals, xor, checkerboard) fill the first two features;
any further feature is an uninformative N(0, 1) distractor. blobs, circles and spirals cycle the
labels through the classes (balanced); the others take the labels the geometry gives.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from service.numerics.errors import NumericsError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DATASETS: Final = ("blobs", "circles", "spirals", "xor", "checkerboard", "teacher", "digits")
PLANAR: Final = frozenset({"circles", "spirals", "xor", "checkerboard"})
DEFAULT_NOISE: Final = {
    "blobs": 1.0,
    "circles": 0.05,
    "spirals": 0.05,
    "xor": 0.0,
    "checkerboard": 0.0,
    "teacher": 0.0,
    "digits": 0.0,
}
# Rows per digit 0-9 in data/digits.csv.gz (a test checks these against the file).
DIGITS_CLASS_COUNTS: Final = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
DIGITS_FEATURES: Final = 64
MIN_SAMPLES: Final = 10
MAX_SAMPLES: Final = 20_000
MAX_CLASSES: Final = 32
MAX_FEATURES: Final = 512
TEACHER_WIDTH: Final = 32
SPIRAL_TURNS: Final = 1.25
CHECKERBOARD_CELLS: Final = 4


@dataclass(frozen=True)
class DatasetSpec:
    """A validated data set request (build it with build_dataset_spec)."""

    name: str
    samples: int
    classes: int
    features: int
    noise: float
    test_fraction: float

    @property
    def test_rows(self) -> int:
        return max(1, round(self.samples * self.test_fraction))

    @property
    def train_rows(self) -> int:
        return self.samples - self.test_rows


@dataclass(frozen=True)
class Dataset:
    """x_train (n_train, features), y_train (n_train,), x_test, y_test; float64 and int64."""

    spec: DatasetSpec
    x_train: FloatArray
    y_train: IntArray
    x_test: FloatArray
    y_test: IntArray


def _field_int(values: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = values.get(key)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise NumericsError(
            f"dataset.{key} must be an integer in [{low}, {high}]", field=f"dataset.{key}"
        )
    return int(value)


def _field_number(
    values: Mapping[str, Any], key: str, default: float, low: float, high: float
) -> float:
    value = values.get(key)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NumericsError(f"dataset.{key} must be a number", field=f"dataset.{key}")
    if not (math.isfinite(value) and low <= value <= high):
        raise NumericsError(f"dataset.{key} must be in [{low:g}, {high:g}]", field=f"dataset.{key}")
    return float(value)


def build_dataset_spec(dataset: Mapping[str, Any] | DatasetSpec) -> DatasetSpec:
    """Validate the `dataset` object; missing or null fields take the data set's defaults
    (digits: all 1,797 rows, 10 classes, 64 features; others: 600 rows, 2 classes, 2 features)."""
    if isinstance(dataset, DatasetSpec):
        dataset = dataset.__dict__
    if not isinstance(dataset, Mapping):
        raise NumericsError("dataset must be an object", field="dataset")
    unknown = sorted(set(dataset) - set(DatasetSpec.__dataclass_fields__))
    if unknown:
        raise NumericsError(f"unknown field {unknown[0]!r}", field=f"dataset.{unknown[0]}")
    name = dataset.get("name")
    if not isinstance(name, str) or name not in DATASETS:
        raise NumericsError(
            f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}",
            field="dataset.name",
        )
    if name == "digits":
        classes = _field_int(dataset, "classes", 10, 2, len(DIGITS_CLASS_COUNTS))
        available = sum(DIGITS_CLASS_COUNTS[:classes])
        samples = _field_int(dataset, "samples", available, MIN_SAMPLES, available)
        features = _field_int(
            dataset, "features", DIGITS_FEATURES, DIGITS_FEATURES, DIGITS_FEATURES
        )
        noise = _field_number(dataset, "noise", 0.0, 0.0, 0.0)
    else:
        classes = _field_int(dataset, "classes", 2, 2, 2 if name == "xor" else MAX_CLASSES)
        samples = _field_int(dataset, "samples", 600, MIN_SAMPLES, MAX_SAMPLES)
        low = 2 if name in PLANAR else 1
        features = _field_int(dataset, "features", 2, low, MAX_FEATURES)
        noise = _field_number(dataset, "noise", DEFAULT_NOISE[name], 0.0, 100.0)
    test_fraction = _field_number(dataset, "test_fraction", 0.25, 0.0, 0.9)
    spec = DatasetSpec(name, samples, classes, features, noise, test_fraction)
    if test_fraction == 0.0 or spec.train_rows < 2:
        raise NumericsError(
            "dataset.test_fraction must leave at least 2 training rows and 1 test row",
            field="dataset.test_fraction",
        )
    return spec


def _balanced_labels(rng: np.random.Generator, samples: int, classes: int) -> IntArray:
    return rng.permutation(np.arange(samples, dtype=np.int64) % classes)


def _blobs(spec: DatasetSpec, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    centres = rng.standard_normal((spec.classes, spec.features)) * (3.0 / math.sqrt(spec.features))
    y = _balanced_labels(rng, spec.samples, spec.classes)
    x = centres[y] + spec.noise * rng.standard_normal((spec.samples, spec.features))
    return x, y


def _circles(spec: DatasetSpec, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    y = _balanced_labels(rng, spec.samples, spec.classes)
    angle = rng.uniform(0.0, 2.0 * math.pi, spec.samples)
    radius = (y + 1.0) / spec.classes + spec.noise * rng.standard_normal(spec.samples)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), y


def _spirals(spec: DatasetSpec, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    y = _balanced_labels(rng, spec.samples, spec.classes)
    t = rng.uniform(0.0, 1.0, spec.samples)
    angle = 2.0 * math.pi * (SPIRAL_TURNS * t + y / spec.classes)
    planar = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return planar + spec.noise * rng.standard_normal((spec.samples, 2)), y


def _board(spec: DatasetSpec, rng: np.random.Generator, cells: int) -> tuple[FloatArray, IntArray]:
    planar = rng.uniform(-1.0, 1.0, (spec.samples, 2))
    cell = np.minimum(((planar + 1.0) * (cells / 2.0)).astype(np.int64), cells - 1)
    y = (cell[:, 0] + cell[:, 1]) % spec.classes
    return planar + spec.noise * rng.standard_normal((spec.samples, 2)), y


def _teacher(spec: DatasetSpec, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    x = rng.standard_normal((spec.samples, spec.features))
    hidden = rng.standard_normal((spec.features, TEACHER_WIDTH)) * math.sqrt(2.0 / spec.features)
    readout = rng.standard_normal((TEACHER_WIDTH, spec.classes)) * math.sqrt(2.0 / TEACHER_WIDTH)
    logits = np.tanh(x @ hidden) @ readout
    logits += spec.noise * rng.standard_normal(logits.shape)
    return x, np.argmax(logits, axis=1).astype(np.int64)


def load_digits() -> tuple[NDArray[np.uint8], IntArray]:
    """The shipped digits: pixels (1797, 64) uint8 in 0..16 and labels (1797,) int64."""
    raw = files("service.numerics.training").joinpath("data", "digits.csv.gz").read_bytes()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.uint8)
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


def _digits(spec: DatasetSpec, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    pixels, labels = load_digits()
    rows = np.flatnonzero(labels < spec.classes)
    chosen = np.sort(rng.permutation(rows)[: spec.samples])
    return pixels[chosen] / 16.0, labels[chosen]


def make_dataset(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    """Draw the data set, then split it: a permutation of the rows puts the first test_rows in
    the test part and the rest, in that order, in the training part."""
    if spec.name == "digits":
        x, y = _digits(spec, rng)
    elif spec.name == "blobs":
        x, y = _blobs(spec, rng)
    elif spec.name == "circles":
        x, y = _circles(spec, rng)
    elif spec.name == "spirals":
        x, y = _spirals(spec, rng)
    elif spec.name in ("xor", "checkerboard"):
        x, y = _board(spec, rng, 2 if spec.name == "xor" else CHECKERBOARD_CELLS)
    else:
        x, y = _teacher(spec, rng)
    if spec.name in PLANAR and spec.features > 2:
        x = np.column_stack([x, rng.standard_normal((spec.samples, spec.features - 2))])
    order = rng.permutation(spec.samples)
    test, train = order[: spec.test_rows], order[spec.test_rows :]
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    return Dataset(
        spec=spec,
        x_train=np.ascontiguousarray(x[train]),
        y_train=y[train].copy(),
        x_test=np.ascontiguousarray(x[test]),
        y_test=y[test].copy(),
    )
