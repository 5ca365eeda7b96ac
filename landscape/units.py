"""The unit layout: which axes of which leaves of a params pytree index hidden units.

Every analysis that knows about hidden units (the symmetry group, the symmetric subspace,
canonical forms, the census, filter normalization, breaking directions) reads a
:class:`UnitLayout`, never the internals of a framework, so the same analyses run on
``ls.mlp``, Flax (linen and NNX), Equinox and hand-written pytrees.

A layout is a feed-forward stack of weight layers. Layer ``l`` has ``size`` output units (the
features of a dense layer, the output channels of a convolution); its weight leaf holds them
along ``unit_axis`` and its inputs along ``input_axis``; its bias (if any) holds them along
axis 0. The units of every layer but the last are *hidden*: the next layer's weight reads them
along its ``input_axis``. Each hidden layer carries the symmetry of its activation:

- ``"odd"``: ``f(-z) = -f(z)`` (tanh, erf, linear): a unit's sign flips.
- ``"logistic"``: ``f(-z) = 1 - f(z)`` (sigmoid): a flip, the next layer's bias absorbing the
  constant.
- ``"rescale"``: ``f(a z) = a f(z)`` for ``a > 0`` (ReLU, leaky ReLU): a unit's incoming weights
  scale by ``a``, its outgoing weights by ``1/a``.
- ``"none"``: permutations only (softplus, GELU, ...).

Permuting the units of a hidden layer preserves the function for any elementwise activation.

Layouts are built by :func:`layout` from an ``ls.mlp`` Model, a Flax or Equinox model, or a
params pytree alone, finding the weight leaves by their names:

- ``kernel`` (Flax linen and NNX ``Dense``/``Linear``/``Conv``): ``(..., in, out)``;
- ``weight`` (Equinox ``Linear``/``Conv``, PyTorch-style dicts): ``(out, in, ...)``;
- ``w`` (``ls.mlp``): ``(in, out)``;

with the bias beside it named ``bias`` or ``b``. A dense layer that follows a convolution
reads its units flattened with the spatial positions: channels minor for ``kernel``/``w``
(Flax's ``(H, W, C)`` images), channels major for ``weight`` (Equinox's ``(C, H, W)``).

The layers are ordered by their shapes, not their names (Flax calls the output layer of
``nn.Dense(1)(nn.Dense(3)(x))`` ``Dense_0``): each layer's inputs equal the previous layer's
units (a multiple after a convolution; convolutions first). The only order that chains is
taken; entries of one list (Equinox ``MLP``, NNX ``Sequential``) keep the list's order; none
or several orders is an error. Such pytrees are declared by hand (:func:`declare`).

>>> import landscape as ls
>>> from landscape import units
>>> spec = units.layout(ls.mlp([2, 3, 1], activation="tanh"))
>>> spec.hidden_sizes, spec.symmetries
((3,), ('odd',))
>>> [(layer.weight, spec.size(l)) for l, layer in enumerate(spec.layers)]
[("[0]['w']", 3), ("[1]['w']", 1)]
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import sys
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .layer_order import chained_orders, feeds
from .models import ACTIVATIONS, Model

__all__ = ["SYMMETRIES", "SITES", "Layer", "UnitLayout", "layout", "activation_symmetry", "declare",
           "map_units", "unit_features", "permute", "flip", "rescale"]

SYMMETRIES = ("odd", "logistic", "rescale", "none")
"""The activation symmetries a hidden layer can carry (see the module docstring)."""

_WEIGHT_NAMES = {"kernel": "in_out", "w": "in_out", "weight": "out_in"}
_BIAS_NAMES = ("bias", "b")

_DECLARE_HINT = ("declare the layout by hand: units.declare(params, [units.Layer(weight=PATH, "
                 "bias=PATH, unit_axis=..., input_axis=...), ...], activation=...)")


# --------------------------------------------------------------------------------------------
# activation symmetries


@functools.lru_cache(maxsize=64)
def _probe(fn: Callable) -> str:
    z = np.linspace(-4.0, 4.0, 81)
    with jax.ensure_compile_time_eval():
        f = np.asarray(fn(jnp.asarray(z, jnp.float32)), np.float64)
        g = np.asarray(fn(jnp.asarray(-z, jnp.float32)), np.float64)
        scaled = [np.asarray(fn(jnp.asarray(a * z, jnp.float32)), np.float64) for a in (0.5, 3.0)]
    if f.shape != z.shape:
        raise ValueError(f"activation {fn!r} must be elementwise; it maps shape {z.shape} to "
                         f"{f.shape}")
    tol = 1e-5 * (1.0 + np.max(np.abs(f)))
    if np.max(np.abs(g + f)) <= tol:
        return "odd"
    if np.max(np.abs(g + f - 1.0)) <= tol:
        return "logistic"
    if all(np.max(np.abs(s - a * f)) <= tol * max(a, 1.0) for s, a in zip(scaled, (0.5, 3.0))):
        return "rescale"
    return "none"


def activation_symmetry(activation) -> str:
    """The symmetry of an elementwise activation, a name of ``ls.models.ACTIVATIONS`` or any
    callable: probed on a grid (``f(-z) = -f(z)``, ``1 - f(z)``, ``f(a z) = a f(z)`` to 1e-5).

    >>> import jax
    >>> [activation_symmetry(a) for a in ("tanh", "sigmoid", "relu", "softplus")]
    ['odd', 'logistic', 'rescale', 'none']
    >>> activation_symmetry(jax.nn.leaky_relu)
    'rescale'
    """
    if isinstance(activation, str):
        if activation in SYMMETRIES:
            return activation
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not a known activation; expected one "
                             f"of {sorted(ACTIVATIONS)}, a symmetry {SYMMETRIES} or a callable")
        return _probe(ACTIVATIONS[activation])
    _checks.function("activation", activation, "f(z) -> z, elementwise")
    return _probe(activation)


# --------------------------------------------------------------------------------------------
# the layout


@dataclasses.dataclass(frozen=True)
class Layer:
    """One weight layer of a feed-forward stack, located in the params pytree.

    weight, bias: the leaves' paths, in any of three forms: a ``jax.tree_util.keystr`` string
        (``"['params']['Dense_0']['kernel']"``), a tuple of names and indices
        (``('params', 'Dense_0', 'kernel')``, ``('layers', 0, 'weight')``; Flax NNX's trailing
        ``.value`` may be left out) or a ``jax.tree_util`` key path (a tuple of
        ``DictKey``/``GetAttrKey``/``SequenceKey``); a :class:`UnitLayout` holds them as keystr
        strings. ``bias`` None when the layer has none.
    unit_axis:    axis of ``weight`` along this layer's output units (in one network's leaf).
    input_axis:   axis of ``weight`` along its inputs (the previous layer's units).
    units_minor:  when the inputs are the previous layer's units flattened with positions
                  (a dense layer after a convolution), whether the units are the minor index
                  (channels last: Flax) or the major one (channels first: Equinox). None (the
                  default): channels last exactly when ``unit_axis`` comes after
                  ``input_axis``, as in Flax's ``(in, out)`` and ``(kh, kw, in, out)`` (True)
                  but not Equinox's and PyTorch's ``(out, in)`` and ``(out, in, kh, kw)``
                  (False); a :class:`UnitLayout` holds it resolved to a bool.
    """

    weight: str | tuple
    bias: str | tuple | None
    unit_axis: int
    input_axis: int
    units_minor: bool | None = None

    def __post_init__(self):
        object.__setattr__(self, "weight", _path_form("weight", self.weight))
        if self.bias is not None:
            object.__setattr__(self, "bias", _path_form("bias", self.bias))


_PATH_EXPECTED = ("a keystr string like \"['params']['Dense_0']['kernel']\", a tuple of names and "
                  "indices like ('params', 'Dense_0', 'kernel') or a jax.tree_util key path")


def _path_form(name: str, path) -> str | tuple:
    """A leaf path as given to :class:`Layer`: a string kept, a list or tuple kept as a tuple."""
    if isinstance(path, str):
        return path
    if isinstance(path, (list, tuple)) and path and all(
            isinstance(p, (str, int, np.integer)) and not isinstance(p, bool)
            or _key_name(p) is not None for p in path):
        return tuple(path)
    raise TypeError(f"{name}={path!r} must be {_PATH_EXPECTED}")


def _parts(path: tuple) -> tuple[str, ...]:
    """The names and indices of a tuple path (key entries or plain), as strings."""
    return tuple(str(p) if isinstance(p, (str, int, np.integer)) else _key_name(p) for p in path)


_KEYSTR_PART = re.compile(r"\[(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([^\]]*))\]"
                          r"|\.([^.\[]+)")


def _keystr_parts(path: str) -> tuple[str, ...]:
    """The names and indices of a keystr path (``"['a'][0].b"`` -> ``('a', '0', 'b')``)."""
    return tuple(next(g for g in m.groups() if g is not None) for m in _KEYSTR_PART.finditer(path))


def _resolve(name: str, path, paths: tuple[str, ...]) -> str:
    """The keystr in ``paths`` that ``path`` (a :class:`Layer` path form) names; a tuple
    matches a leaf's names and indices, with or without Flax NNX's trailing ``.value``."""
    if isinstance(path, str):
        if path in paths:
            return path
        matches = [p for p in paths if p.endswith(".value") and p[:-len(".value")] == path]
        shown = path
    else:
        parts = _parts(path)
        matches = [p for p in paths if _keystr_parts(p) in (parts, parts + ("value",))]
        shown = "".join(f"[{p!r}]" for p in parts)
    if len(matches) == 1:
        return matches[0]
    near = difflib.get_close_matches(shown, paths, n=3, cutoff=0.0)
    raise ValueError(f"{name}={path!r} is not a leaf of the params; expected {_PATH_EXPECTED} "
                     f"naming one of its leaves; nearest: {near}")


@dataclasses.dataclass(frozen=True)
class UnitLayout:
    """Where the hidden units of a params pytree are, and which symmetry each layer has.

    layers:     the weight layers in order, input to output (:class:`Layer`).
    symmetries: one of :data:`SYMMETRIES` per hidden layer (``len(layers) - 1``).
    paths, shapes: every leaf's path and shape for one network (``jax.tree.leaves`` order).
    """

    layers: tuple[Layer, ...]
    symmetries: tuple[str, ...]
    paths: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        if len(self.layers) < 1:
            raise ValueError("a unit layout needs at least one weight layer")
        located = tuple(self._located(i, layer) for i, layer in enumerate(self.layers))
        object.__setattr__(self, "layers", located)
        if len(self.symmetries) != len(self.layers) - 1:
            raise ValueError(f"symmetries={self.symmetries!r} must give one symmetry per hidden "
                             f"layer ({len(self.layers) - 1})")
        for s in self.symmetries:
            _checks.choice("symmetry", s, SYMMETRIES)
        for i, layer in enumerate(self.layers):
            self._validate_layer(i, layer)
        used = [p for layer in self.layers for p in (layer.weight, layer.bias) if p is not None]
        twice = sorted({p for p in used if used.count(p) > 1})
        if twice:
            raise ValueError(f"leaves {twice} are given to more than one layer (as a weight or "
                             "a bias); expected each leaf in at most one place")

    def _located(self, i: int, layer: Layer) -> Layer:
        """``layer`` with its paths as the keystr strings of this layout's leaves and
        ``units_minor`` resolved (None: channels last when the unit axis is the later one)."""
        bias, minor = layer.bias, layer.units_minor
        return dataclasses.replace(
            layer, weight=_resolve(f"layers[{i}].weight", layer.weight, self.paths),
            bias=None if bias is None else _resolve(f"layers[{i}].bias", bias, self.paths),
            units_minor=layer.unit_axis > layer.input_axis if minor is None else bool(minor))

    # ----- lookups

    def index(self, path: str) -> int:
        """Position of the leaf called ``path`` in ``jax.tree.leaves`` order."""
        try:
            return self.paths.index(path)
        except ValueError:
            raise ValueError(f"no leaf {path!r} in the params; leaves are "
                             f"{list(self.paths)}") from None

    def shape(self, path: str) -> tuple[int, ...]:
        return self.shapes[self.index(path)]

    def size(self, l: int) -> int:
        """Units of layer ``l`` (its weight's ``unit_axis`` length)."""
        layer = self.layers[l]
        return self.shape(layer.weight)[layer.unit_axis]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Units per hidden layer."""
        return tuple(self.size(l) for l in range(len(self.layers) - 1))

    def positions(self, h: int) -> int:
        """How many input positions of layer ``h + 1`` each unit of hidden layer ``h`` feeds
        (1 for a dense stack; the spatial size when a dense layer reads a flattened image)."""
        nxt = self.layers[h + 1]
        return self.shape(nxt.weight)[nxt.input_axis] // self.size(h)

    @property
    def unit_axes(self) -> list:
        """Per leaf (``jax.tree.leaves`` order), per axis: the hidden layer whose units run
        along it, or None (an axis read through a flattened view is marked too)."""
        axes = [[None] * len(s) for s in self.shapes]
        for h in range(len(self.layers) - 1):
            layer, nxt = self.layers[h], self.layers[h + 1]
            axes[self.index(layer.weight)][layer.unit_axis] = h
            if layer.bias is not None:
                axes[self.index(layer.bias)][0] = h
            axes[self.index(nxt.weight)][nxt.input_axis] = h
        return [tuple(a) for a in axes]

    # ----- checks

    def _validate_layer(self, i: int, layer: Layer) -> None:
        w = self.shape(layer.weight)
        for name in ("unit_axis", "input_axis"):
            axis = getattr(layer, name)
            if not 0 <= axis < len(w):
                raise ValueError(f"layer {i} ({layer.weight}): {name}={axis} is not an axis of its "
                                 f"weight of shape {w}")
        if layer.unit_axis == layer.input_axis:
            raise ValueError(f"layer {i} ({layer.weight}): unit_axis and input_axis are both "
                             f"{layer.unit_axis}")
        if layer.bias is not None:
            b = self.shape(layer.bias)
            if not b or b[0] != w[layer.unit_axis] or math.prod(b) != b[0]:
                raise ValueError(f"layer {i}: bias {layer.bias} of shape {b} does not hold the "
                                 f"{w[layer.unit_axis]} units of {layer.weight} {w} along its "
                                 f"unit_axis={layer.unit_axis}; expected shape "
                                 f"({w[layer.unit_axis]},)")
        if i > 0:
            prev = self.layers[i - 1]
            p = self.shape(prev.weight)
            if not feeds(p, prev, w, layer):
                raise ValueError(
                    f"layer {i - 1} ({prev.weight} {p}) has {p[prev.unit_axis]} units along axis "
                    f"{prev.unit_axis} but layer {i} ({layer.weight} {w}) reads "
                    f"{w[layer.input_axis]} inputs along axis {layer.input_axis}; expected "
                    f"{'a multiple of ' if len(p) > 2 else ''}{p[prev.unit_axis]}: the layers "
                    "must be in order, input to output")

    def check(self, params, name: str = "params") -> tuple[int, ...]:
        """Checks that ``params`` (one network, or a batch with leading axes) has this layout's
        leaves and shapes; returns the batch shape. Raises before any tracing."""
        flat = jax.tree_util.tree_flatten_with_path(params)[0]
        paths = tuple(jax.tree_util.keystr(p) for p, _ in flat)
        if paths != self.paths:
            raise ValueError(f"{name} has leaves {list(paths)}; the unit layout expects "
                             f"{list(self.paths)}")
        batch = None
        for path, (_, leaf), want in zip(paths, flat, self.shapes):
            shape = tuple(np.shape(leaf))
            lead = shape[:len(shape) - len(want)]
            if len(shape) < len(want) or shape[len(lead):] != want:
                raise ValueError(f"{name}{path} has shape {shape}; the unit layout expects "
                                 f"{want} (with any leading batch axes)")
            if batch is not None and lead != batch:
                raise ValueError(f"{name}{path} has batch axes {lead}, earlier leaves {batch}")
            batch = lead
        return batch

    def describe(self) -> str:
        """One line per layer: weight, bias, units, symmetry."""
        lines = []
        for l, layer in enumerate(self.layers):
            sym = self.symmetries[l] if l < len(self.symmetries) else "output"
            bias = "no bias" if layer.bias is None else f"bias {layer.bias}"
            n = self.size(l)
            lines.append(f"{layer.weight} {self.shape(layer.weight)}, {bias}: {n} "
                         f"unit{'' if n == 1 else 's'}, {sym}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# building layouts


def _leaf_table(params) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...], list]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    if not flat:
        raise ValueError("params has no array leaves; expected a pytree of floating arrays")
    paths = tuple(jax.tree_util.keystr(p) for p, _ in flat)
    shapes = tuple(tuple(leaf.shape) for _, leaf in flat)
    return paths, shapes, [p for p, _ in flat]


def _key_name(entry) -> str | None:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return None


def _split(path) -> tuple[tuple, str]:
    """``(parent key entries, leaf name)``: NNX's trailing ``.value`` is skipped."""
    names = [_key_name(e) for e in path]
    if names and names[-1] == "value" and len(names) >= 2:
        path, names = path[:-1], names[:-1]
    return tuple(path[:-1]), names[-1]


def _order(parents: list) -> list:
    """Parents (key-entry tuples, in flatten order) sorted as a stack: numbered siblings
    naturally (``Dense_2`` before ``Dense_10``, ``layers[2]`` before ``layers[10]``), other
    names in flatten order (dicts: sorted keys; Equinox modules: field order)."""
    rank: dict = {}

    def key(parent):
        out = []
        for depth, entry in enumerate(parent):
            name = str(_key_name(entry))
            stem = re.sub(r"\d+", "#", name)
            digits = re.findall(r"\d+", name)
            out.append((rank.setdefault((depth, stem), len(rank)), tuple(int(d) for d in digits)))
        return tuple(out)

    for parent in parents:
        key(parent)
    return sorted(parents, key=key)


def _chain(layers: list[Layer], shapes: list[tuple], paths) -> list[Layer]:
    """``layers`` (in name order) in the one order in which they chain: the only order that
    does, or the name order when the layers are numbered entries of one sequence (a list: an
    Equinox ``MLP``, an NNX ``Sequential``), whose order is the forward order. Names alone
    (``Dense_0``: Flax numbers layers as they are built, the output layer first in
    ``nn.Dense(1)(nn.Dense(3)(x))``) decide nothing: none or several orders is an error."""
    names = list(range(len(layers)))
    chains = all(feeds(shapes[i], layers[i], shapes[i + 1], layers[i + 1]) for i in names[:-1])
    if chains and _indexed([layers[i].weight for i in names]):
        return layers
    orders = chained_orders(layers, shapes)
    if len(orders) == 1:
        return [layers[i] for i in orders[0]]
    listed = ", ".join(f"{paths[i]} {shapes[i]}" for i in names)
    raise ValueError(f"cannot order the weight layers {listed} from their shapes: they chain "
                     f"(each reading the previous layer's units) in "
                     f"{'no order' if not orders else 'more than one order'}; {_DECLARE_HINT}")


def _indexed(paths: list[str]) -> bool:
    """Whether the leaf paths (keystr) differ only in sequence indices (``['layers'][0]...``,
    ``.layers[1].weight``): entries of one list, in its order."""
    parts = [_keystr_parts(p) for p in paths]
    return len({len(p) for p in parts}) == 1 and all(
        len(set(column)) == 1 or all(c.isdigit() and f"[{c}]" in path
                                     for c, path in zip(column, paths))
        for column in zip(*parts))


def _infer_layers(paths, shapes, raw) -> list[Layer]:
    groups: dict[tuple, dict[str, int]] = {}
    for i, path in enumerate(raw):
        parent, leaf = _split(path)
        groups.setdefault(parent, {})[leaf] = i
    layers, where = [], []
    for parent in _order(list(groups)):
        names = groups[parent]
        weights = [n for n in names if n in _WEIGHT_NAMES]
        if len(weights) != 1:
            i = next(iter(names.values()))
            raise ValueError(f"cannot infer the unit layout at leaf {paths[i]} (shape "
                             f"{shapes[i]}): weights must be named one of "
                             f"{sorted(_WEIGHT_NAMES)}; {_DECLARE_HINT}")
        wi = names[weights[0]]
        ndim = len(shapes[wi])
        extra = [n for n in names if n not in weights and n not in _BIAS_NAMES]
        if extra or ndim < 2:
            i = names[extra[0]] if extra else wi
            raise ValueError(f"cannot infer the unit layout at leaf {paths[i]} (shape "
                             f"{shapes[i]}): expected a weight of 2+ axes with an optional "
                             f"bias; {_DECLARE_HINT}")
        bias = next((paths[names[n]] for n in _BIAS_NAMES if n in names), None)
        if _WEIGHT_NAMES[weights[0]] == "in_out":
            layers.append(Layer(paths[wi], bias, unit_axis=ndim - 1, input_axis=ndim - 2))
        else:
            layers.append(Layer(paths[wi], bias, unit_axis=0, input_axis=1))
        where.append(wi)
    return _chain(layers, [shapes[i] for i in where], [paths[i] for i in where])


def _symmetries(activation, n_hidden: int, where: str) -> tuple[str, ...]:
    if activation is None:
        if n_hidden == 0:
            return ()
        raise ValueError(f"activation=None: the hidden activation of {where} cannot be read from "
                         "it; pass activation= (a name like 'tanh', a callable, a symmetry "
                         f"{SYMMETRIES}, or one per hidden layer)")
    if isinstance(activation, (list, tuple)):
        if len(activation) != n_hidden:
            raise ValueError(f"activation has {len(activation)} entries; expected one per hidden "
                             f"layer ({n_hidden})")
        return tuple(activation_symmetry(a) for a in activation)
    return (activation_symmetry(activation),) * n_hidden


def declare(params, layers: Sequence[Layer], *, activation=None) -> UnitLayout:
    """A layout declared by hand: ``layers`` in order, input to output, for ``params`` (one
    network). ``activation``: one name/callable/symmetry for all hidden layers, or one each.

    >>> import jax.numpy as jnp
    >>> from landscape import units
    >>> params = {"enc": {"M": jnp.zeros((3, 2))}, "dec": {"M": jnp.zeros((1, 3))}}
    >>> spec = units.declare(params, [units.Layer("['enc']['M']", None, unit_axis=0, input_axis=1),
    ...                               units.Layer("['dec']['M']", None, unit_axis=0, input_axis=1)],
    ...                      activation="tanh")
    >>> spec.hidden_sizes
    (3,)
    """
    paths, shapes, _ = _leaf_table(params)
    layers = tuple(layers)
    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"layers must hold units.Layer entries, got {layer!r}")
    return UnitLayout(layers, _symmetries(activation, len(layers) - 1, "a declared layout"),
                      paths, shapes)


def _sequential_activations(items) -> list | None:
    """The callables between weight layers of a Sequential's ``layers`` (None: identity)."""
    acts, pending, seen = [], None, False
    for item in items:
        if hasattr(item, "kernel") or hasattr(item, "weight") or type(item).__name__ in (
                "Dense", "Conv", "Linear", "ConvTranspose"):
            if seen:
                acts.append(pending if pending is not None else "linear")
            seen, pending = True, None
        elif callable(item):
            if pending is not None:
                return None  # two activations in a row: not a simple stack
            pending = item
    return acts


def _framework(model) -> str | None:
    """``"equinox"``, ``"nnx"``, ``"linen"`` or None; frameworks not imported yet cannot have
    built ``model``, so nothing is imported here."""
    for name, module, cls in (("equinox", "equinox", "Module"), ("nnx", "flax.nnx", "Module"),
                              ("linen", "flax.linen", "Module")):
        mod = sys.modules.get(module)
        if mod is not None and isinstance(model, getattr(mod, cls)):
            return name
    return None


def _reference(model, params, n_batch_axes: int):
    """``(one network's params or shapes, activation read from the model or None, where)``."""
    if isinstance(model, Model):
        return jax.eval_shape(model.init, jax.random.key(0)), model.activation, "ls.mlp"
    kind = _framework(model) if model is not None else None
    if kind == "equinox":
        import equinox as eqx
        act = getattr(model, "activation", None) if hasattr(model, "layers") else None
        return eqx.filter(model, eqx.is_inexact_array), act, f"the {type(model).__name__} model"
    if kind == "nnx":
        from flax import nnx
        acts = _sequential_activations(getattr(model, "layers", None) or [])
        return nnx.state(model, nnx.Param), acts or None, f"the {type(model).__name__} model"
    if model is not None and kind != "linen":
        raise TypeError(f"model={type(model).__name__} is not a supported model (ls.mlp, Flax, "
                        f"Equinox or a UnitLayout); pass params= and activation=, or "
                        f"{_DECLARE_HINT}")
    if params is None:
        raise ValueError("params=None: the layout of a Flax linen module or a bare pytree is read "
                         "from its params (the variables of one network, or pass n_batch_axes=)")
    _checks.float_leaves(params)
    count = _checks.count("n_batch_axes", n_batch_axes, minimum=0)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a)[count:], a.dtype), params)
    if kind == "linen":
        acts = _sequential_activations(getattr(model, "layers", None) or [])
        return shapes, acts or None, f"the {type(model).__name__} model"
    return shapes, None, "these params"


