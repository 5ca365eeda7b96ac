"""The symmetry group of a network's hidden units, the symmetric subspace, and the symmetry gap.

Why does an all-equal start never learn? Hidden units that start identical receive identical
error signals and stay identical: the start lies in the *symmetric subspace* and gradient
training never leaves it. This module makes that statement measurable.

Any model
---------
Every function takes ``model=``: an ``ls.mlp`` Model, a Flax NNX or Equinox model, or a
:class:`landscape.units.UnitLayout` (for Flax linen: ``units.layout(module, params_of_one_net)``;
for any other pytree: ``units.declare``). It is resolved once to the unit layout, which says
where each hidden layer's units live (dense features, convolution channels) and which symmetry
its activation has (``"odd"``, ``"logistic"``, ``"rescale"``, ``"none"``:
:func:`landscape.units.activation_symmetry`). Only the reduced parametrization
(:func:`reduced_model` and friends) is ls.mlp-only; :func:`symmetric_equilibrium` trains any
other model in orthonormal coordinates of the symmetric subspace.

The group
---------
The hidden units of each layer can be permuted, and where the layer's symmetry allows it their
signs flipped, without changing the function:

- ``permute_units(params, perms, *, model)``: ``perms[h]`` is a permutation of the units of hidden
  layer ``h``; new unit ``j`` is old unit ``perms[h][j]`` (its incoming weights, bias and
  outgoing weights move together).
- ``flip_units(params, signs, *, model)``: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer
  ``h``. For an ``"odd"`` layer (``tanh``, ``erf``, ``linear``; ``f(-z) = -f(z)``) the
  incoming weights, bias and outgoing weights change sign. For a ``"logistic"`` one (``sigmoid``,
  ``f(-z) = 1 - f(z)``) they change sign too and the next layer's bias gains the unit's old
  outgoing weights (so the next layer needs a bias). ``relu``, ``softplus`` and ``gelu`` have no
  sign symmetry (``f(-z) = f(z) - z`` cannot be absorbed): asking for a flip is a ValueError.
- ReLU-like (``"rescale"``) layers also have positive rescaling (:func:`landscape.units.rescale`),
  a continuous symmetry: the finite group here (orbits, :func:`group_elements`) holds
  permutations and flips only, and canonical forms (:mod:`landscape.minima`) quotient the
  rescaling out.
- A :class:`GroupElement` ``(perms, signs)`` acts by flipping first (``signs`` indexed by the
  old units), then permuting: :func:`apply_element`. :func:`compose`, :func:`inverse` and
  :func:`identity_element` make the group law explicit; :func:`random_element` draws uniform
  elements, :func:`group_elements` lists all ``prod_h H_h! * 2^{H_h}`` of them (without flips
  ``prod_h H_h!``: :func:`orbit_size`) and :func:`orbit` applies them all to one point.

Everything accepts params with leading batch axes (runs, trajectory records): leaves
``(*batch, *shape)``. Elements may carry their own leading axes; the two broadcast.

The symmetric subspace
----------------------
``S`` = params whose hidden units are equal within every layer: for each leaf, the entries are
constant along its hidden-unit axes (``UnitLayout.unit_axes``; a weight matrix between two hidden
layers is constant altogether; a dense layer reading a flattened convolution output is constant
over the channels at each position). :func:`symmetric_basis` and :func:`breaking_basis` give
orthonormal bases of ``S`` and of its orthogonal complement (the symmetry-breaking directions)
as columns, in the order of ``jax.flatten_util.ravel_pytree(params)``; :func:`project_symmetric`
and :func:`project_breaking` are the orthogonal projections (on pytrees), and
:func:`symmetry_gap` is the distance to ``S``, ``|project_breaking(params)|``.

Means over identical entries are computed as ``ref + mean(x - ref)`` with ``ref`` one of the
entries, so points of ``S`` whose units are bit-identical have a gap of exactly ``0.0`` and
project onto themselves bit for bit: a nonzero gap is always a real difference between units.

Exact symmetric training: the reduced parametrization
-----------------------------------------------------
A point of ``S`` is one unit per hidden layer, repeated: :func:`reduced_model` is that
network, with the weights leaving a hidden layer of width ``H`` multiplied by ``H`` so that it
computes the same function (:func:`to_reduced`, :func:`from_reduced`). :func:`reduced_training`
turns a loss, an init and an optax optimizer into reduced ones whose ``train_many`` run retraces
the full network's run from a symmetric start (:func:`reduced_optimizer` feeds the optimizer
each full copy's gradient and params), with the symmetry holding by construction. Compiled
full-network training keeps identical units identical only up to rounding (the kernels need not
treat all units alike); :func:`gap_history` and :func:`gap_status` measure that floor and say
whether the dynamics amplify it.

Equilibrium and escape
----------------------
:func:`symmetric_equilibrium` follows a symmetric start inside ``S`` to a critical point of the
restricted loss (or detects a trap at infinity: the loss keeps falling while the weights grow),
and splits the Hessian there into the symmetric and the symmetry-breaking block
(:func:`symmetry_curvature`). :func:`escape` starts gradient descent at ``eps`` times the most
unstable breaking direction for a sweep of ``eps`` in one batched call and compares the steps
until the gap passes a threshold with :func:`predicted_escape_steps`,
``ln(threshold / eps) / ln(1 + lr |lambda_min|)``.

Both train with the trainer's loop (:func:`landscape.train.train_many` from given starts).

Conventions
-----------
``model`` is a keyword wherever params (or a key, a loss, a result) come first:
``symmetry_gap(params, *, model)``, ``permute_units(params, perms, *, model)``; functions of the
model alone take it as their argument (``orbit_size(model)``, ``symmetric_basis(model)``).
Gap status codes are :data:`landscape.status.GAP`; equilibrium kinds are names of
:data:`landscape.status.EQUILIBRIUM`. Known-answer problems (the hand-built strict saddle, the
XOR symmetric infimum) live in :mod:`landscape.problems`.

Files: ``group.py`` (the model argument, checks, the group), ``subspace.py`` (subspace,
projections, gap, invariance measurements), ``reduced.py`` (reduced parametrization),
``curvature_split.py`` (symmetric vs breaking Hessian blocks), ``dynamics.py`` (equilibrium,
escape).
"""


