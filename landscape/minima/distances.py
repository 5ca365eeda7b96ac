"""Distances between end points: in parameter space modulo the group (exact orbit distance,
canonical forms or weight matching) and in function space (outputs on the data or a probe set).
"""

from __future__ import annotations

import functools
import math
import sys

import jax
import numpy as np

from .. import _checks
from .. import symmetry as sy
from .. import units
from ..models import Model
from .align import _align
from .canonical import (_flatten, _flips_on, _host, _normalize, _one_axis, _resolve,
                        _rows, flat_centered)

SYMMETRY_MODES = ("auto", "orbit", "canonical", "align", "none")
AUTO_ORBIT = 64
"""``symmetry="auto"`` takes the exact orbit distance for groups of at most this many elements
(XOR 2-2-1: 8, 2-3-1: 48) and canonical forms above."""


def small_group(spec: units.UnitLayout, flips: bool) -> bool:
    """Whether the group is small enough (at most :data:`AUTO_ORBIT` elements) to enumerate:
    the ``"auto"`` choice of exact orbits over canonical forms or alignment."""
    return bool(spec.symmetries) and sy.orbit_size(spec, flips=flips) <= AUTO_ORBIT


def _check_symmetry(spec: units.UnitLayout, symmetry: str, flips: bool, max_orbit: int) -> str:
    if symmetry == "auto":
        if not spec.symmetries:
            return "none"
        return "orbit" if small_group(spec, flips) else "canonical"
    if symmetry in ("orbit", "canonical", "align", "none"):
        if symmetry == "orbit" and sy.orbit_size(spec, flips=flips) > max_orbit:
            raise ValueError(f"symmetry='orbit' would enumerate {sy.orbit_size(spec, flips=flips)} "
                             f"group elements, more than max_orbit={max_orbit}; use 'canonical' or 'align'")
        return symmetry
    raise ValueError(f"symmetry={symmetry!r} is not known; expected one of {SYMMETRY_MODES}")


def orbit_vectors(params, *, model, flips: bool | None = None,
                  max_orbit: int = sy.MAX_ORBIT) -> np.ndarray:
    """``(n_points, |G|, n_params)`` float64: every image of every point (batch axes
    flattened) under the permutations and flips of the hidden units, in centered coordinates
    with ``"rescale"`` units normalized first (:func:`normalized_params`: positive rescaling is
    quotiented out); image 0 is the point itself. Because the group acts by isometries there,
    ``min_g |orbit[i, g] - y|`` is the distance from the orbit of point ``i`` to ``y``: the
    exact distance modulo symmetry. ``model``: anything :func:`landscape.units.layout` takes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> minima.orbit_vectors(model.init(jax.random.key(0)), model=model).shape  # 3! * 2^3 images
    (1, 48, 13)
    """
    spec, batch = _resolve(model, params)
    flips = _flips_on(spec, flips)
    max_orbit = _checks.count("max_orbit", max_orbit)
    n = math.prod(batch)
    flat = _one_axis(spec, params)
    if "rescale" in spec.symmetries:
        flat = _normalize(spec, flat)
    images = sy.orbit(flat, model=spec, flips=flips, max_size=max_orbit)  # (G, n, ...)
    g = jax.tree.leaves(images)[0].shape[0]
    one = jax.tree.map(lambda v, s: np.reshape(np.asarray(v), (g * n,) + s), images,
                       jax.tree.structure(images).unflatten(spec.shapes))
    return _flatten(_host(spec, one)).reshape(g, n, -1).transpose(1, 0, 2)


