"""The one set of argument validators, used by every public function before any tracing.

Each check names the argument, shows the value and says what was expected: a ``TypeError`` for
a value of the wrong kind, a ``ValueError`` for the right kind out of range. Checks return the
normalized value (a Python int, a float, a typed key), so callers use what they checked.

>>> from landscape import _checks
>>> _checks.count("n_runs", 10)
10
>>> _checks.count("n_runs", 0)
Traceback (most recent call last):
...
ValueError: n_runs=0 must be an integer >= 1
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

MAX_SEED = 2**64 - 1
"""Largest integer seed: ``jax.random.key`` takes a 64-bit seed."""


def is_tracer(value) -> bool:
    """Whether ``value`` is a JAX tracer (inside ``jit``/``vmap``): such values pass unchecked."""
    return isinstance(value, jax.core.Tracer)


def count(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer (not a bool) in ``[minimum, maximum]``, as a Python int."""
    expected = f"an integer >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be {expected}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={value!r} must be {expected}")
    return int(value)


def optional_count(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    """``None``, or :func:`count`."""
    return None if value is None else count(name, value, minimum=minimum, maximum=maximum)


def real(name: str, value, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (not a bool) in the given range, as a Python float."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high}")
    expected = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}={value!r} must be {expected}")
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"{name}={value!r} must be {expected}")
    return v


def tolerance(name: str, value, default, *, positive: bool = False):
    """A finite non-negative (``positive``: positive) number; ``None`` gives ``default``;
    tracers pass unchecked (tolerances may be traced data)."""
    if value is None:
        return default
    if is_tracer(value):
        return value
    if positive:
        return real(name, value, low=0.0, low_open=True)
    return real(name, value, low=0.0)


def key(value, name: str = "key") -> jax.Array:
    """One PRNG key, typed: an integer seed in ``[0, 2**64)``, a typed key
    (``jax.random.key(seed)``) or a raw ``uint32[2]`` key (``jax.random.PRNGKey(seed)``, wrapped
    so it draws the same numbers). Traced keys pass."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= value <= MAX_SEED:
            raise ValueError(f"{name}={value!r} must be a seed in [0, 2**64) or a JAX PRNG key")
        return jax.random.key(int(value))
    if isinstance(value, jax.Array) or is_tracer(value):
        if jnp.issubdtype(value.dtype, jax.dtypes.prng_key) and value.shape == ():
            return value
    if (isinstance(value, (jax.Array, np.ndarray)) or is_tracer(value)) and value.shape == (2,) \
            and value.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(value))
    shown = (f"<array shape={tuple(value.shape)} dtype={value.dtype}>"
             if isinstance(value, (jax.Array, np.ndarray)) else repr(value))
    raise TypeError(f"{name}={shown} must be an integer seed or one JAX PRNG key "
                    "(jax.random.key(seed))")


def floating_dtype(name: str, value) -> np.dtype:
    """A floating dtype (``jnp.float32``, ``"float64"``, ...), as a NumPy dtype."""
    try:
        dt = jnp.dtype(value)
    except TypeError:
        dt = None
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{name}={value!r} must be a floating dtype such as jnp.float32")
    return dt


def choice(name: str, value, options: Sequence[str]) -> str:
    """One of the string ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(map(repr, options))}")
    return value


def function(name: str, value, signature: str) -> Any:
    """A callable; ``signature`` says how it is called, e.g. ``"init_fn(key) -> params"``."""
    if not callable(value):
        raise TypeError(f"{name}={value!r} must be a callable {signature}")
    return value


def init_fn(value, name: str = "init_fn") -> Any:
    """A callable ``init_fn(key) -> params`` (one network)."""
    return function(name, value, "init_fn(key) -> params, e.g. inits.normal(model, 1.0)")


def loss_fn(value, name: str = "loss_fn") -> Any:
    """A hashable callable ``loss_fn(params, data) -> scalar`` (a static argument of the
    compiled programs)."""
    function(name, value, "loss_fn(params, data) -> scalar")
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"{name}={value!r} must be hashable (it is a static argument of the "
                        "compiled program); wrap it in a function or functools.partial") from None
    return value


