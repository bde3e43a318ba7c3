"""Training simulations: a small classifier trained by hand-written backprop in float64, with the
per-layer drift of its nonlinearities' inputs measured as it learns (internal covariate shift),
with and without normalization; equal to the same training in PyTorch (tests/numerics/training).

    spec = build_training_spec(dataset={"name": "digits"}, hidden_widths=[100, 100, 100],
                               activation="sigmoid", init="custom", weight_variance=0.01,
                               normalization="none", compare=["batch"])
    check_training_cost(spec, max_cost)       # CostLimitExceeded above the limit
    run = TrainingRun(spec)
    for event in run.events(): ...            # StepRecord per logged step, then TrainingSummary
    run.replay_arrays()                       # the .npz names
"""

from service.numerics.training.cost import TrainingCost, check_training_cost, training_cost
from service.numerics.training.datasets import DATASETS, Dataset, DatasetSpec, make_dataset
from service.numerics.training.records import (
    PERCENTILES,
    SATURATION_MARGIN,
    LayerRecord,
    StepRecord,
    TrainingSummary,
    VariantSummary,
)
from service.numerics.training.run import (
    TrainingResult,
    TrainingRun,
    history_arrays,
    run_training,
)
from service.numerics.training.spec import (
    INITS,
    NORMALIZATIONS,
    OPTIMIZERS,
    VARIANTS,
    NoiseSpec,
    OptimizerSpec,
    TrainingSpec,
    build_training_spec,
)

__all__ = [
    "DATASETS",
    "INITS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "PERCENTILES",
    "SATURATION_MARGIN",
    "VARIANTS",
    "Dataset",
    "DatasetSpec",
    "LayerRecord",
    "NoiseSpec",
    "OptimizerSpec",
    "StepRecord",
    "TrainingCost",
    "TrainingResult",
    "TrainingRun",
    "TrainingSpec",
    "TrainingSummary",
    "VariantSummary",
    "build_training_spec",
    "check_training_cost",
    "history_arrays",
    "make_dataset",
    "run_training",
    "training_cost",
]