def param_distances(params, other=None, *, model, symmetry: str = "auto",
                    flips: bool | None = None, max_orbit: int = 4096) -> np.ndarray:
    """``(n, m)`` float64 distances in parameter space between the points of ``params`` and
    those of ``other`` (default: ``params`` itself), in centered coordinates.

    ``symmetry``: ``"orbit"`` the exact distance between group orbits, ``min_g |g x - y|`` over
    every element (at most ``max_orbit`` of them); ``"canonical"`` the distance between
    canonical forms (exact for images of one point, an upper bound of the orbit distance near
    the rule's boundaries); ``"align"`` the distance after weight matching of each ``other`` point
    onto each ``params`` point (:func:`align`; ``n * m`` host assignments); ``"none"`` the plain
    distance; ``"auto"`` (default) ``"orbit"`` for groups of at most :data:`AUTO_ORBIT` elements,
    else ``"canonical"``. Leading batch axes of either input are flattened. Every mode but
    ``"none"`` also quotients out the positive rescaling of ``"rescale"`` (ReLU-like) units
    (:func:`normalized_params`): rescaled copies are at distance 0. ``model``: anything
    :func:`landscape.units.layout` takes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = jax.tree.map(lambda a: a[7], symmetry.orbit(params, model=model))  # one of 48
    >>> d = minima.param_distances(params, image, model=model)            # modulo symmetry
    >>> d.shape, bool(d[0, 0] < 1e-5)
    ((1, 1), True)
    >>> bool(minima.param_distances(params, image, symmetry="none", model=model)[0, 0] > 0.1)
    True
    """
    spec, _ = _resolve(model, params)
    other = params if other is None else other
    n, m = _rows(spec, params), math.prod(spec.check(other, "other"))
    flips = _flips_on(spec, flips)
    max_orbit = _checks.count("max_orbit", max_orbit)
    mode = _check_symmetry(spec, symmetry, flips, max_orbit)
    from scipy.spatial.distance import cdist

    if mode == "none":
        return cdist(flat_centered(params, canonical=False, model=spec),
                     flat_centered(other, canonical=False, model=spec))
    if mode == "canonical":
        return cdist(flat_centered(params, flips=flips, model=spec),
                     flat_centered(other, flips=flips, model=spec))
    if mode == "orbit":
        images = orbit_vectors(params, flips=flips, max_orbit=max_orbit, model=spec)
        y = _flatten(_host(spec, other, normalize=True))
        out = np.full((n, m), np.inf)
        for g in range(images.shape[1]):
            np.minimum(out, cdist(images[:, g], y), out=out)
        return out
    # align: every other point matched onto every point of params
    flat_p, flat_o = _one_axis(spec, params), _one_axis(spec, other)
    out = np.empty((n, m))
    for i in range(n):
        ref = jax.tree.map(lambda v: v[i], flat_p)
        out[i] = _align(spec, flat_o, ref, (m,), (), flips, 100, normalize=True).distance
    return out


# --------------------------------------------------------------------------------------------
# function space


_DERIVED: dict[int, tuple] = {}
"""model id -> (model, its forward function): the same function object for the same model, so
:func:`_outputs_program` reuses its compiled program (a few models at a time)."""


def _framework_apply(model):
    """``apply(p, x)`` of one network for a Flax (linen, NNX) or Equinox model object, or None;
    the same function for the same model object."""
    cached = _DERIVED.get(id(model))
    if cached is not None and cached[0] is model:
        return cached[1]
    fn = _derive_apply(model)
    if fn is not None:
        if len(_DERIVED) >= 8:
            _DERIVED.pop(next(iter(_DERIVED)))
        _DERIVED[id(model)] = (model, fn)
    return fn