def float_leaves(tree, name: str = "params") -> list:
    """The leaves of ``tree``, checked to be floating arrays."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} has no array leaves; expected a pytree of floating arrays")
    for leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} leaves must be floating arrays, got a leaf of type "
                            f"{type(leaf).__name__} with dtype {dtype}")
    return leaves


def batch_size(tree, name: str = "params") -> int:
    """The leading axis shared by every (floating) leaf of ``tree``: its batch of points."""
    leaves = float_leaves(tree, name)
    sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [tuple(leaf.shape) for leaf in leaves]
        raise ValueError(f"{name} must share a leading batch axis on every leaf, got leaf "
                         f"shapes {shapes}")
    size = sizes.pop()
    if size < 1:
        raise ValueError(f"{name} has an empty batch axis (0 points); expected at least one")
    return size


def model(value, name: str = "model"):
    """A :class:`landscape.models.Model` (built by ``ls.mlp``)."""
    from .models import Model
    if not isinstance(value, Model):
        shown = repr(value)
        if len(shown) > 60 or "\n" in shown:
            shown = f"<{type(value).__name__}>"
        raise TypeError(f"{name}={shown} must be a landscape Model, e.g. landscape.mlp([2, 2, 1])")
    return value


def optimizer(value, name: str = "optimizer"):
    """An optax ``GradientTransformation`` (anything with ``init`` and ``update``)."""
    if not (hasattr(value, "init") and hasattr(value, "update")):
        raise TypeError(f"{name}={value!r} must be an optax GradientTransformation, e.g. "
                        "optax.sgd(0.5)")
    return value


def model_batch_shape(params, model, name: str = "params") -> tuple[int, ...]:
    """Check ``params`` against the layout of a :class:`landscape.models.Model` (a list of
    layer dicts of floating leaves ``(*batch, *shape)``); return the common leading batch shape
    ``batch`` (``()`` for one network)."""
    shapes = model.param_shapes
    if not isinstance(params, (list, tuple)) or len(params) != len(shapes):
        raise ValueError(
            f"{name} must be a list of {len(shapes)} layer dicts like {shapes} (sizes "
            f"{list(model.sizes)}), got {type(params).__name__}"
            + (f" of length {len(params)}" if isinstance(params, (list, tuple)) else ""))
    batch = None
    for l, (layer, want) in enumerate(zip(params, shapes)):
        if not isinstance(layer, dict) or set(layer) != set(want):
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"{name}[{l}] must be a dict with keys {sorted(want)}, got {got}")
        for kind, shape in want.items():
            leaf = layer[kind]
            dtype = getattr(leaf, "dtype", None)
            if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
                raise TypeError(f"{name}[{l}][{kind!r}] must be a floating array, got "
                                f"{type(leaf).__name__} with dtype {dtype}")
            lead = tuple(leaf.shape[: leaf.ndim - len(shape)])
            if leaf.ndim < len(shape) or tuple(leaf.shape[len(lead):]) != shape:
                raise ValueError(f"{name}[{l}][{kind!r}] has shape {tuple(leaf.shape)}; expected "
                                 f"(*batch, {', '.join(map(str, shape))})")
            if batch is None:
                batch = lead
            elif lead != batch:
                raise ValueError(f"{name} leaves must share their leading batch axes: "
                                 f"{name}[{l}][{kind!r}] has {lead}, earlier leaves {batch}")
    return batch


def per_item(name: str, values, n: int, *, dtype=None) -> np.ndarray:
    """``values`` as a NumPy array with one entry per item (run, point): shape ``(n,)``."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one entry per run, shape ({n},); got shape {arr.shape}")
    if dtype is not None:
        arr = arr.astype(dtype)
    return arr


