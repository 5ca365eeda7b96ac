"""Value keys of the callables a compiled program is built from, so that an equal but newly
built init or optimizer reuses the program instead of compiling it again.

``optax.sgd(0.5)`` returns a new pair of closures on every call, and
``landscape.inits.normal(model, 1.0)`` a new ``init_fn``: compared by identity (jit's rule),
re-running a notebook cell compiles again (XOR 10k x 2k: 0.26 s with the same objects, 1.1 s
with new ones). :func:`value_key` describes such a callable by what determines its code:
the function's code object, its defaults and, recursively, what its closure holds and the
current values of the global names its code reads. Two callables with equal keys were built by
the same factory from equal arguments and read equal globals, so they trace to the same
program (a notebook cell that changes a global ``scale`` and defines ``loss_fn`` again gets a
new program).

Only values whose equality is certain are compared by value: ``None``, booleans, integers,
strings, floats (by ``repr``, so ``-0.0`` and ``0.0`` differ and NaN equals NaN), NumPy
scalars and dtypes, tuples, dicts (optax's ``inject_hyperparams`` keeps its hyperparameters
in one), functions, ``functools.partial`` and hashable frozen dataclasses (``Model``,
``objectives.Loss``). Everything else (arrays, lists, other objects) is compared by identity,
as before, so it never causes a wrong reuse; so is a closure that refers to itself.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from typing import Any

import numpy as np

__all__ = ["value_key", "Identity"]

_PLAIN = (type(None), bool, int, str, bytes)


@dataclasses.dataclass(frozen=True, eq=False)
class Identity:
    """A key equal only to a key of the same object (jit's own rule)."""

    obj: Any

    def __eq__(self, other) -> bool:
        return isinstance(other, Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def value_key(obj, _seen: frozenset = frozenset()):
    """A hashable key of ``obj``: equal keys mean equal values (see the module docstring).

    >>> import optax
    >>> value_key(optax.sgd(0.5)) == value_key(optax.sgd(0.5))
    True
    >>> value_key(optax.sgd(0.5)) == value_key(optax.sgd(0.25))
    False
    """
    if isinstance(obj, _PLAIN):
        return (type(obj), obj)
    if isinstance(obj, (float, complex)):
        return (type(obj), repr(obj))
    if isinstance(obj, np.generic):
        return (type(obj), obj.tobytes())
    if isinstance(obj, (type, np.dtype)):
        return obj
    if id(obj) in _seen:  # a cycle (a closure that refers to itself)
        return Identity(obj)
    seen = _seen | {id(obj)}
    if isinstance(obj, tuple):
        return (type(obj), tuple(value_key(x, seen) for x in obj))
    if type(obj) is dict:
        items = sorted(obj.items(), key=lambda kv: repr(kv[0]))
        return (dict, tuple((value_key(k, seen), value_key(v, seen)) for k, v in items))
    if isinstance(obj, types.FunctionType):
        cells = tuple(_cell_key(c, seen) for c in obj.__closure__ or ())
        read = tuple((name, value_key(obj.__globals__[name], seen))
                     for name in sorted(_global_names(obj.__code__)) if name in obj.__globals__)
        return (obj.__code__, id(obj.__globals__), value_key(obj.__defaults__, seen),
                value_key(obj.__kwdefaults__, seen), cells, read)
    if isinstance(obj, functools.partial):
        return (functools.partial, value_key(obj.func, seen), value_key(obj.args, seen),
                value_key(obj.keywords, seen))
    if _frozen_dataclass(obj):
        try:
            hash(obj)
        except TypeError:
            return Identity(obj)
        return obj
    return Identity(obj)


def _global_names(code: types.CodeType) -> set[str]:
    """The names ``code`` (and the functions defined inside it) may read as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _cell_key(cell, seen):
    try:
        contents = cell.cell_contents
    except ValueError:  # an empty cell (a name assigned later in the enclosing function)
        return Identity(cell)
    return value_key(contents, seen)


def _frozen_dataclass(obj) -> bool:
    params = getattr(type(obj), "__dataclass_params__", None)
    return params is not None and params.frozen and params.eq
