"""The oracle: a run replayed in PyTorch (float64, torch.nn modules, torch.optim) from the arrays
the numpy run exposes (initial parameters, batch order, probe rows, noise), with the logged
statistics recomputed from torch's own tensors."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from service.numerics.training import TrainingSpec

PERCENTILE_Q = torch.tensor([0.15, 0.50, 0.85], dtype=torch.float64)


def _activation(spec: TrainingSpec) -> nn.Module:
    return {
        "linear": nn.Identity(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(spec.negative_slope),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "gelu": nn.GELU(),
        "selu": nn.SELU(),
    }[spec.activation]


def _norm(spec: TrainingSpec, variant: str, width: int) -> nn.Module:
    kind = "batch" if variant == "noisy_batch" else variant
    options = {"eps": spec.eps, "dtype": torch.float64}
    if kind == "batch":
        return nn.BatchNorm1d(width, momentum=spec.momentum, **options)
    if kind == "layer":
        return nn.LayerNorm(width, **options)
    if kind == "group":
        return nn.GroupNorm(spec.groups, width, **options)
    if kind == "rms":
        return nn.RMSNorm(width, **options)
    return nn.Identity()


class TorchNet(nn.Module):
    """input → (Linear → norm → [noise] → φ) × L → Linear, from the run's initial arrays."""

    def __init__(self, spec: TrainingSpec, variant: str, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        widths = spec.widths
        self.variant = variant
        # No bias before batch norm (network.ParameterLayout): the BN paper's layer.
        batch = variant in ("batch", "noisy_batch")
        self.linears = nn.ModuleList(
            nn.Linear(
                widths[i],
                widths[i + 1],
                bias=not (batch and i < len(spec.hidden_widths)),
                dtype=torch.float64,
            )
            for i in range(len(widths) - 1)
        )
        self.norms = nn.ModuleList(_norm(spec, variant, w) for w in spec.hidden_widths)
        self.activation = _activation(spec)
        with torch.no_grad():
            for index, linear in enumerate(self.linears):
                linear.weight.copy_(torch.from_numpy(arrays[f"initial_weight_{index + 1}"].T))
                if linear.bias is not None:
                    linear.bias.copy_(torch.from_numpy(arrays[f"initial_bias_{index + 1}"]))
            for index, norm in enumerate(self.norms):
                if getattr(norm, "weight", None) is not None:
                    norm.weight.copy_(torch.from_numpy(arrays[f"initial_scale_{index + 1}"]))
                if getattr(norm, "bias", None) is not None:
                    norm.bias.copy_(torch.from_numpy(arrays[f"initial_shift_{index + 1}"]))
        self.noise: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.captured: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.captured = []
        for index, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=False)):
            z = norm(linear(x))
            if self.noise is not None and self.training:
                scale, shift = self.noise[index]
                z = z * scale + shift
            self.captured.append(z.detach())
            x = self.activation(z)
        return self.linears[-1](x)

    def hidden_weights(self) -> list[nn.Parameter]:
        return [linear.weight for linear in self.linears[:-1]]


@dataclass
class Replay:
    batch_loss: list[float] = field(default_factory=list)
    records: dict[int, dict[str, object]] = field(default_factory=dict)


def _optimizer(spec: TrainingSpec, model: nn.Module) -> torch.optim.Optimizer:
    opt = spec.optimizer
    if opt.name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=opt.learning_rate,
            momentum=opt.momentum,
            weight_decay=opt.weight_decay,
        )
    return torch.optim.Adam(
        model.parameters(),
        lr=opt.learning_rate,
        betas=opt.betas,
        eps=opt.eps,
        weight_decay=opt.weight_decay,
    )


def noise_rows(
    arrays: dict[str, np.ndarray], row: int, layers: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (
            torch.from_numpy(arrays[f"noise_scale_{layer}"][row]),
            torch.from_numpy(arrays[f"noise_shift_{layer}"][row]),
        )
        for layer in range(1, layers + 1)
    ]


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in model.named_buffers()}


