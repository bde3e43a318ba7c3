"""Goal 4: training simulations (issue 17), in process.

Subject: `service.numerics.training`, on one BLAS thread as the service runs it, on the batch
normalization paper's set-up: the UCI digits, 3 hidden layers of 100 sigmoid units, weights
N(0, 0.01), SGD (learning rate 0.5), batches of 60, 1,000 steps, with every statistic of a
record every 10 steps (101 records: probe-batch distributions of each layer, evaluation of the
probe rows and the test split, Santurkar's gradient shift, update ratios). Baseline: the same
training in PyTorch CPU (float64, torch.nn modules, torch.optim.SGD, two threads) without
statistics: forward, loss, backward, step and `loss.item()` per step, on the same initial
weights and batches. One row without and one with batch norm; the notes give numpy without
statistics, numpy on the default BLAS threads and torch on one thread. A check confirms both
sides computed the same losses (1e-9 relative). `python -m bench` tunes glibc's allocator as
gunicorn's workers do (service/simulations/allocator.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import Check, Context
from bench.stats import Ratio, interleave, median, pair_ratio

STEPS, LOG_EVERY, BATCH = 1000, 10, 60
TORCH_THREADS = 2
# torch's OpenMP threads spin for milliseconds after a call; a pause lets them park before
# numpy is timed (see bench/normalize.py).
SETTLE_S = 0.05


def spec(normalization: str, log_every: int = LOG_EVERY) -> Any:
    from service.numerics.training import build_training_spec

    return build_training_spec(
        dataset={"name": "digits"},
        hidden_widths=[100, 100, 100],
        activation="sigmoid",
        init="custom",
        weight_variance=0.01,
        normalization=normalization,
        optimizer={"name": "sgd", "learning_rate": 0.5},
        batch_size=BATCH,
        steps=STEPS,
        log_every=log_every,
        seed=0,
    )


def torch_training(arrays: dict[str, np.ndarray], normalization: str) -> Callable[[], list[float]]:
    """The same training in torch: nn.Linear (weight = Wᵀ; no bias before batch norm, as the
    numpy network) → [BatchNorm1d] → Sigmoid, × 3, → nn.Linear; cross_entropy; SGD."""
    import torch
    from torch import nn

    def build() -> tuple[nn.Module, torch.optim.Optimizer]:
        layers: list[nn.Module] = []
        for index in range(4):
            weight = torch.from_numpy(arrays[f"initial_weight_{index + 1}"].T.copy())
            hidden = index < 3
            biased = not (hidden and normalization == "batch")
            linear = nn.Linear(*weight.shape[::-1], bias=biased, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(weight)
                if linear.bias is not None:
                    linear.bias.zero_()
            layers.append(linear)
            if hidden:
                if normalization == "batch":
                    layers.append(nn.BatchNorm1d(weight.shape[0], dtype=torch.float64))
                layers.append(nn.Sigmoid())
        model = nn.Sequential(*layers)
        return model, torch.optim.SGD(model.parameters(), lr=0.5)

    x = torch.from_numpy(arrays["x_train"])
    y = torch.from_numpy(arrays["y_train"])
    batches = torch.from_numpy(arrays["batch_indices"])

    def run() -> list[float]:
        model, optimizer = build()
        losses = []
        for step in range(STEPS):
            rows = batches[step]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return run


def _settled(function: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        time.sleep(SETTLE_S)
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    return run


def _one_blas_thread(function: Callable[[], Any]) -> Callable[[], Any] | None:
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return None

    def run() -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return function()

    return run


def measure(context: Context, normalization: str) -> None:
    import torch

    from service.numerics.training import run_training

    subject_spec, quiet_spec = spec(normalization), spec(normalization, log_every=STEPS)
    result = run_training(subject_spec)
    arrays = result.arrays
    baseline = torch_training(arrays, normalization)
    default_threads = torch.get_num_threads()

    def with_threads(threads: int) -> Callable[[], list[float]]:
        def run() -> list[float]:
            torch.set_num_threads(threads)
            try:
                return baseline()
            finally:
                torch.set_num_threads(default_threads)

        return run

    torch_losses = np.array(with_threads(TORCH_THREADS)())
    difference = float(np.max(np.abs(arrays["batch_loss"] - torch_losses) / torch_losses))
    context.checks.append(
        Check(
            "4 training",
            f"{normalization}: numpy and torch minibatch losses agree over {STEPS} steps",
            f"max relative difference {difference:.1e}",
            "<= 1e-9",
            difference <= 1e-9,
        )
    )
    # The subject runs as the service runs it: on one BLAS thread (service/simulations/blas.py).
    service = _one_blas_thread(lambda: run_training(subject_spec))
    quiet = _one_blas_thread(lambda: run_training(quiet_spec))
    if service is None or quiet is None:
        context.say("training: skipped, threadpoolctl (the dev extra) is missing")
        return
    subjects: dict[str, Callable[[], float]] = {
        "numpy": _settled(service),
        "torch": _settled(with_threads(TORCH_THREADS)),
        "numpy_quiet": _settled(quiet),
        "torch1": _settled(with_threads(1)),
        "numpy_default_blas": _settled(lambda: run_training(subject_spec)),
    }
    samples = interleave(subjects, repeats=context.reps(7, 3), budget_s=context.reps(60, 20))
    figures = {name: median(values) * 1e3 for name, values in samples.items()}
    _, noise = pair_ratio(samples["numpy"], samples["torch"])
    label = "no normalization" if normalization == "none" else "batch norm"
    context.ratios.append(
        Ratio(
            "4 training",
            f"3x100 sigmoid, {label}, {STEPS} steps, statistics every {LOG_EVERY}: "
            f"numpy (one BLAS thread, as the service) / torch without statistics (in process)",
            "service.numerics.training",
            f"torch.nn + torch.optim, {TORCH_THREADS} threads",
            figures["numpy"],
            figures["torch"],
            goal=1.0,
            noise=noise,
            note=f"numpy without statistics {figures['numpy_quiet']:.0f} ms; torch 1 thread "
            f"{figures['torch1']:.0f} ms ({figures['numpy'] / figures['torch1']:.2f}x); numpy on "
            f"the default BLAS threads {figures['numpy_default_blas']:.0f} ms",
        )
    )


def run(context: Context) -> None:
    for normalization in ("none", "batch"):
        context.say(f"training: {normalization}, numpy with statistics vs torch without")
        measure(context, normalization)
