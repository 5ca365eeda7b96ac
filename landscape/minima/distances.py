"""Distances between end points: in parameter space modulo the group (exact orbit distance,
canonical forms or weight matching) and in function space (outputs on the data or a probe set).
"""

from __future__ import annotations

import functools
import math

import jax
import numpy as np

from .. import _checks
from .. import symmetry as sy
from ..models import Model
from .align import align
from .canonical import (_flips_on, _flatten_layers, _host_layers, _one_axis,
                        _rows, flat_centered)

SYMMETRY_MODES = ("auto", "orbit", "canonical", "align", "none")
AUTO_ORBIT = 64
"""``symmetry="auto"`` takes the exact orbit distance for groups of at most this many elements
(XOR 2-2-1: 8, 2-3-1: 48) and canonical forms above."""


def _check_symmetry(model: Model, symmetry: str, flips: bool, max_orbit: int) -> str:
    if symmetry == "auto":
        if not model.hidden_sizes:
            return "none"
        return "orbit" if sy.orbit_size(model=model, flips=flips) <= AUTO_ORBIT else "canonical"
    if symmetry in ("orbit", "canonical", "align", "none"):
        if symmetry == "orbit" and sy.orbit_size(model=model, flips=flips) > max_orbit:
            raise ValueError(f"symmetry='orbit' would enumerate {sy.orbit_size(model=model, flips=flips)} "
                             f"group elements, more than max_orbit={max_orbit}; use 'canonical' or 'align'")
        return symmetry
    raise ValueError(f"symmetry={symmetry!r} is not known; expected one of {SYMMETRY_MODES}")


def orbit_vectors(params, *, model: Model, flips: bool | None = None,
                  max_orbit: int = sy.MAX_ORBIT) -> np.ndarray:
    """``(n_points, |G|, n_params)`` float64: every group image of every point (batch axes
    flattened), in centered coordinates; image 0 is the point itself. Because the group acts
    by isometries there, ``min_g |orbit[i, g] - y|`` is the distance from the orbit of point
    ``i`` to ``y``: the exact distance modulo symmetry.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> minima.orbit_vectors(model.init(jax.random.key(0)), model=model).shape  # 3! * 2^3 images
    (1, 48, 13)
    """
    _checks.model(model)
    batch = _checks.model_batch_shape(params, model)
    flips = _flips_on(model, flips)
    images = sy.orbit(model=model, params=params, flips=flips, max_size=max_orbit)  # (G, *batch, ...)
    g = images[0]["w"].shape[0]
    flat = _flatten_layers(_host_layers(model, images))  # (G * n, P)
    n = math.prod(batch)
    return flat.reshape(g, n, -1).transpose(1, 0, 2)


def param_distances(params, other=None, *, model: Model, symmetry: str = "auto",
                    flips: bool | None = None, max_orbit: int = 4096) -> np.ndarray:
    """``(n, m)`` float64 distances in parameter space between the points of ``params`` and
    those of ``other`` (default: ``params`` itself), in centered coordinates.

    ``symmetry``: ``"orbit"`` the exact distance between group orbits, ``min_g |g x - y|`` over
    every element (at most ``max_orbit`` of them); ``"canonical"`` the distance between
    canonical forms (exact for images of one point, an upper bound of the orbit distance near
    the rule's boundaries); ``"align"`` the distance after weight matching of each ``other`` point
    onto each ``params`` point (:func:`align`; ``n * m`` host assignments); ``"none"`` the plain
    distance; ``"auto"`` (default) ``"orbit"`` for groups of at most :data:`AUTO_ORBIT` elements,
    else ``"canonical"``. Leading batch axes of either input are flattened.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = symmetry.random_element(model=model, key=jax.random.key(1))
    >>> image = symmetry.apply_element(model=model, params=params, element=g)
    >>> d = minima.param_distances(params, image, model=model)            # modulo symmetry
    >>> d.shape, bool(d[0, 0] < 1e-5)
    ((1, 1), True)
    >>> bool(minima.param_distances(params, image, symmetry="none", model=model)[0, 0] > 0.1)
    True
    """
    _checks.model(model)
    other = params if other is None else other
    n, m = _rows(model, params), _rows(model, other)
    flips = _flips_on(model, flips)
    max_orbit = _checks.count("max_orbit", max_orbit)
    mode = _check_symmetry(model, symmetry, flips, max_orbit)
    from scipy.spatial.distance import cdist

    if mode == "none":
        return cdist(flat_centered(params, canonical=False, model=model),
                     flat_centered(other, canonical=False, model=model))
    if mode == "canonical":
        return cdist(flat_centered(params, flips=flips, model=model), flat_centered(other, flips=flips, model=model))
    if mode == "orbit":
        images = orbit_vectors(params, flips=flips, max_orbit=max_orbit, model=model)
        y = flat_centered(other, canonical=False, model=model)
        out = np.full((n, m), np.inf)
        for g in range(images.shape[1]):
            np.minimum(out, cdist(images[:, g], y), out=out)
        return out
    # align: every other point matched onto every point of params
    flat_p, flat_o = _one_axis(model, params), _one_axis(model, other)
    out = np.empty((n, m))
    for i in range(n):
        ref = [{key: v[i] for key, v in layer.items()} for layer in flat_p]
        out[i] = align(flat_o, ref, flips=flips, model=model).distance
    return out


def function_outputs(params, x, *, model: Model, final_activation: bool = True) -> np.ndarray:
    """``(*batch, n_inputs, n_out)`` float64: the outputs of every network on the inputs ``x``
    (e.g. ``data.x`` or a probe set), computed in one compiled call.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.function_outputs(runs, ls.datasets.xor().x, model=model).shape
    (5, 4, 1)
    """
    _checks.model(model)
    batch = _checks.model_batch_shape(params, model)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.n_in:
        raise ValueError(f"x of shape {tuple(x.shape)} must be (n_inputs, {model.n_in}) for sizes "
                         f"{list(model.sizes)}")
    flat = _one_axis(model, params)
    out = _outputs_impl(model, flat, x.astype(flat[0]["w"].dtype), final_activation)
    return np.asarray(out, np.float64).reshape(batch + out.shape[1:])


@functools.partial(jax.jit, static_argnames=("model", "final_activation"))
def _outputs_impl(model, params, x, final_activation):
    return jax.vmap(lambda p: model.apply(p, x, final_activation=final_activation))(params)


def function_distances(params, other=None, *, model: Model, x,
                       final_activation: bool = True) -> np.ndarray:
    """``(n, m)`` float64 distances in function space: the root-mean-square difference of the
    outputs on the inputs ``x`` (over inputs and output units). Invariant under the symmetry
    group by construction (group images compute the same function).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = symmetry.random_element(model=model, key=jax.random.key(1))
    >>> image = symmetry.apply_element(model=model, params=params, element=g)
    >>> d = minima.function_distances(params, image, x=ls.datasets.xor().x, model=model)
    >>> d.shape, bool(d[0, 0] < 1e-6)
    ((1, 1), True)
    """
    from scipy.spatial.distance import cdist

    a = function_outputs(params, x, final_activation=final_activation, model=model)
    other = params if other is None else other
    b = function_outputs(other, x, final_activation=final_activation, model=model)
    k = a.shape[-2] * a.shape[-1]
    return cdist(a.reshape(-1, k), b.reshape(-1, k)) / math.sqrt(k)