def _restore(model: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    for name, b in model.named_buffers():
        b.copy_(saved[name])


def replay(
    spec: TrainingSpec, variant: str, arrays: dict[str, np.ndarray], *, statistics: bool = True
) -> Replay:
    """Train the torch model on the run's batches; at the logged steps recompute the record.
    One torch thread: the tensors are small, and a second thread only waits for a core on a
    shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _replay(spec, variant, arrays, statistics)
    finally:
        torch.set_num_threads(threads)


def _replay(
    spec: TrainingSpec, variant: str, arrays: dict[str, np.ndarray], statistics: bool
) -> Replay:
    model = TorchNet(spec, variant, arrays)
    optimizer = _optimizer(spec, model)
    x_train = torch.from_numpy(arrays["x_train"])
    y_train = torch.from_numpy(arrays["y_train"])
    x_test = torch.from_numpy(arrays["x_test"])
    y_test = torch.from_numpy(arrays["y_test"])
    probe = x_train[torch.from_numpy(arrays["probe_indices"])]
    probe_y = y_train[torch.from_numpy(arrays["probe_indices"])]
    layers = len(spec.hidden_widths)
    noisy = variant == "noisy_batch"
    logged = set(spec.logged_steps)
    result = Replay()
    previous_sorted: list[torch.Tensor] | None = None
    update: dict[str, list[float]] | None = None
    for step in range(spec.steps + 1):
        if step > 0:
            rows = torch.from_numpy(arrays["batch_indices"][step - 1])
            x, y = x_train[rows], y_train[rows]
            model.train()
            model.noise = noise_rows(arrays, step - 1, layers) if noisy else None
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            result.batch_loss.append(loss.item())
            if not np.isfinite(loss.item()):
                break
            if statistics and step in logged:
                before = copy.deepcopy(model)
                gradients = [w.grad.clone() for w in model.hidden_weights()]
            optimizer.step()
            if statistics and step in logged:
                update = _update_figures(model, before, gradients, x, y)
        if not statistics or step not in logged:
            continue
        record: dict[str, object] = {}
        model.eval()
        with torch.no_grad():
            for split, xs, ys in (("train", probe, probe_y), ("test", x_test, y_test)):
                logits = model(xs)
                record[f"{split}_loss"] = F.cross_entropy(logits, ys).item()
                record[f"{split}_accuracy"] = (logits.argmax(1) == ys).double().mean().item()
            model.train()
            model.noise = noise_rows(arrays, step, layers) if noisy else None
            saved = _buffers(model)
            model(probe)
            _restore(model, saved)
        zs = model.captured
        sorted_now = [torch.sort(z, dim=0).values for z in zs]
        record["layers"] = [
            _distribution(
                spec, z, sorted_now[i], None if previous_sorted is None else previous_sorted[i]
            )
            for i, z in enumerate(zs)
        ]
        if update is not None:
            for i, layer in enumerate(record["layers"]):  # type: ignore[arg-type]
                layer.update({k: v[i] for k, v in update.items()})
        previous_sorted = sorted_now
        result.records[step] = record
    return result


def _distribution(
    spec: TrainingSpec, z: torch.Tensor, now: torch.Tensor, before: torch.Tensor | None
) -> dict[str, object]:
    low, high = spec.histogram_range
    figures: dict[str, object] = {
        "mean": z.mean().item(),
        "variance": z.var(unbiased=False).item(),
        "unit_percentiles": torch.quantile(z[:, spec.tracked_unit], PERCENTILE_Q).tolist(),
        "layer_percentiles": torch.quantile(z.flatten(), PERCENTILE_Q).tolist(),
        "histogram": torch.histc(z, bins=spec.histogram_bins, min=low, max=high).long().tolist(),
        "below_range": int((z < low).sum()),
        "above_range": int((z > high).sum()),
        "distribution_shift": None if before is None else (now - before).abs().mean().item(),
    }
    threshold = {"sigmoid": math.log(99.0), "tanh": math.atanh(0.99)}.get(spec.activation)
    figures["saturated_fraction"] = (
        None if threshold is None else (z.abs() >= threshold).double().mean().item()
    )
    return figures


def _update_figures(
    model: TorchNet,
    before: TorchNet,
    gradients: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> dict[str, list[float]]:
    """‖G‖, ‖ΔW‖/‖W‖, and Santurkar's ‖G - G′‖ and cos(G, G′) per hidden layer."""
    figures: dict[str, list[float]] = {
        k: [] for k in ("grad_norm", "update_ratio", "gradient_shift", "gradient_cosine")
    }
    for index, gradient in enumerate(gradients):
        mixed = copy.deepcopy(before)
        with torch.no_grad():
            for lower in range(index):
                mixed.linears[lower].load_state_dict(model.linears[lower].state_dict())
                norm_params = dict(model.norms[lower].named_parameters())
                for name, p in mixed.norms[lower].named_parameters():
                    p.copy_(norm_params[name])
        mixed.train()
        mixed.noise = before.noise
        mixed.zero_grad()
        F.cross_entropy(mixed(x), y).backward()
        shifted = mixed.linears[index].weight.grad
        w_before = before.linears[index].weight.detach()
        w_after = model.linears[index].weight.detach()
        figures["grad_norm"].append(torch.linalg.norm(gradient).item())
        figures["update_ratio"].append(
            (torch.linalg.norm(w_after - w_before) / torch.linalg.norm(w_before)).item()
        )
        figures["gradient_shift"].append(torch.linalg.norm(gradient - shifted).item())
        figures["gradient_cosine"].append(
            (
                torch.sum(gradient * shifted)
                / (torch.linalg.norm(gradient) * torch.linalg.norm(shifted))
            ).item()
        )
    return figures
