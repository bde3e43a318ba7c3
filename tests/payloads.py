"""Request bodies the tests send, encoded by numpy itself (independent of the service's codecs)."""

from __future__ import annotations

import io

import numpy as np


def npy(array: np.ndarray) -> bytes:
    """`array` as an .npy file (np.save)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    """The arrays as an .npz archive (np.savez), one member per keyword."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
