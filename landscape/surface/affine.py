"""A metric at a point affine in a few coordinates, with the combination pushed through the metric's
linear first steps (any ``metric(params, data)``: a toolkit loss, a Flax or Equinox function).

A slice point is ``params = center + sum_i c_i d_i``. Evaluated as written, every point pays the
first layer's matrix product ``x @ W(c)``; but ``x @ (W0 + sum_i c_i U_i) = x @ W0 + sum_i c_i
(x @ U_i)``, and ``x @ W0``, ``x @ U_i`` do not depend on the point. :func:`along` traces the
metric to a jaxpr and evaluates it with each params leaf held as its parts ``(center leaf, d_1
leaf, ...)``: linear steps (a ``dot_general`` with one affine operand, sums, differences, products
with a non-affine factor, reshapes, broadcasts, transposes, casts) act on every part, and any
other step gets the combination ``part_0 + sum_i c_i part_i`` first. Under ``vmap`` over the
coordinates, the parts do not depend on the point, so a 20-128-1 net's first layer becomes three
matrix products per block of points and an ``axpy`` per point. The value is the same function of
the point; only the rounding differs (the order of a few additions), well within the tolerance
of the per-point evaluation.

>>> import jax.numpy as jnp
>>> metric = lambda p, x: jnp.sum(jnp.tanh(x @ p))
>>> x, w0, u = jnp.ones((2, 3)), jnp.zeros(3), jnp.ones(3)
>>> bool(jnp.allclose(along(metric, w0, (u,), jnp.array([0.5]), x), metric(w0 + 0.5 * u, x)))
True
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.extend.core import Literal

__all__: list[str] = []  # used by the slices; nothing here is re-exported

_PARTWISE = frozenset({"reshape", "broadcast_in_dim", "transpose", "convert_element_type",
                       "squeeze", "expand_dims", "neg", "copy", "copy_p"})
"""Linear one-operand primitives applied to every part of an affine value."""


class _Affine(NamedTuple):
    """The value ``parts[0] + sum_i c_i parts[i + 1]`` (``c``: the point's coordinates)."""

    parts: tuple


def _combine(value, coords):
    """An affine value as one array (the formula of ``center + sum_i c_i d_i``); others as given."""
    if not isinstance(value, _Affine):
        return value
    first, *rest = value.parts
    return first + sum(coords[i].astype(first.dtype) * part for i, part in enumerate(rest))


def _bind(eqn, invals):
    out = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
    return out if eqn.primitive.multiple_results else [out]


def _partwise(eqn, invals, affine_at):
    """Bind ``eqn`` once per part, the affine operand ``affine_at`` replaced by that part."""
    parts = invals[affine_at].parts
    return [_Affine(tuple(_bind(eqn, invals[:affine_at] + [part] + invals[affine_at + 1:])[0]
                          for part in parts))]


def _linear(eqn, invals, varying):
    """The eqn's outputs when it is linear in its affine operands and its other operands do not
    depend on the point (``varying[i]`` False), else None (the caller combines)."""
    name = eqn.primitive.name
    affine = [i for i, v in enumerate(invals) if isinstance(v, _Affine)]
    if any(varying):
        return None
    if name in _PARTWISE and affine == [0]:
        to = eqn.params.get("new_dtype")  # a cast to integers or booleans is not linear
        return _partwise(eqn, invals, 0) if to is None or jnp.issubdtype(to, jnp.inexact) else None
    if name in ("dot_general", "mul") and len(affine) == 1:
        return _partwise(eqn, invals, affine[0])
    if name in ("add", "sub") and len(invals) == 2:
        a, b = invals
        if len(affine) == 2 and len(a.parts) == len(b.parts):
            return [_Affine(tuple(_bind(eqn, [p, q])[0] for p, q in zip(a.parts, b.parts)))]
        if affine == [0]:  # (a0 +- b) + sum_i c_i a_i
            return [_Affine((_bind(eqn, [a.parts[0], b])[0],) + a.parts[1:])]
        if affine == [1] and name == "add":
            return [_Affine((_bind(eqn, [a, b.parts[0]])[0],) + b.parts[1:])]
    return None


def _evaluate(jaxpr, consts, args, coords, varying):
    """Evaluate ``jaxpr`` on ``args`` (arrays or :class:`_Affine`; ``varying[i]``: arg ``i``
    depends on the point). Returns the outputs (some may be affine) and their ``varying``."""
    env, vary = {}, {}

    def read(var):
        return (var.val, False) if isinstance(var, Literal) else (env[var], vary[var])

    for var, value, flag in zip(jaxpr.constvars + jaxpr.invars, list(consts) + list(args),
                                [False] * len(consts) + list(varying)):
        env[var], vary[var] = value, flag
    for eqn in jaxpr.eqns:
        invals, flags = zip(*[read(v) for v in eqn.invars]) if eqn.invars else ((), ())
        invals, flags = list(invals), list(flags)
        outs, out_vary = None, None
        if any(isinstance(v, _Affine) for v in invals):
            inner = eqn.params.get("jaxpr")
            if eqn.primitive.name in ("pjit", "jit", "closed_call") and hasattr(inner, "consts"):
                outs, out_vary = _evaluate(inner.jaxpr, inner.consts, invals, coords, flags)
            else:
                outs = _linear(eqn, invals, flags)
            if outs is None:
                outs = _bind(eqn, [_combine(v, coords) for v in invals])
                out_vary = [True] * len(outs)
        else:
            outs = _bind(eqn, invals)
        if out_vary is None:
            out_vary = [any(flags)] * len(outs)
        for var, value, flag in zip(eqn.outvars, outs, out_vary):
            env[var], vary[var] = value, flag
    return [read(v)[0] for v in jaxpr.outvars], [read(v)[1] for v in jaxpr.outvars]


def along(metric, center, dirs, coords, data):
    """``metric(center + sum_i coords[i] dirs[i], data)``, the combination pushed through the
    metric's linear steps (module docstring). ``coords``: shape ``(len(dirs),)``."""
    leaves, treedef = jax.tree_util.tree_flatten(center)
    dir_leaves = [treedef.flatten_up_to(d) for d in dirs]
    closed = jax.make_jaxpr(metric)(center, data)
    args = [_Affine((leaf,) + tuple(d[j].astype(leaf.dtype) for d in dir_leaves))
            for j, leaf in enumerate(leaves)] + jax.tree_util.tree_leaves(data)
    (out,), _ = _evaluate(closed.jaxpr, closed.consts, args, coords, [False] * len(args))
    return _combine(out, coords)
