"""SGD and Adam over the flat parameter vector, with torch.optim's update rules.

With p the parameters, g their gradient, λ the weight decay and t the step (1, 2, ...):

    sgd   d = g + λ·p;  buf = d at t = 1, else buf = μ·buf + d;  p ← p - lr·buf
          (μ = 0: p ← p - lr·d)                       torch.optim.SGD, dampening 0, no Nesterov
    adam  d = g + λ·p;  m ← m + (1 - β₁)(d - m);  v ← β₂·v + (1 - β₂)·d²
          p ← p - lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)      torch.optim.Adam, no amsgrad

Weight decay applies to every parameter (weights, biases, scales and shifts), as torch.optim does
with one parameter group.
"""

from __future__ import annotations

import math

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.training.spec import OptimizerSpec


class Optimizer:
    """Updates a flat float64 parameter vector in place from its gradient."""

    def __init__(self, spec: OptimizerSpec, size: int) -> None:
        self.spec = spec
        self.steps = 0
        self._direction = np.empty(size)
        self._first = np.zeros(size) if spec.name == "adam" or spec.momentum else None
        self._second = np.zeros(size) if spec.name == "adam" else None

    def step(self, params: FloatArray, grads: FloatArray) -> None:
        """One update; `grads` is left unchanged."""
        spec = self.spec
        self.steps += 1
        direction = self._direction
        if spec.weight_decay:
            np.multiply(params, spec.weight_decay, out=direction)
            direction += grads
        else:
            np.copyto(direction, grads)
        if spec.name == "adam":
            self._adam(params, direction)
            return
        if self._first is not None:
            if self.steps == 1:
                np.copyto(self._first, direction)
            else:
                self._first *= spec.momentum
                self._first += direction
            np.multiply(self._first, spec.learning_rate, out=direction)
        else:
            direction *= spec.learning_rate
        params -= direction

    def _adam(self, params: FloatArray, direction: FloatArray) -> None:
        spec = self.spec
        first, second = self._first, self._second
        assert first is not None
        assert second is not None
        beta1, beta2 = spec.betas
        second *= beta2
        second += (1.0 - beta2) * direction * direction
        # torch's lerp(m, d, w): m + w·(d - m) for w < 0.5, d - (d - m)·(1 - w) otherwise.
        weight = 1.0 - beta1
        difference = direction - first
        if weight < 0.5:
            difference *= weight
            first += difference
        else:
            difference *= 1.0 - weight
            np.subtract(direction, difference, out=first)
        step_size = spec.learning_rate / (1.0 - beta1**self.steps)
        correction = math.sqrt(1.0 - beta2**self.steps)
        np.sqrt(second, out=direction)
        direction /= correction
        direction += spec.eps
        np.divide(first, direction, out=direction)
        direction *= step_size
        params -= direction