def layout(model=None, params=None, *, activation=None, n_batch_axes: int = 0) -> UnitLayout:
    """The unit layout of a network.

    ``model``: an ``ls.mlp`` Model, or a Flax NNX or Equinox module (the layout is read from
    the model itself, one network); a Flax linen module or None (read from ``params``, whose
    first ``n_batch_axes`` axes are batch axes); or a :class:`UnitLayout`. ``params``, when
    given, is checked against the layout (any leading batch axes). ``activation`` (a name,
    callable or symmetry, or one per hidden layer) is needed when the model does not say it
    (custom modules, bare pytrees); a Sequential's activations are read from its layers.

    >>> import jax, jax.numpy as jnp
    >>> from landscape import units
    >>> params = {"Dense_0": {"kernel": jnp.zeros((3, 4)), "bias": jnp.zeros(4)},
    ...           "Dense_1": {"kernel": jnp.zeros((4, 1)), "bias": jnp.zeros(1)}}
    >>> units.layout(params=params, activation=jax.nn.relu).symmetries
    ('rescale',)
    """
    if isinstance(model, UnitLayout):
        spec = model
    else:
        ref, read, where = _reference(model, params, n_batch_axes)
        paths, shapes, raw = _leaf_table(ref)
        layers = _infer_layers(paths, shapes, raw)
        act = activation if activation is not None else read
        spec = UnitLayout(tuple(layers), _symmetries(act, len(layers) - 1, where), paths, shapes)
    if params is not None:
        spec.check(params)
    return spec


