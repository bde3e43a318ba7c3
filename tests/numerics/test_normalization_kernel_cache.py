"""The kernels' on-disk cache is keyed on every module of the kernel package: the kernels inline
helpers from other modules, and numba alone would key each on its own file."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import numba
import pytest

from service.numerics.normalization import kernels
from service.numerics.normalization.kernels import options
from service.numerics.normalization.kernels.options import (
    InTreeLocator,
    UserDirectoryLocator,
    sources_digest,
)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    copy = tmp_path / "kernels"
    copy.mkdir()
    for module in options.PACKAGE.glob("*.py"):
        shutil.copy(module, copy / module.name)
    return copy


@pytest.mark.parametrize("module", ["statistics.py", "outputs.py", "gradients.py", "options.py"])
def test_a_change_to_any_module_changes_the_digest(package: Path, module: str) -> None:
    before = sources_digest(package)
    assert sources_digest(package) == before
    with (package / module).open("a") as source:
        source.write("# changed\n")
    assert sources_digest(package) != before


def test_a_new_module_changes_the_digest(package: Path) -> None:
    before = sources_digest(package)
    (package / "extra.py").write_text("X = 1\n")
    assert sources_digest(package) != before


@pytest.mark.parametrize("kernel", [kernels.forward, kernels.backward])
def test_every_kernel_is_cached_under_the_package_digest(kernel: object) -> None:
    locator = kernel._cache._impl.locator  # type: ignore[attr-defined]
    assert isinstance(locator, (UserDirectoryLocator, InTreeLocator))
    assert locator.get_source_stamp() == sources_digest()


def test_the_locators_serve_only_the_kernel_package() -> None:
    def elsewhere() -> int:
        return 1

    assert InTreeLocator.from_function(elsewhere, inspect.getfile(elsewhere)) is None
    names = numba.config.CACHE_LOCATOR_CLASSES.split(",")  # type: ignore[attr-defined]
    assert names[:2] == [
        "service.numerics.normalization.kernels.options.UserDirectoryLocator",
        "service.numerics.normalization.kernels.options.InTreeLocator",
    ]
    assert "InTreeCacheLocator" in names  # numba's own locators stay, for every other function
