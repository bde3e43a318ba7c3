"""Fused normalization kernels (numba), forward and backward, for every variant.

Every variant is seen as an array x of shape (A, B, K), C-contiguous, with one statistic per b
over the axes a and k (batch: (N, C, S); instance: (1, N·C, S); group: (1, N·G, C/G·S); layer and
rms: (1, rows, K)). An affine parameter is shared by a run of `segment` consecutive values of a
row, and run j of group b uses parameter p = (b mod period)·(K / segment) + j (batch: segment K,
period C; instance: segment S, period C; group: segment S, period G; layer and rms: segment 1,
period 1, so p = k).

A group is read once for its statistics (`statistics`, float64) and once more to normalize it
(`outputs`) or for its gradients (`gradients`), from cache when the group fits there. Groups are
taken a tile at a time, as many as fit in BLOCK values: first the statistics of every group in
the tile, then their outputs, in separate loops (short groups run 1.5x faster so). The forward
pass normalizes in the input's dtype, the backward pass in float64; outputs are written in the
input's dtype. Runs of consecutive groups go to the threads (`prange`).

Inner loops run over 1-D C-contiguous views from index 0 (`for k in range(view.size)`): with
a loop starting at an unknown index, numba's negative-index wraparound stops vectorization (4x
slower). How the kernels are compiled and cached: `options`.
"""

from service.numerics.normalization.kernels.gradients import backward
from service.numerics.normalization.kernels.outputs import forward

__all__ = ["backward", "forward"]
