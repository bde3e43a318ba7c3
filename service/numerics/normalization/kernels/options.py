"""How the kernels are compiled and cached; every kernel module imports this before it defines
a jitted function.

- Threading layer: TBB (see `_runtime`).
- fastmath: reordering sums lets LLVM vectorize the reductions. No flag that assumes finite
  values (NaN and infinity must reach the checks), no approximate division, and no "nsz": with
  reassoc and nsz together LLVM rewrites (x - shift) - offset as x - (shift + offset), which
  loses the digits the offset keeps (8.96e-9 instead of 1e-15 at a float64 mean of 1e8).
- Helpers are inlined (HELPER): a call passes array views (reference counts) and stops
  vectorization at the call.
- Cache: numba keys a function's cached code on the source of its own file only, but the
  kernels inline helpers from the package's other modules. `KernelSources` locators key every
  kernel's cache on the digest of all the package's modules, so a change to any of them
  recompiles every kernel. They are put first in numba's locator list (numba's own
  NUMBA_CACHE_LOCATOR_CLASSES setting), and serve only functions defined in this package.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import numba
from numba.core import caching

from service.numerics.normalization import _runtime

numba.config.THREADING_LAYER = _runtime.LAYER  # type: ignore[attr-defined]

_FAST = {"reassoc", "contract"}
KERNEL: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": _FAST, "error_model": "numpy"}
HELPER: dict[str, Any] = {**KERNEL, "inline": "always"}

PACKAGE = Path(__file__).resolve().parent


@cache
def _digest(package: Path, stamps: tuple[tuple[str, int, int], ...]) -> bytes:
    """sha256 over a package's modules, given as (name, mtime_ns, size): read again only when
    one of them changes."""
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return digest.digest()


def sources_digest(package: Path = PACKAGE) -> bytes:
    """The digest of every module (*.py) in a package directory, in name order."""
    stats = [(path.name, path.stat()) for path in sorted(package.glob("*.py"))]
    stamps = tuple((name, stat.st_mtime_ns, stat.st_size) for name, stat in stats)
    return _digest(package, stamps)


class KernelSources:
    """A numba cache locator mixin: only for functions of this package, stamped with the digest
    of all its modules instead of the function's own file."""

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if Path(py_file).resolve().parent != PACKAGE:
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]

    def get_source_stamp(self) -> bytes:
        return sources_digest()


class UserDirectoryLocator(KernelSources, caching.UserProvidedCacheLocator):
    """The kernels' cache in NUMBA_CACHE_DIR, when it is set."""


class InTreeLocator(KernelSources, caching.InTreeCacheLocator):
    """The kernels' cache in the package's __pycache__ otherwise."""


def _use_locators() -> None:
    """Put the kernels' locators before the configured ones (or numba's default list), in
    numba's config and in the environment, which numba reads again before each compilation."""
    ours = [f"{__name__}.{cls.__name__}" for cls in (UserDirectoryLocator, InTreeLocator)]
    configured = numba.config.CACHE_LOCATOR_CLASSES  # type: ignore[attr-defined]
    default = [cls.__name__ for cls in caching.CacheImpl._locator_classes]
    rest = configured.split(",") if configured else default
    names = ",".join(dict.fromkeys([*ours, *(name.strip() for name in rest)]))
    numba.config.CACHE_LOCATOR_CLASSES = names  # type: ignore[attr-defined]
    os.environ["NUMBA_CACHE_LOCATOR_CLASSES"] = names


_use_locators()
