"""landscape: error surfaces of neural networks, studied with thousands of training runs at once.

>>> import optax, jax
>>> import landscape as ls
>>> model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
>>> data = ls.datasets.xor()
>>> loss_fn = ls.objectives.loss(model, "mse")
>>> result = ls.train_many(loss_fn, ls.inits.constant(model, 0.5), optax.sgd(0.5), data,
...                        key=jax.random.key(0), n_runs=10, steps=200, record_every=100)
"""

from . import (curvature, datasets, inits, minima, models, objectives, parallel, problems, stats,
               status, surface, symmetry, train, units)
from .datasets import Dataset
from .models import Model, mlp
from .train import TrainResult, initial_params, plan_training, train_many

__version__ = "0.1.0"

__all__ = [
    "curvature", "datasets", "inits", "minima", "models", "objectives", "parallel", "problems",
    "stats", "status", "surface", "symmetry", "train", "units",
    "Dataset", "Model", "mlp",
    "TrainResult", "initial_params", "plan_training", "train_many",
    "__version__",
]