def _derive_apply(model):
    """Frameworks not imported yet cannot have built ``model``, so nothing is imported here."""
    eqx = sys.modules.get("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        static = eqx.filter(model, eqx.is_inexact_array, inverse=True)
        return lambda p, x: jax.vmap(eqx.combine(p, static))(x)
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        graph, _, rest = nnx.split(model, nnx.Param, ...)
        return lambda p, x: nnx.merge(graph, p, rest)(x)
    linen = sys.modules.get("flax.linen")
    if linen is not None and isinstance(model, linen.Module):
        return model.apply
    return None


def _forward(model, apply, final_activation: bool):
    """The forward function ``f(p, x) -> (n_inputs, n_out)`` of one network (None: ls.mlp's
    own compiled program)."""
    if apply is not None:
        _checks.function("apply", apply, "apply(params, x) -> outputs of one network")
        if not final_activation:
            raise ValueError("final_activation=False needs an ls.mlp model (apply= gives the "
                             "outputs as they are)")
        return apply
    if isinstance(model, Model):
        return None  # the compiled program keyed by the (hashable) model: _outputs_impl
    derived = _framework_apply(model)
    if derived is None:
        raise ValueError(f"the outputs of a {type(model).__name__} model need apply=: a function "
                         "apply(params, x) -> (n_inputs, n_out) of one network")
    if not final_activation:
        raise ValueError("final_activation=False needs an ls.mlp model")
    return derived


def function_outputs(params, x, *, model, apply=None, final_activation: bool = True) -> np.ndarray:
    """``(*batch, n_inputs, n_out)`` float64: the outputs of every network on the inputs ``x``
    (e.g. ``data.x`` or a probe set), computed in one compiled call.

    The forward function: ``apply(params, x)`` of one network when given; else read from
    ``model``: ``ls.mlp`` (``final_activation=False`` drops its output activation), an Equinox
    module (``eqx.combine`` with its static part, vmapped over inputs), a Flax NNX module
    (``nnx.merge``) or a Flax linen module (``module.apply(variables, x)``). A ``UnitLayout``
    carries no forward function: pass ``apply=``.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.function_outputs(runs, ls.datasets.xor().x, model=model).shape
    (5, 4, 1)
    """
    spec, batch = _resolve(model, params)
    out = _outputs(model, spec, _one_axis(spec, params), x, apply, final_activation)
    return out.reshape(batch + out.shape[1:])


def _outputs(model, spec, flat, x, apply=None, final_activation: bool = True) -> np.ndarray:
    """:func:`function_outputs` of params with one leading axis on a resolved layout."""
    fn = _forward(model, apply, final_activation)
    x = np.asarray(x)
    if isinstance(model, Model) and (x.ndim != 2 or x.shape[1] != model.n_in):
        raise ValueError(f"x of shape {tuple(x.shape)} must be (n_inputs, {model.n_in}) for sizes "
                         f"{list(model.sizes)}")
    x = x.astype(jax.tree.leaves(flat)[0].dtype)
    if fn is None:
        out = _outputs_impl(model, flat, x, final_activation)
    else:
        out = _outputs_program(fn, flat, x)
    out = np.asarray(out, np.float64)
    if out.ndim == 2:  # (n, n_inputs): one output unit
        out = out[..., None]
    return out


@functools.partial(jax.jit, static_argnames="fn")
def _outputs_program(fn, params, x):
    """``fn(p, x)`` for every row of ``params``: one compiled program per forward function."""
    return jax.vmap(fn, in_axes=(0, None))(params, x)


@functools.partial(jax.jit, static_argnames=("model", "final_activation"))
def _outputs_impl(model, params, x, final_activation):
    return jax.vmap(lambda p: model.apply(p, x, final_activation=final_activation))(params)


def function_distances(params, other=None, *, model, x, apply=None,
                       final_activation: bool = True) -> np.ndarray:
    """``(n, m)`` float64 distances in function space: the root-mean-square difference of the
    outputs on the inputs ``x`` (over inputs and output units). Invariant under the symmetry
    group by construction (group images compute the same function). The forward function as
    in :func:`function_outputs` (``apply=`` or read from ``model``).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 3))
    >>> d = minima.function_distances(runs, x=ls.datasets.xor().x, model=model)
    >>> d.shape, bool(np.all(np.diag(d) == 0) and np.allclose(d, d.T) and d[0, 1] > 0)
    ((3, 3), True)
    """
    from scipy.spatial.distance import cdist

    a = function_outputs(params, x, final_activation=final_activation, model=model, apply=apply)
    b = a if other is None else function_outputs(other, x, final_activation=final_activation,
                                                 model=model, apply=apply)
    k = a.shape[-2] * a.shape[-1]
    return cdist(a.reshape(-1, k), b.reshape(-1, k)) / math.sqrt(k)
