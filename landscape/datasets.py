"""Small tasks with known structure. Each returns a :class:`Dataset` pytree ``(x, y)``.

``x: (n_samples, n_in)`` and ``y: (n_samples, n_out)``, float32 unless ``dtype`` says otherwise.

Two kinds of task live here:

- *Exhaustive boolean tasks* (``xor``, ``parity``, ``encoder``, ``mirror``): every input
  pattern exactly once (``parity`` and ``mirror`` in binary counting order: row ``i`` is the
  binary expansion of ``i``, most significant bit first). No randomness, no key.
- *Sampled tasks* (``moons``, ``spirals``, ``circles``, ``teacher_student``, ``sine``): drawn
  from an explicit JAX PRNG key (``jax.random.key(seed)``); the same key gives the same data,
  and each random ingredient uses its own ``fold_in(key, i)``. Integer seeds are refused so a
  seed is never confused with a key. Python-level arguments are checked before any JAX work;
  the sampling itself is one compiled program per static configuration (sizes, dtype, whether
  there is noise), and the functions also run under ``jit``/``vmap`` over the key.

The two-class 2-D sets (``moons``, ``spirals``, ``circles``) label class 0 and class 1 with
``y in {0, 1}``, shape ``(n_samples, 1)``. Rows alternate between the classes (row ``i`` has
label ``i % 2``), so the classes are exactly balanced for even ``n_samples`` (class 0 has one
more point when it is odd) and every prefix of the rows is balanced too; the points themselves
are random: each row draws its own position along its class's curve.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .models import Model

__all__ = [
    "Dataset", "TeacherStudent",
    "xor", "parity", "encoder", "mirror",
    "moons", "spirals", "circles", "teacher_student", "sine",
]


class Dataset(NamedTuple):
    """Inputs ``x: (n_samples, n_in)`` and targets ``y: (n_samples, n_out)``; a pytree.

    >>> import jax.numpy as jnp
    >>> data = Dataset(jnp.zeros((8, 3)), jnp.ones((8, 1)))
    >>> data.x.shape, data.y.shape
    ((8, 3), (8, 1))
    """

    x: jax.Array
    y: jax.Array


class TeacherStudent(NamedTuple):
    """What :func:`teacher_student` returns: the ``data`` and the ``teacher_params`` behind it.

    Unpacks as a pair: ``data, teacher_params = teacher_student(key, teacher)`` (see there
    for an example).
    """

    data: Dataset
    teacher_params: Any


# --------------------------------------------------------------------------- argument checks


# Exhaustive tasks hold all 2^n_bits patterns: 2^24 rows of 24 float32s are already 1.6 GB.
MAX_BITS = 24


@functools.partial(jax.jit, static_argnames=("kind", "n_samples", "noisy", "dt"))
def _two_class(kind: str, key, n_samples: int, noisy: bool, noise, shape, dt) -> Dataset:
    """Shared body of the two-class 2-D sets, compiled once per ``(kind, n, noisy, dtype)``.

    Row ``i`` has label ``i % 2``; its curve parameter is ``u_i ~ U[0, 1)`` from
    ``fold_in(key, 0)``; the noise (drawn only when ``noisy``) comes from ``fold_in(key, 1)``.
    ``shape`` is ``turns`` for spirals and ``factor`` for circles (unused for moons).
    """
    label = jnp.arange(n_samples) % 2
    u = jax.random.uniform(jax.random.fold_in(key, 0), (n_samples,), dt)
    if kind == "moons":
        t = jnp.pi * u
        c, s = jnp.cos(t), jnp.sin(t)
        pts = jnp.where((label == 0)[:, None], jnp.stack([c, s], axis=1),
                        jnp.stack([1.0 - c, 0.5 - s], axis=1))
    elif kind == "spirals":
        theta = 2.0 * jnp.pi * shape * u + jnp.pi * label
        pts = u[:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)
    elif kind == "circles":
        t = 2.0 * jnp.pi * u
        radius = jnp.where(label == 0, 1.0, shape)
        pts = radius[:, None] * jnp.stack([jnp.cos(t), jnp.sin(t)], axis=1)
    else:
        raise ValueError(
            f"kind={kind!r} is not a two-class set; expected moons, spirals or circles")
    if noisy:
        pts = pts + noise * jax.random.normal(jax.random.fold_in(key, 1), (n_samples, 2), dt)
    return Dataset(pts.astype(dt), label[:, None].astype(dt))


def _binary_patterns(n_bits: int) -> np.ndarray:
    """All ``2^n_bits`` rows of {0,1}^n_bits in counting order, MSB first: ``(2^n, n)`` int."""
    i = np.arange(2 ** n_bits)[:, None]
    shifts = np.arange(n_bits - 1, -1, -1)[None, :]
    return (i >> shifts) & 1


# --------------------------------------------------------------------------- boolean tasks


def xor(dtype=jnp.float32) -> Dataset:
    """The four XOR patterns: ``x`` in {0,1}^2, ``y = x1 xor x2``, shapes (4, 2) and (4, 1).

    >>> data = xor()
    >>> data.x.tolist(), data.y.ravel().tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 1.0, 1.0, 0.0])
    """
    x = jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = jnp.array([[0], [1], [1], [0]], dtype)
    return Dataset(x, y)


def parity(n_bits: int, *, dtype=jnp.float32) -> Dataset:
    """n-bit parity: all ``2^n_bits`` patterns of {0,1}^n, ``y = 1`` if the number of ones is odd.

    Shapes ``x: (2^n, n)``, ``y: (2^n, 1)``; row ``i`` is the binary expansion of ``i`` (MSB
    first). ``parity(2)`` is :func:`xor`. ``n_bits <= MAX_BITS`` (24) bounds memory.

    >>> data = parity(3)
    >>> data.x.shape, data.y.ravel().tolist()
    ((8, 3), [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    """
    n_bits = _checks.count("n_bits", n_bits, minimum=1, maximum=MAX_BITS)
    dt = _checks.floating_dtype("dtype", dtype)
    bits = _binary_patterns(n_bits)
    y = bits.sum(axis=1, keepdims=True) % 2
    return Dataset(jnp.asarray(bits, dt), jnp.asarray(y, dt))


def encoder(n: int, m: int | None = None, *, dtype=jnp.float32) -> Dataset:
    """The n-m-n encoder task: ``x = y =`` the ``n`` one-hot patterns (the identity), ``(n, n)``.

    A network must squeeze ``n`` patterns through ``m`` hidden units (classically
    ``m = log2 n``, e.g. 4-2-4 or 8-3-8). ``m`` does not change the data; it is only checked
    (a positive integer, when given) so that a call can name the whole task.

    >>> data = encoder(4, 2)  # the 4-2-4 encoder
    >>> data.x.shape, bool((data.x == data.y).all())
    ((4, 4), True)
    """
    n = _checks.count("n", n, minimum=1)
    if m is not None:
        _checks.count("m", m, minimum=1)
    dt = _checks.floating_dtype("dtype", dtype)
    eye = jnp.eye(n, dtype=dt)
    return Dataset(eye, eye)


def mirror(n_bits: int = 6, *, dtype=jnp.float32) -> Dataset:
    """Mirror symmetry (Rumelhart, Hinton & Williams 1986): is the pattern a palindrome?

    All ``2^n_bits`` patterns of {0,1}^n (counting order, MSB first); ``y = 1`` when
    ``x[i] == x[n-1-i]`` for every ``i``. ``n_bits`` must be even; ``2^(n/2)`` patterns are
    symmetric; ``n_bits <= MAX_BITS`` (24). Shapes ``x: (2^n, n)``, ``y: (2^n, 1)``.

    >>> data = mirror(4)
    >>> data.x.shape, int(data.y.sum())  # 2^(4/2) palindromes
    ((16, 4), 4)
    """
    n_bits = _checks.count("n_bits", n_bits, minimum=2, maximum=MAX_BITS)
    if n_bits % 2:
        raise ValueError(
            f"n_bits={n_bits!r} must be an even integer >= 2 (mirror halves the pattern)")
    dt = _checks.floating_dtype("dtype", dtype)
    bits = _binary_patterns(n_bits)
    y = np.all(bits == bits[:, ::-1], axis=1, keepdims=True)
    return Dataset(jnp.asarray(bits, dt), jnp.asarray(y, dt))


# --------------------------------------------------------------------------- sampled 2-D sets


def moons(key: jax.Array, n_samples: int = 200, noise: float = 0.1, *,
          dtype=jnp.float32) -> Dataset:
    """Two interleaving half circles in 2-D (as scikit-learn's ``make_moons``), random angles.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``; ``t ~ U[0, pi]`` per
    point, then i.i.d. ``N(0, noise^2)`` added to each coordinate. ``x: (n, 2)``,
    ``y: (n, 1)`` in {0, 1}; row order as in the module docstring.

    >>> import jax
    >>> data = moons(jax.random.key(0), 100)
    >>> data.x.shape, data.y[:4].ravel().tolist()
    ((100, 2), [0.0, 1.0, 0.0, 1.0])
    """
    key = _checks.key(key)
    n_samples = _checks.count("n_samples", n_samples, minimum=2)
    noise = _checks.real("noise", noise, low=0.0)
    dt = _checks.floating_dtype("dtype", dtype)
    return _two_class("moons", key, n_samples, noise > 0, noise, 0.0, dt)


def spirals(key: jax.Array, n_samples: int = 200, noise: float = 0.0, turns: float = 1.5, *,
            dtype=jnp.float32) -> Dataset:
    """Two interleaved Archimedean spirals in 2-D, one per class.

    A point at radius ``r ~ U[0, 1]`` has angle ``2 pi turns r`` (class 0) or that plus ``pi``
    (class 1, the same spiral rotated by half a turn); i.i.d. ``N(0, noise^2)`` is then added
    to each coordinate. ``turns > 0`` is how many revolutions each arm makes. ``x: (n, 2)``,
    ``y: (n, 1)`` in {0, 1}; row order as in the module docstring.

    >>> import jax
    >>> spirals(jax.random.key(0), 100, noise=0.05).x.shape
    (100, 2)
    """
    key = _checks.key(key)
    n_samples = _checks.count("n_samples", n_samples, minimum=2)
    noise = _checks.real("noise", noise, low=0.0)
    turns = _checks.real("turns", turns, low=0.0, low_open=True)
    dt = _checks.floating_dtype("dtype", dtype)
    return _two_class("spirals", key, n_samples, noise > 0, noise, turns, dt)


def circles(key: jax.Array, n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, *,
            dtype=jnp.float32) -> Dataset:
    """Two concentric circles in 2-D (as scikit-learn's ``make_circles``), random angles.

    Class 0 lies on the outer circle (radius 1), class 1 on the inner one (radius ``factor``,
    ``0 < factor < 1``); angles ``U[0, 2 pi)`` per point, then i.i.d. ``N(0, noise^2)`` added to
    each coordinate. ``x: (n, 2)``, ``y: (n, 1)`` in {0, 1}; row order as in the module
    docstring.

    >>> import jax
    >>> circles(jax.random.key(0), 100, factor=0.3).y.shape
    (100, 1)
    """
    key = _checks.key(key)
    n_samples = _checks.count("n_samples", n_samples, minimum=2)
    noise = _checks.real("noise", noise, low=0.0)
    factor = _checks.real("factor", factor, low=0.0, low_open=True, high=1.0, high_open=True)
    dt = _checks.floating_dtype("dtype", dtype)
    return _two_class("circles", key, n_samples, noise > 0, noise, factor, dt)


# --------------------------------------------------------------------------- regression


def teacher_student(key: jax.Array, teacher: Model, n_samples: int = 256, noise_std: float = 0.0,
                    teacher_init: Callable | None = None, *, dtype=jnp.float32) -> TeacherStudent:
    """Data labelled by a random teacher network; returns ``TeacherStudent(data, teacher_params)``.

    ``teacher_params = teacher_init(fold_in(key, 0))`` (default: ``teacher.init``, LeCun
    normal); inputs ``x ~ N(0, I)`` from ``fold_in(key, 1)``, shape ``(n, teacher.n_in)``;
    targets ``y = teacher.apply(teacher_params, x) + noise_std * N(0, 1)`` (noise from
    ``fold_in(key, 2)``), shape ``(n, teacher.n_out)``.

    >>> import jax, landscape as ls
    >>> data, teacher_params = ls.datasets.teacher_student(
    ...     jax.random.key(0), ls.mlp([4, 2, 1], activation="erf", output="linear"))
    >>> data.x.shape, data.y.shape
    ((256, 4), (256, 1))
    """
    key = _checks.key(key)
    _checks.model(teacher, "teacher")
    n_samples = _checks.count("n_samples", n_samples, minimum=1)
    noise_std = _checks.real("noise_std", noise_std, low=0.0)
    if teacher_init is not None and not callable(teacher_init):
        raise TypeError(
            f"teacher_init={teacher_init!r} must be an init_fn(key) -> params "
            f"(e.g. landscape.inits.normal(teacher, 1.0)) or None for teacher.init")
    dt = _checks.floating_dtype("dtype", dtype)
    if teacher_init is not None:
        # Shapes only (nothing drawn): an init_fn built for another model fails here, clearly.
        got = jax.tree.map(lambda a: tuple(a.shape), jax.eval_shape(teacher_init, key))
        if got != teacher.param_shapes:
            raise ValueError(
                f"teacher_init={teacher_init!r} returns params of shapes {got!r}; expected the "
                f"teacher's shapes {teacher.param_shapes!r} (sizes {list(teacher.sizes)})")
    return _teacher_student(teacher, teacher_init, key, n_samples, noise_std > 0, noise_std, dt)


@functools.partial(jax.jit, static_argnames=("teacher", "teacher_init", "n_samples", "noisy", "dt"))
def _teacher_student(teacher, teacher_init, key, n_samples, noisy, noise_std, dt) -> TeacherStudent:
    # teacher_init=None (not a fresh closure) keeps the default case in the jit cache.
    k0 = jax.random.fold_in(key, 0)
    params = teacher.init(k0, dtype=dt) if teacher_init is None else teacher_init(k0)
    x = jax.random.normal(jax.random.fold_in(key, 1), (n_samples, teacher.n_in), dt)
    y = teacher.apply(params, x).astype(dt)
    if noisy:
        y = y + noise_std * jax.random.normal(jax.random.fold_in(key, 2), y.shape, dt)
    return TeacherStudent(Dataset(x, y), params)


def sine(key: jax.Array, n_samples: int = 64, noise_std: float = 0.0,
         x_range: tuple[float, float] = (-math.pi, math.pi), *, dtype=jnp.float32) -> Dataset:
    """1-D regression ``y = sin(x) + noise_std * N(0, 1)``; ``x: (n, 1)``, ``y: (n, 1)``.

    ``x`` is drawn uniformly at random on ``[low, high)`` (``x_range = (low, high)``, from
    ``fold_in(key, 0)``) and then **sorted ascending**, so ``plot(x, y)`` draws a curve; noise
    comes from ``fold_in(key, 1)``.

    >>> import jax
    >>> data = sine(jax.random.key(0), 32)
    >>> data.x.shape, bool((data.x[1:] >= data.x[:-1]).all())
    ((32, 1), True)
    """
    key = _checks.key(key)
    n_samples = _checks.count("n_samples", n_samples, minimum=1)
    noise_std = _checks.real("noise_std", noise_std, low=0.0)
    try:
        low, high = x_range
    except (TypeError, ValueError):
        raise TypeError(
            f"x_range={x_range!r} must be a pair (low, high) of finite numbers") from None
    low = _checks.real("x_range[0]", low)
    high = _checks.real("x_range[1]", high)
    if not low < high:
        raise ValueError(f"x_range={x_range!r} must be (low, high) with low < high")
    dt = _checks.floating_dtype("dtype", dtype)
    return _sine(key, n_samples, noise_std > 0, noise_std, low, high, dt)


@functools.partial(jax.jit, static_argnames=("n_samples", "noisy", "dt"))
def _sine(key, n_samples, noisy, noise_std, low, high, dt) -> Dataset:
    x = jax.random.uniform(jax.random.fold_in(key, 0), (n_samples, 1), dt, low, high)
    x = jnp.sort(x, axis=0)
    y = jnp.sin(x)
    if noisy:
        y = y + noise_std * jax.random.normal(jax.random.fold_in(key, 1), (n_samples, 1), dt)
    return Dataset(x, y.astype(dt))