from .curvature_split import SymmetryCurvature, symmetry_curvature
from .dynamics import (REFINE_RADIUS, TRAP_RATIO, Equilibrium, Escape, escape,
                       predicted_escape_steps, symmetric_equilibrium)
from .group import (MAX_ORBIT, GroupElement, apply_element, batch_shape, compose, flip_units,
                    group_elements, identity_element, inverse, orbit, orbit_size, permute_units,
                    random_element, resolve_flips)
from .reduced import (ReducedTraining, from_reduced, reduced_model, reduced_objective,
                      reduced_optimizer, reduced_training, to_reduced)
from .subspace import (BROKEN_REL, ROUNDING_ULPS, breaking_basis, gap_history, gap_status,
                       project_breaking, project_symmetric, symmetric_basis, symmetry_gap,
                       unit_params)

__all__ = [
    # group
    "GroupElement", "permute_units", "flip_units", "apply_element",
    "identity_element", "compose", "inverse", "random_element", "group_elements", "orbit",
    "orbit_size", "MAX_ORBIT", "batch_shape", "resolve_flips",
    # subspace
    "symmetric_basis", "breaking_basis", "project_symmetric", "project_breaking",
    "symmetry_gap", "unit_params",
    # reduced parametrization (exact symmetric training)
    "reduced_model", "to_reduced", "from_reduced", "reduced_objective", "reduced_optimizer",
    "ReducedTraining", "reduced_training",
    # curvature, equilibrium, escape
    "SymmetryCurvature", "symmetry_curvature", "Equilibrium", "symmetric_equilibrium",
    "TRAP_RATIO", "REFINE_RADIUS", "Escape", "escape", "predicted_escape_steps",
    # invariance in training results
    "ROUNDING_ULPS", "BROKEN_REL", "gap_status", "gap_history",
]