# --------------------------------------------------------------------------------------------
# moving units: the primitive group actions, on one network or a batch (leading axes)


def _unit_last(leaf, axis: int, positions: int, units_minor: bool):
    """``leaf`` with the unit axis ``axis`` moved last (a flattened ``P * H`` axis split into
    positions and units first), and the function that puts a result back."""
    shape = leaf.shape
    if positions > 1:
        n = shape[axis]
        split = (positions, n // positions) if units_minor else (n // positions, positions)
        leaf = leaf.reshape(shape[:axis] + split + shape[axis + 1:])
        axis = axis + 1 if units_minor else axis
    moved = jnp.moveaxis(leaf, axis, -1)
    return moved, lambda x: jnp.moveaxis(x, -1, axis).reshape(shape)


SITES = ("weight", "bias", "next")
"""Where a hidden unit lives: its incoming ``weight`` row/column, its ``bias``, and the ``next``
layer's weight that reads it."""


def _sites(spec: UnitLayout, h: int) -> list[tuple[int, int, int, bool, str]]:
    layer, nxt = spec.layers[h], spec.layers[h + 1]
    sites = [(spec.index(layer.weight), layer.unit_axis, 1, True, "weight")]
    if layer.bias is not None:
        sites.append((spec.index(layer.bias), 0, 1, True, "bias"))
    sites.append((spec.index(nxt.weight), nxt.input_axis, spec.positions(h), nxt.units_minor,
                  "next"))
    return sites


def map_units(spec: UnitLayout, params, fn, *, batch: tuple[int, ...] = ()):
    """``fn(h, site, moved) -> new`` at every place each hidden layer's units live.

    ``moved`` is a leaf with hidden layer ``h``'s unit axis last, ``(*batch, ..., H_h)`` (a
    flattened positions-and-units axis split first), ``site`` one of :data:`SITES`; ``new``
    must have ``moved``'s shape. Every leaf is first broadcast to the common batch shape of the
    params and ``batch``. Returns the new params.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import units
    >>> model = ls.mlp([2, 3, 1])
    >>> spec = units.layout(model)
    >>> to_mean = lambda h, site, m: jnp.broadcast_to(m.mean(-1, keepdims=True), m.shape)
    >>> mean = units.map_units(spec, model.init(jax.random.key(0)), to_mean)
    >>> float(jnp.ptp(mean[0]["w"], axis=1).max())   # every hidden unit now equal
    0.0
    """
    leaves, treedef = jax.tree.flatten(params)
    common = jnp.broadcast_shapes(batch, *_leading(leaves, spec))
    leaves = [jnp.broadcast_to(leaf, common + s) for leaf, s in zip(leaves, spec.shapes)]
    for h in range(len(spec.layers) - 1):
        for i, axis, positions, minor, site in _sites(spec, h):
            moved, back = _unit_last(leaves[i], axis + len(common), positions, minor)
            leaves[i] = back(fn(h, site, moved))
    return treedef.unflatten(leaves)


def _leading(leaves, spec: UnitLayout) -> list[tuple[int, ...]]:
    """Each leaf's leading (batch) axes: its shape before the layout's shape of one network."""
    return [leaf.shape[:leaf.ndim - len(s)] for leaf, s in zip(leaves, spec.shapes)]


def unit_features(spec: UnitLayout, params, h: int):
    """Everything hidden unit ``j`` of layer ``h`` owns, one row per unit: ``(*batch, H_h, F)``,
    its incoming weights, bias and outgoing weights (in :data:`SITES` order) concatenated.

    >>> import jax, landscape as ls
    >>> from landscape import units
    >>> model = ls.mlp([2, 3, 1])
    >>> units.unit_features(units.layout(model), model.init(jax.random.key(0)), 0).shape
    (3, 4)
    """
    leaves = jax.tree.leaves(params)
    batch = jnp.broadcast_shapes(*_leading(leaves, spec))
    parts = []
    for i, axis, positions, minor, _ in _sites(spec, h):
        leaf = jnp.broadcast_to(leaves[i], batch + spec.shapes[i])
        moved, _ = _unit_last(leaf, axis + len(batch), positions, minor)
        parts.append(jnp.swapaxes(moved.reshape(batch + (-1, moved.shape[-1])), -1, -2))
    return jnp.concatenate(parts, axis=-1)


def _per_unit(spec: UnitLayout, params, values, fn):
    """:func:`map_units` with one ``(..., H_h)`` array of ``values`` per hidden layer, shaped
    for ``fn(moved, v, site)`` to broadcast against ``moved``."""
    values = [jnp.asarray(v) for v in values]
    leaves = jax.tree.leaves(params)
    batch = jnp.broadcast_shapes(*_leading(leaves, spec), *[v.shape[:-1] for v in values])

    def apply(h, site, moved):
        v = jnp.broadcast_to(values[h], batch + values[h].shape[-1:])
        v = v.reshape(batch + (1,) * (moved.ndim - len(batch) - 1) + v.shape[-1:])
        return fn(moved, v, site)
    return map_units(spec, params, apply, batch=batch)


def permute(spec: UnitLayout, params, perms: Sequence):
    """New unit ``j`` of hidden layer ``h`` is old unit ``perms[h][j]`` (``perms``: one int array
    ``(..., H_h)`` per hidden layer). The function is unchanged for any activation.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import units
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> swapped = units.permute(units.layout(model), params, [jnp.array([2, 0, 1])])
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(swapped, x), model.apply(params, x), atol=1e-6))
    True
    """
    def take(moved, perm, site):
        idx = jnp.broadcast_to(perm, moved.shape[:-1] + perm.shape[-1:]).astype(jnp.int32)
        return jnp.take_along_axis(moved, idx, axis=-1)
    return _per_unit(spec, params, perms, take)


def flip(spec: UnitLayout, params, signs: Sequence):
    """Flips hidden units: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer ``h`` (one array
    of +-1 ``(..., H_h)`` per hidden layer). A ``"logistic"`` layer's flip moves the unit's old
    outgoing weights into the next layer's bias (``f(-z) = 1 - f(z)``); layers of another
    symmetry than ``"odd"``/``"logistic"`` refuse flips.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import units
    >>> model = ls.mlp([2, 2, 1], activation="sigmoid")
    >>> params = model.init(jax.random.key(0))
    >>> flipped = units.flip(units.layout(model), params, [jnp.array([-1, 1])])
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(flipped, x), model.apply(params, x), atol=1e-6))
    True
    """
    for h in range(len(signs)):
        sym, nxt = spec.symmetries[h], spec.layers[h + 1]
        if sym not in ("odd", "logistic"):
            raise ValueError(f"hidden layer {h} has symmetry {sym!r}: its units cannot flip")
        if sym == "logistic" and (nxt.bias is None or spec.positions(h) > 1
                                  or len(spec.shape(nxt.weight)) != 2):
            raise ValueError(f"hidden layer {h} is logistic but the next layer {nxt.weight} is not "
                             "dense with a bias, which a flip needs to absorb 1 - f")
    old = jax.tree.leaves(params)
    new, treedef = jax.tree.flatten(
        _per_unit(spec, params, signs, lambda moved, sign, site: moved * sign.astype(moved.dtype)))
    for h, sign in enumerate(signs):
        if spec.symmetries[h] == "logistic":
            nxt = spec.layers[h + 1]
            w = old[spec.index(nxt.weight)]
            w = jnp.moveaxis(w, nxt.input_axis + w.ndim - 2, -1)    # (..., n_out, H)
            flipped = (1 - jnp.asarray(sign).astype(w.dtype)) / 2   # 1 where a unit flips
            shift = jnp.sum(w * flipped[..., None, :], axis=-1)
            if h + 1 < len(signs):  # the next layer's own flips negate its shifted bias too
                shift = shift * jnp.asarray(signs[h + 1]).astype(w.dtype)
            b = spec.index(nxt.bias)
            new[b] = new[b] + shift
    return treedef.unflatten(new)


def rescale(spec: UnitLayout, params, scales: Sequence):
    """Rescales hidden units of ``"rescale"`` layers (ReLU-like): unit ``j`` of layer ``h``
    gets incoming weights and bias times ``scales[h][j] > 0`` and outgoing weights divided by
    it (one array ``(..., H_h)`` per hidden layer); other layers refuse.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import units
    >>> model = ls.mlp([2, 2, 1], activation="relu", output="linear")
    >>> params = model.init(jax.random.key(0))
    >>> scaled = units.rescale(units.layout(model), params, [jnp.array([3.0, 0.5])])
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(scaled, x), model.apply(params, x), atol=1e-6))
    True
    """
    for h in range(len(scales)):
        if spec.symmetries[h] != "rescale":
            raise ValueError(f"hidden layer {h} has symmetry {spec.symmetries[h]!r}: its units "
                             "cannot be rescaled")

    def scale(moved, a, site):
        a = a.astype(moved.dtype)
        return moved / a if site == "next" else moved * a
    return _per_unit(spec, params, scales, scale)
