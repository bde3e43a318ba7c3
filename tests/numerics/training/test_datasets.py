"""The seeded data sets and the shipped digits."""

from __future__ import annotations

import gzip
import hashlib
import tomllib
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from service.numerics.training.datasets import (
    DATASETS,
    DIGITS_CLASS_COUNTS,
    build_dataset_spec,
    load_digits,
    make_dataset,
)

DATA = files("service.numerics.training").joinpath("data")
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def _make(name: str, seed: int = 3, **fields: object):  # type: ignore[no-untyped-def]
    return make_dataset(build_dataset_spec({"name": name, **fields}), np.random.default_rng(seed))


@pytest.mark.parametrize("name", DATASETS)
def test_every_data_set_has_the_requested_shape_and_labels(name: str) -> None:
    fields = {} if name == "digits" else {"samples": 200, "classes": 2, "features": 5}
    data = _make(name, **fields)
    spec = data.spec
    assert data.x_train.shape == (spec.train_rows, spec.features)
    assert data.x_test.shape == (spec.test_rows, spec.features)
    assert data.x_train.dtype == data.x_test.dtype == np.float64
    assert data.y_train.dtype == data.y_test.dtype == np.int64
    assert np.isfinite(data.x_train).all()
    labels = np.concatenate([data.y_train, data.y_test])
    assert set(np.unique(labels)) == set(range(spec.classes))
    assert data.x_train.flags.c_contiguous


@pytest.mark.parametrize("name", DATASETS)
def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_data(name: str) -> None:
    first, again, other = _make(name, 3), _make(name, 3), _make(name, 4)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(first, field).tobytes() == getattr(again, field).tobytes()
    assert first.x_train.tobytes() != other.x_train.tobytes()


def test_the_split_is_a_partition_of_the_drawn_rows() -> None:
    data = _make("digits", samples=300, classes=3, test_fraction=0.2)
    assert (data.spec.train_rows, data.spec.test_rows) == (240, 60)
    rows = {tuple((row * 16).astype(int)) for row in np.vstack([data.x_train, data.x_test])}
    assert len(rows) >= 295  # distinct images (the file holds a few exact duplicates)
    assert set(np.concatenate([data.y_train, data.y_test])) == {0, 1, 2}
    assert data.x_train.min() >= 0.0
    assert data.x_train.max() <= 1.0


def test_balanced_sets_cycle_the_labels_and_planar_sets_add_distractors() -> None:
    blobs = _make("blobs", samples=300, classes=3, features=4)
    counts = np.bincount(np.concatenate([blobs.y_train, blobs.y_test]))
    assert counts.tolist() == [100, 100, 100]
    circles = _make("circles", samples=400, classes=2, features=3, noise=0.0)
    radius = np.hypot(circles.x_train[:, 0], circles.x_train[:, 1])
    np.testing.assert_allclose(radius, (circles.y_train + 1) / 2)
    assert abs(np.corrcoef(circles.x_train[:, 2], circles.y_train)[0, 1]) < 0.2
    xor = _make("xor", samples=400)
    expected = (xor.x_train[:, 0] > 0) ^ (xor.x_train[:, 1] > 0)
    assert (xor.y_train == expected).all()


def test_the_shipped_digits_are_the_uci_file_with_its_license() -> None:
    raw = DATA.joinpath("digits.csv.gz").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DIGITS_SHA256
    assert len(gzip.decompress(raw).splitlines()) == 1797
    pixels, labels = load_digits()
    assert pixels.shape == (1797, 64)
    assert pixels.max() == 16
    assert tuple(np.bincount(labels).tolist()) == DIGITS_CLASS_COUNTS
    license_text = DATA.joinpath("LICENSE.md").read_text()
    assert "CC BY 4.0" in license_text
    assert "10.24432/C50P49" in license_text
    assert DIGITS_SHA256 in license_text


def test_the_data_files_are_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["service.numerics.training"]
    package = Path(str(DATA)).parent
    shipped = {p.name for pattern in patterns for p in package.glob(pattern)}
    assert shipped == {"digits.csv.gz", "LICENSE.md"}
