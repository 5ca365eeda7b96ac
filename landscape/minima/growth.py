"""Traps at infinity: continue training and watch the weights grow (:func:`growth_check`).

A run whose loss keeps falling while its weights grow without bound ends at no finite critical
point; its Hessian where training stopped can look like a minimum. Continuing training from
the end point tells the two apart.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..train import train_many

GROWTH_RADIAL = 0.5
"""Trap at infinity: at least this fraction of the continuation's displacement is outward."""
GROWTH_DECAY = 0.1
"""...and its last step length is at least this fraction of its first (no geometric
convergence, as at a finite minimum)."""


class Growth(NamedTuple):
    """What :func:`growth_check` returns (arrays with a leading point axis).

    norms, losses: ``(n, n_checks + 1)``: params norm and loss at the start and every check.
    steps:     ``(n, n_checks)``: distance moved between consecutive checks.
    radial:    ``(n,)``: ``(|x_end| - |x_start|) / |x_end - x_start|``, 1 for purely outward motion.
    growing:   ``(n,)`` bool: the norm grew at every check, the loss never rose, the motion
               was mostly outward (``radial >= GROWTH_RADIAL``) and it did not die out
               geometrically (last step ``>= GROWTH_DECAY`` x first): a trap at infinity.
    """

    norms: np.ndarray
    losses: np.ndarray
    steps: np.ndarray
    radial: np.ndarray
    growing: np.ndarray


def growth_check(loss_fn, params, data, *, optimizer, steps: int = 2000,
                 n_checks: int = 10) -> Growth:
    """Continue training each point (leading axis of ``params``) with ``optimizer`` for
    ``steps`` steps and tell traps at infinity from finite critical points (see
    :class:`Growth`). Pass the optimizer the runs were trained with. The points are the
    ``starts`` of one :func:`landscape.train_many` call that records params every
    ``steps // n_checks`` steps (a run that becomes non-finite is frozen there: not growing).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> g = minima.growth_check(ls.objectives.loss(model, "mse"), jax.tree.map(lambda a: a[None], start),
    ...                         ls.datasets.xor(), optimizer=optax.sgd(2.0), steps=2000)
    >>> g.norms.shape, g.growing.tolist()  # the constant start heads to infinity
    ((1, 11), [True])
    """
    _checks.loss_fn(loss_fn)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation")
    steps = _checks.count("steps", steps)
    n_checks = _checks.count("n_checks", n_checks)
    if steps % n_checks:
        raise ValueError(f"n_checks={n_checks} must divide steps={steps}")
    n = _checks.batch_size(params, "params")
    run = train_many(loss_fn, None, optimizer, data, starts=params, steps=steps,
                     record_every=steps // n_checks, trajectory_runs=np.arange(n), progress=False)
    xs = np.concatenate([np.asarray(a, np.float64).reshape(n, n_checks + 1, -1)
                         for a in jax.tree.leaves(run.trajectory)], axis=-1)
    ls_ = np.asarray(run.losses, np.float64)
    norms = np.linalg.norm(xs, axis=-1)
    moved = np.linalg.norm(np.diff(xs, axis=1), axis=-1)
    total = np.linalg.norm(xs[:, -1] - xs[:, 0], axis=-1)
    radial = np.where(total > 0, (norms[:, -1] - norms[:, 0]) / np.where(total > 0, total, 1.0), 0.0)
    eps = np.finfo(jnp.asarray(jax.tree.leaves(params)[0]).dtype).eps
    growing = (np.all(np.diff(norms, axis=1) > 0, axis=1)
               & np.all(np.diff(ls_, axis=1) <= eps * np.abs(ls_[:, :-1]), axis=1)
               & (radial >= GROWTH_RADIAL)
               & (moved[:, -1] >= GROWTH_DECAY * moved[:, 0])
               & (total > 1e3 * eps * norms[:, 0]))
    return Growth(norms, ls_, moved, radial, growing)

