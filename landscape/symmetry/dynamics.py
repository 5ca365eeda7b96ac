"""Dynamics around the symmetric subspace: the symmetric equilibrium (where training inside the
subspace goes) and the escape from it along a symmetry-breaking direction.

Both train with the trainer's loop (:func:`landscape.train.train_many` from given starts), so
they share its NaN/divergence handling: a run that turns non-finite is frozen and flagged.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .. import _checks, curvature, status
from .._tree import batch_norms
from ..models import Model
from ..train import default_record_every, train_many
from .curvature_split import SymmetryCurvature, symmetry_curvature
from ..units import UnitLayout
from .group import _show, _spec, _where
from .reduced import (_from_reduced, _layout, _model_of, _to_reduced, reduced_objective,
                      reduced_optimizer)
from .subspace import _gap_impl, project_breaking, project_symmetric, symmetric_basis

# --------------------------------------------------------------------------------------------
# the symmetric equilibrium


TRAP_RATIO = 0.5
"""A run whose parameter norm grew by at least this fraction as much over the last doubling of
its steps as over the doubling before (``|x(T)| - |x(T/2)| >= TRAP_RATIO (|x(T/2)| - |x(T/4)|)``),
while its loss kept falling, is heading to infinity: logarithmic growth gives a ratio near 1,
convergence to a finite point a ratio near 0 (``2^-a`` for a power-law approach ``t^-a``)."""

REFINE_RADIUS = 0.1
"""Newton refinement of the end of the restricted run is accepted when it converges within
``REFINE_RADIUS * (1 + |x|)`` of it (farther, it found another critical point)."""


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """Where gradient training inside the symmetric subspace goes (:func:`symmetric_equilibrium`).

    kind:             a name of :data:`landscape.status.EQUILIBRIUM` (:attr:`code`: its code):
                      ``"critical_point"`` (a finite critical point of the restricted loss, hence
                      of the full loss), ``"trap_at_infinity"`` (the loss kept decreasing while
                      the weights grew without bound) or ``"not_converged"``.
    params:           the end point in the full network (units bit-identical).
    reduced_params:   the same point in :func:`reduced_model` coordinates.
    loss, grad_norm:  the full loss and the norm of its gradient there.
    label:            curvature label of the whole spectrum (a name of ``landscape.status.POINT``).
    curvature:        :class:`SymmetryCurvature` at the point.
    lambda_min:       most negative symmetry-breaking eigenvalue (``curvature.breaking[0]``;
                      NaN, and ``escape_direction`` None, when every hidden layer has one unit).
    strict_saddle:    a finite critical point with ``lambda_min < -sqrt(eps) * max|lambda|``:
                      symmetry-breaking directions lead downhill, so the symmetric point is
                      unstable in the full network (never set for the other kinds).
    escape_direction: the unit symmetry-breaking eigenvector of ``lambda_min`` (a params pytree).
    history:          arrays over the restricted run: ``steps``, ``loss``, ``grad_norm``,
                      ``param_norm``.
    trajectory:       the run's points in the full network (units bit-identical), leaves
                      ``(n_records, ...)`` at ``history["steps"]``: the constant-start path.
    growth_ratio:     ``(|x(T)| - |x(T/2)|) / (|x(T/2)| - |x(T/4)|)`` over the run (see
                      :data:`TRAP_RATIO`).
    refined:          whether Newton refinement converged near the end of the run.
    """

    kind: str
    params: Any
    reduced_params: Any
    loss: float
    grad_norm: float
    label: str
    curvature: SymmetryCurvature
    lambda_min: float
    strict_saddle: bool
    escape_direction: Any
    history: dict
    growth_ratio: float
    refined: bool
    trajectory: Any = None

    @property
    def code(self) -> int:
        """:attr:`kind` as its code in :data:`landscape.status.EQUILIBRIUM`."""
        return status.EQUILIBRIUM.code(self.kind)

    def summary(self) -> dict:
        """Headline numbers as plain Python values (for ``summary.json``)."""
        return {
            "kind": self.kind, "loss": self.loss, "grad_norm": self.grad_norm, "label": self.label,
            "lambda_min_breaking": self.lambda_min, "strict_saddle": self.strict_saddle,
            "symmetric_eigenvalues": np.asarray(self.curvature.symmetric).tolist(),
            "breaking_eigenvalues": np.asarray(self.curvature.breaking).tolist(),
            "param_norm": float(self.history["param_norm"][-1]),
            "growth_ratio": self.growth_ratio, "refined": self.refined,
            "steps": int(self.history["steps"][-1]),
        }


@functools.partial(jax.jit, static_argnames="loss_fn")
def _grads(loss_fn, params, data):
    return jax.vmap(jax.grad(loss_fn), in_axes=(0, None))(params, data)


def _growth_ratio(steps: np.ndarray, norms: np.ndarray) -> float:
    t = steps[-1]
    at = lambda s: norms[int(np.argmin(np.abs(steps - s)))]  # noqa: E731
    early, late = at(t / 2) - at(t / 4), at(t) - at(t / 2)
    if early <= 0:
        return float("inf") if late > 0 else 0.0
    return float(late / early)


@dataclasses.dataclass(frozen=True)
class _OnSymmetricBasis:
    """``loss_fn`` of the full network at ``Q z``: the loss in orthonormal coordinates ``z`` of
    the symmetric subspace (``Q``: :func:`symmetric_basis` columns), for any layout. Compared
    by value, so repeated calls reuse the trainer's and refinement's compiled programs."""

    loss_fn: Any
    spec: UnitLayout
    treedef: Any
    dtype: str

    def full(self, z):
        x = symmetric_basis(self.spec, dtype=self.dtype) @ z
        sizes = np.cumsum([math.prod(s) for s in self.spec.shapes])[:-1]
        leaves = [part.reshape(s) for part, s in zip(jnp.split(x, sizes), self.spec.shapes)]
        return self.treedef.unflatten(leaves)

    def __call__(self, z, data):
        return self.loss_fn(self.full(z), data)


def _symmetric_coordinates(loss_fn, params, model, optimizer):
    """``(reduced loss, its optimizer, start, to_full)`` for training inside the symmetric
    subspace exactly: an ``ls.mlp`` in its one-unit-per-layer parametrization (the full
    network's dynamics for any optimizer, :func:`reduced_training`); any other layout in
    orthonormal coordinates of the subspace (``z = Q^T x``: for gradient descent the full
    network's dynamics from a symmetric start; adaptive optimizers act on ``z``)."""
    if isinstance(model, Model):
        layout = _layout(model)
        return (reduced_objective(loss_fn, model=model), reduced_optimizer(optimizer, model=model),
                _to_reduced(layout, params), functools.partial(_from_reduced, layout))
    spec = _spec(model, params)[0]
    symmetric = project_symmetric(params, model=spec)
    flat = ravel_pytree(symmetric)[0]
    on_basis = _OnSymmetricBasis(loss_fn, spec, jax.tree.structure(symmetric), str(flat.dtype))
    return on_basis, optimizer, symmetric_basis(spec, dtype=flat.dtype).T @ flat, on_basis.full


def symmetric_equilibrium(loss_fn, params, data, *, optimizer, steps: int = 20_000,
                          record_every: int | None = None, model=None,
                          refine: bool = True, trap_ratio: float = TRAP_RATIO) -> Equilibrium:
    """Follow a symmetric start to its symmetric equilibrium and say what it is.

    Trains :func:`project_symmetric` of ``params`` for ``steps`` steps of ``optimizer`` inside
    the subspace, with the symmetry exact (the trainer's loop, :func:`landscape.train.train_many`):
    an ``ls.mlp`` in the reduced parametrization (:func:`reduced_training`: the full network's
    dynamics for any optimizer), any other ``model`` (anything :func:`landscape.units.layout`
    takes) in orthonormal coordinates of the subspace (for gradient descent the full network's
    dynamics; an adaptive optimizer acts on those coordinates). Then it tries Newton
    refinement (:func:`landscape.curvature.refine`) of the
    end point on the restricted loss. Reports the loss, gradient norm and the curvature split
    into the symmetric and symmetry-breaking blocks (:func:`symmetry_curvature`) at the
    refined point, or at the end of the run, and classifies the outcome (see
    :class:`Equilibrium`): a finite critical point, or a trap at infinity when the loss keeps
    decreasing while the norm grows at least ``trap_ratio`` as fast over the last doubling of
    the run as over the doubling before (see :data:`TRAP_RATIO`).

    Float64 (``jax_enable_x64``) is recommended: critical points are only known to about
    ``sqrt(eps)`` of the dtype.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> with jax.enable_x64(True):
    ...     data = ls.datasets.xor(dtype=jnp.float64)
    ...     start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    ...     eq = symmetry.symmetric_equilibrium(ls.objectives.loss(model, "mse"), start, data,
    ...                                         optimizer=optax.sgd(2.0), steps=4000)
    >>> eq.kind, round(eq.loss, 3)  # XOR: the loss approaches 1/6 as the weights grow
    ('trap_at_infinity', 0.168)
    """
    _checks.loss_fn(loss_fn)
    model = _model_of(loss_fn, model)
    if _spec(model, params)[1]:
        raise ValueError("symmetric_equilibrium takes one start (params without a batch axis)")
    _checks.optimizer(optimizer)
    steps, record_every = _check_steps(steps, record_every)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine={refine!r} must be True or False")
    trap_ratio = _checks.real("trap_ratio", trap_ratio, low=0.0, low_open=True)
    red_loss, red_optimizer, start, to_full = _symmetric_coordinates(loss_fn, params, model,
                                                                     optimizer)
    # the generic path (vmap over a block of 64 runs): bit for bit the retired private loop's
    # numbers for a block of 64 copies; it differed from its 1-run batch by ~1e-16 (kernels round
    # by batch shape)
    run = train_many(red_loss, None, red_optimizer, data,
                     starts=jax.tree.map(lambda a: a[None], start), steps=steps,
                     record_every=record_every, trajectory_runs=[0], method="vmap",
                     progress=False)
    traj = jax.vmap(to_full)(jax.tree.map(lambda a: a[0], run.trajectory))
    grads = _grads(loss_fn, traj, data)
    history = {"steps": run.record_steps, "loss": np.asarray(run.losses[0]),
               "grad_norm": batch_norms(grads), "param_norm": batch_norms(traj)}
    end = jax.tree.map(lambda a: a[0], run.params)
    point, refined = end, False
    if refine:
        res = curvature.refine(red_loss, end, data, method="newton")
        x_end = ravel_pytree(end)[0]
        dist = float(jnp.linalg.norm(ravel_pytree(res.params)[0] - x_end))
        if bool(res.converged) and dist <= REFINE_RADIUS * (1.0 + float(jnp.linalg.norm(x_end))):
            point, refined = res.params, True
    full = to_full(point)
    loss, grad = jax.value_and_grad(loss_fn)(full, data)
    grad_norm = float(jnp.linalg.norm(ravel_pytree(grad)[0]))
    ratio = _growth_ratio(history["steps"], history["param_norm"])
    norms, losses = history["param_norm"], history["loss"]
    half = len(losses) // 2
    heading_out = (losses[-1] < losses[half] and norms[-1] > norms[half] > norms[len(norms) // 4]
                   and ratio >= trap_ratio)
    tol = math.sqrt(float(jnp.finfo(jax.tree.leaves(full)[0].dtype).eps))
    if refined or grad_norm <= tol:
        kind = "critical_point"
    elif heading_out:
        kind = "trap_at_infinity"
    else:
        kind = "not_converged"
    assert kind in status.EQUILIBRIUM
    curv = symmetry_curvature(loss_fn, full, data, model=model)
    spectrum = jnp.concatenate([curv.symmetric, curv.breaking])
    label, *_ = curvature.classify_spectrum(spectrum, jnp.asarray(grad_norm, spectrum.dtype))
    lam_min = float(curv.breaking[0]) if curv.breaking.shape[-1] else float("nan")
    scale = float(jnp.max(jnp.abs(spectrum)))
    unravel = ravel_pytree(full)[1]
    return Equilibrium(
        kind=kind, params=full, reduced_params=point, loss=float(loss), grad_norm=grad_norm,
        label=status.POINT.name(int(label)), curvature=curv, lambda_min=lam_min,
        strict_saddle=kind == "critical_point" and lam_min < -tol * scale,
        escape_direction=unravel(curv.directions[:, 0]) if curv.breaking.shape[-1] else None,
        history=history, growth_ratio=ratio, refined=refined, trajectory=traj)


# --------------------------------------------------------------------------------------------
# escape from the symmetric subspace


def predicted_escape_steps(eps, threshold, learning_rate, lambda_min):
    """Linearized steps for gradient descent to grow a symmetry-breaking perturbation of size
    ``eps`` along the eigenvector of ``lambda_min < 0`` past ``threshold``:
    ``ln(threshold / eps) / ln(1 + learning_rate * |lambda_min|)`` (``inf`` when
    ``lambda_min >= 0``: no linear growth). Broadcasts over arrays.

    >>> predicted_escape_steps([1e-6, 1e-4], 1e-2, 0.5, -0.1).round(1).tolist()
    [188.8, 94.4]
    """
    eps = np.asarray(eps, np.float64)
    lam = np.asarray(lambda_min, np.float64)
    rate = np.log1p(learning_rate * np.abs(lam))
    with np.errstate(divide="ignore"):
        return np.where(lam < 0, np.log(threshold / eps) / np.where(lam < 0, rate, 1.0), np.inf)


@dataclasses.dataclass(frozen=True)
class _GapAbove:
    spec: UnitLayout
    threshold: float

    def __call__(self, params, data=None):
        return _gap_impl(self.spec, params, False) > self.threshold


@dataclasses.dataclass(frozen=True)
class Escape:
    """Result of :func:`escape`, one entry per ``eps``.

    eps:           ``(n,)`` initial perturbation sizes (the initial gaps).
    steps:         ``(n,)`` first step at which the gap exceeded ``threshold``; -1 if never.
    predicted:     ``(n,)`` :func:`predicted_escape_steps` from ``lambda_min``.
    lambda_min:    curvature along the perturbation direction (its breaking eigenvalue).
    learning_rate, threshold: as passed.
    record_steps:  ``(n_records,)`` and ``gaps (n, n_records)``: the gap over training;
                   ``losses (n, n_records)``: the loss over training.
    """

    eps: np.ndarray
    steps: np.ndarray
    predicted: np.ndarray
    lambda_min: float
    learning_rate: float
    threshold: float
    record_steps: np.ndarray
    gaps: np.ndarray
    losses: np.ndarray

    def fit(self) -> dict:
        """How well the linear law holds: over the runs that escaped, the least-squares slope of
        steps against ``ln(1/eps)`` vs the predicted ``1 / ln(1 + lr |lambda_min|)``, and the
        largest relative error ``|steps - predicted| / predicted``."""
        # runs that escaped, where the law predicts growth (eps below the threshold)
        ok = (self.steps >= 0) & np.isfinite(self.predicted) & (self.predicted > 0)
        out = {"n_runs": int(self.steps.size), "n_escaped": int(np.sum(self.steps >= 0)),
               "lambda_min": self.lambda_min, "slope": None, "predicted_slope": None,
               "slope_ratio": None, "max_relative_error": None}
        if self.lambda_min < 0:
            rate = np.log1p(self.learning_rate * abs(self.lambda_min))
            out["predicted_slope"] = float(1.0 / rate)
        if np.sum(ok) >= 2:
            slope = float(np.polyfit(np.log(1.0 / self.eps[ok]), self.steps[ok], 1)[0])
            out["slope"] = slope
            out["slope_ratio"] = slope / out["predicted_slope"]
            rel = np.abs(self.steps[ok] - self.predicted[ok]) / self.predicted[ok]
            out["max_relative_error"] = float(np.max(rel))
        return out


def _check_eps(eps) -> np.ndarray:
    arr = np.asarray(eps, np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"eps must be a non-empty 1-D array of positive finite numbers, got "
                         f"{_show(np.asarray(eps))}")
    return arr


@functools.lru_cache(maxsize=32)
def _sgd(learning_rate: float):
    """One ``optax.sgd`` object per learning rate, so repeated calls reuse compiled programs."""
    return optax.sgd(learning_rate)


def escape(loss_fn, params, data, eps, *, learning_rate: float, direction=None,
           threshold: float = 1e-2, steps: int = 10_000, record_every: int | None = None,
           model=None) -> Escape:
    """Start at ``params + eps_i * d`` for every ``eps_i`` and count the gradient-descent steps
    (``optax.sgd(learning_rate)``) until the :func:`symmetry_gap` exceeds ``threshold``; all
    ``eps`` in one compiled, batched call.

    ``params`` is a symmetric point (e.g. :attr:`Equilibrium.params`, or a point of the
    constant-start trajectory); ``d`` is the unit symmetry-breaking part of ``direction``
    (default: the most unstable breaking eigenvector at ``params``, from
    :func:`symmetry_curvature`), so the initial gap is ``eps_i`` (plus the rounding gap of
    ``params``). ``lambda_min`` is the curvature ``d^T H d`` along it; the measured steps are
    compared with :func:`predicted_escape_steps`, which holds at a strict saddle and fails
    where the curvature along the escape path changes (a trap at infinity, a point off the
    equilibrium, perturbations too large for the linearization).

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> ex = ls.problems.saddle_example(dtype=jnp.float32)    # a strict saddle
    >>> esc = symmetry.escape(ex.loss_fn, ex.params, ex.data, [1e-5, 1e-4, 1e-3],
    ...                       learning_rate=0.4, steps=4000)
    >>> esc.steps.shape, bool((esc.steps > 0).all())       # steps until the gap passed 1e-2
    ((3,), True)
    """
    _checks.loss_fn(loss_fn)
    spec, batch = _spec(_model_of(loss_fn, model), params)
    if batch:
        raise ValueError("escape takes one base point (params without a batch axis)")
    eps = _check_eps(eps)
    learning_rate = _checks.real("learning_rate", learning_rate, low=0.0, low_open=True)
    threshold = _checks.real("threshold", threshold, low=0.0, low_open=True)
    steps, record_every = _check_steps(steps, record_every)
    x, unravel = ravel_pytree(params)
    if max(spec.hidden_sizes, default=0) < 2:
        raise ValueError(f"the model (hidden widths {list(spec.hidden_sizes)}) has no "
                         "symmetry-breaking directions")
    if direction is None:
        d = symmetry_curvature(loss_fn, params, data, model=spec).directions[:, 0]
    else:
        _spec(spec, direction, name="direction")
        direction = jax.tree.map(lambda a: jnp.asarray(a, x.dtype), direction)
        raw = ravel_pytree(direction)[0]
        d = ravel_pytree(project_breaking(direction, model=spec))[0]
        tiny = math.sqrt(float(jnp.finfo(x.dtype).eps)) * float(jnp.linalg.norm(raw))
        if not float(jnp.linalg.norm(d)) > tiny:
            raise ValueError("direction has no symmetry-breaking component (it lies in the "
                             "symmetric subspace)")
    d = d / jnp.linalg.norm(d)
    lam = float(d @ ravel_pytree(curvature.hvp(loss_fn, params, data, unravel(d)))[0])
    starts = jax.vmap(lambda e: unravel(x + e * d))(jnp.asarray(eps, x.dtype))
    run = train_many(loss_fn, None, _sgd(learning_rate), data, starts=starts, steps=steps,
                     record_every=record_every, success=_GapAbove(_where(spec), threshold),
                     trajectory_runs=np.arange(len(eps)), progress=False)
    gaps = np.asarray(_gap_impl(_where(spec), run.trajectory, False))
    return Escape(eps=eps, steps=np.asarray(run.success_step), lambda_min=lam,
                  predicted=predicted_escape_steps(eps, threshold, learning_rate, lam),
                  learning_rate=learning_rate, threshold=threshold,
                  record_steps=np.arange(0, steps + 1, record_every), gaps=gaps,
                  losses=np.asarray(run.losses))



def _check_steps(steps, record_every, max_records: int = 1000) -> tuple[int, int]:
    """``steps`` and ``record_every`` checked; ``record_every=None``: the smallest divisor of
    ``steps`` giving at most ``max_records`` records
    (:func:`landscape.train.default_record_every`)."""
    steps = _checks.count("steps", steps)
    if record_every is None:
        record_every = default_record_every(steps, max_records=max_records)
    record_every = _checks.count("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"record_every={record_every!r} must divide steps={steps}")
    return steps, record_every