def shape(name: str, value) -> tuple[int, ...]:
    """A shape: an int or a sequence of non-negative ints, as a tuple of Python ints.

    >>> shape("shape", 3), shape("shape", (2, 0))
    ((3,), (2, 0))
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        raise TypeError(f"{name}={value!r} must be an int or a tuple of ints") from None
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise ValueError(f"{name}={value!r} must hold non-negative integers")
    return tuple(int(d) for d in dims)


def params_of_model(model, params, *, n_batch_axes: int, name: str = "params",
                    what: str = "the loss's model") -> None:
    """Check ``params`` against the layout of ``model`` (a :class:`landscape.models.Model`;
    ``None``: nothing to check) with ``n_batch_axes`` leading axes (0: one network, 1: a batch
    of points). Raises ``ValueError`` naming the leaf and the model's sizes.

    >>> import jax, landscape as ls
    >>> small, big = ls.mlp([2, 2, 1]), ls.mlp([2, 3, 1])
    >>> params_of_model(small, ls.inits.zeros(big)(jax.random.key(0)), n_batch_axes=0)
    Traceback (most recent call last):
    ValueError: params[0]['w'] has shape (2, 3); expected (*batch, 2, 2): they do not fit the loss's model [2, 2, 1]
    """
    if model is None:
        return
    try:
        batch = model_batch_shape(params, model, name)
    except ValueError as err:
        raise ValueError(f"{err}: they do not fit {what} {list(model.sizes)}") from None
    if len(batch) != n_batch_axes:
        expected = "one network" if n_batch_axes == 0 else f"{n_batch_axes} leading batch axis"
        raise ValueError(f"{name} must be {expected} of {what} {list(model.sizes)}, "
                         f"got leading axes {batch}")


def params_of_loss(loss_fn, params, *, n_batch_axes: int, name: str = "params") -> None:
    """:func:`params_of_model` for the model of a toolkit loss or success criterion
    (``ls.objectives.loss``/``success``); other functions are not checked (their params are
    whatever they take)."""
    from .objectives import Criterion, Loss
    model = loss_fn.model if isinstance(loss_fn, (Loss, Criterion)) else None
    params_of_model(model, params, n_batch_axes=n_batch_axes, name=name)


def params_like(name: str, value, reference, *, reference_name: str = "params",
                n_batch_axes: int = 0) -> tuple[int, ...]:
    """Check that ``value`` is laid out like the pytree ``reference`` before any tracing: the
    same leaf paths (tree structure), floating leaves, and each leaf's shape equal to the
    reference leaf's shape after ``n_batch_axes`` leading axes shared by every leaf (0: the same
    shapes; 1: a batch of points). Leaves of ``reference`` may be arrays or anything with a
    ``shape`` (``jax.ShapeDtypeStruct``). Dtypes only need to be floating (a float64 direction
    of float32 params is cast where it is used). Returns the leading batch shape.

    Raises a one-line ``ValueError`` naming ``name`` and the first mismatching leaf (its path,
    the shape found and the shape expected).

    >>> import jax.numpy as jnp
    >>> p = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    >>> params_like("d", {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, p)
    ()
    >>> params_like("d", {"w": jnp.ones((2, 2)), "b": jnp.ones(3)}, p)
    Traceback (most recent call last):
    ValueError: d['w'] has shape (2, 2); params['w'] has shape (2, 3) there
    """
    float_leaves(value, name)
    got = jax.tree_util.tree_flatten_with_path(value)[0]
    want = jax.tree_util.tree_flatten_with_path(reference)[0]
    got_paths = [jax.tree_util.keystr(p) for p, _ in got]
    want_paths = [jax.tree_util.keystr(p) for p, _ in want]
    if got_paths != want_paths or (jax.tree_util.tree_structure(value)
                                   != jax.tree_util.tree_structure(reference)):
        i = next((i for i, (a, b) in enumerate(zip(got_paths, want_paths)) if a != b),
                 min(len(got_paths), len(want_paths)))
        found = f"leaf {name}{got_paths[i]}" if i < len(got_paths) else "no more leaves"
        expected = (f"{reference_name}{want_paths[i]}" if i < len(want_paths)
                    else "no more leaves")
        raise ValueError(f"{name} is not laid out like {reference_name}: leaf {i} is {found} "
                         f"where {reference_name} has {expected} ({len(got_paths)} leaves, "
                         f"expected {len(want_paths)})")
    batch = None
    for path, (_, leaf), (_, ref) in zip(got_paths, got, want):
        shape, ref_shape = tuple(np.shape(leaf)), tuple(ref.shape)
        lead = shape[:len(shape) - len(ref_shape)]
        if len(shape) != len(ref_shape) + n_batch_axes or shape[len(lead):] != ref_shape:
            axes = f" after {n_batch_axes} leading batch axis" if n_batch_axes else ""
            raise ValueError(f"{name}{path} has shape {shape}; {reference_name}{path} has shape "
                             f"{ref_shape} there{axes}")
        if batch is not None and lead != batch:
            raise ValueError(f"{name}{path} has leading axes {lead}; earlier leaves have {batch}")
        batch = lead
    return batch
