"""Multi-layer perceptrons as pure ``(init, apply)`` pairs that know their own layer layout.

Params of an MLP with ``sizes = [n_0, ..., n_L]`` are a list of ``L`` dicts, one per layer::

    params[l] = {"w": (n_l, n_{l+1}), "b": (n_{l+1},)}     # "b" absent where bias[l] is False

``apply(params, x)`` maps inputs ``x: (batch, n_0)`` to outputs ``(batch, n_L)``.
Layer ``l < L - 1`` ends in the hidden activation, the last layer in the output activation.

The *layout* says which array axes index hidden units, so that the symmetry and minima
modules can permute or flip units generically: ``model.unit_axes`` is a pytree shaped like
the params whose leaves are tuples, one entry per array axis, holding the index of the hidden
layer whose units run along that axis (or ``None``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ACTIVATIONS", "Model", "activation", "mlp"]

_SQRT2 = math.sqrt(2.0)

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "erf": lambda z: jax.lax.erf(z / _SQRT2),
    "linear": lambda z: z,
}
"""Activations by name. ``erf`` is ``erf(z / sqrt 2)``, the soft committee machine's unit."""


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The elementwise activation called ``name`` (a key of :data:`ACTIVATIONS`); any shape in,
    the same shape out.

    >>> import jax.numpy as jnp
    >>> activation("sigmoid")(jnp.zeros(3)).tolist()
    [0.5, 0.5, 0.5]
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not a known activation; expected one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


@dataclasses.dataclass(frozen=True)
class Model:
    """A pure MLP: ``init(key) -> params`` and ``apply(params, x: (batch, n_in)) -> (batch, n_out)``.

    ``init`` draws LeCun-normal weights (std ``1/sqrt(fan_in)``) and zero biases; the schemes
    of :mod:`landscape.inits` give every other start. The remaining fields describe the layout.
    Build one with :func:`mlp`.

    >>> import jax, jax.numpy as jnp
    >>> model = mlp([2, 3, 1])
    >>> params = model.init(jax.random.key(0))
    >>> [{k: v.shape for k, v in layer.items()} for layer in params]
    [{'w': (2, 3), 'b': (3,)}, {'w': (3, 1), 'b': (1,)}]
    >>> model.apply(params, jnp.zeros((4, 2))).shape
    (4, 1)
    >>> model.unit_axes  # hidden layer 0 runs along w0's columns, b0, and w1's rows
    [{'w': (None, 0), 'b': (0,)}, {'w': (0, None), 'b': (None,)}]

    ``bias`` holds one bool per weight layer (:func:`mlp` accepts one bool for all):

    >>> mlp([2, 3, 1], bias=(True, False)).param_shapes  # hidden biases, no output bias
    [{'w': (2, 3), 'b': (3,)}, {'w': (3, 1)}]
    """

    sizes: tuple[int, ...]
    activation: str
    output: str
    bias: tuple[bool, ...]

    def __post_init__(self):
        # one bool per weight layer, whichever form was given (mlp passes a bool or a sequence)
        object.__setattr__(self, "bias", _per_layer_bias(self.bias, len(self.sizes) - 1))

    @property
    def n_layers(self) -> int:
        """Number of weight layers ``L``."""
        return len(self.sizes) - 1

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Units per hidden layer, ``sizes[1:-1]``."""
        return self.sizes[1:-1]

    @property
    def param_shapes(self) -> list[dict[str, tuple[int, ...]]]:
        """Shapes of the params pytree, without drawing anything."""
        shapes = []
        for l, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            layer = {"w": (fan_in, fan_out)}
            if self.bias[l]:
                layer["b"] = (fan_out,)
            shapes.append(layer)
        return shapes

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for layer in self.param_shapes for s in layer.values())

    @property
    def unit_axes(self) -> list[dict[str, tuple[int | None, ...]]]:
        """Per leaf, per axis: the hidden layer whose units run along it, or ``None``.

        Hidden layer ``h`` is the output of weight layer ``h``: its units run along axis 1 of
        ``params[h]["w"]``, axis 0 of ``params[h]["b"]`` and axis 0 of ``params[h + 1]["w"]``.
        """
        n_hidden = len(self.hidden_sizes)
        axes = []
        for l in range(self.n_layers):
            rows = l - 1 if l >= 1 else None
            cols = l if l < n_hidden else None
            layer = {"w": (rows, cols)}
            if self.bias[l]:
                layer["b"] = (cols,)
            axes.append(layer)
        return axes

    def init(self, key: jax.Array, dtype=jnp.float32) -> list[dict[str, jax.Array]]:
        """LeCun-normal weights, zero biases. ``key`` is a JAX PRNG key."""
        params = []
        for l, shapes in enumerate(self.param_shapes):
            fan_in = shapes["w"][0]
            w = jax.random.normal(jax.random.fold_in(key, l), shapes["w"], dtype) / math.sqrt(fan_in)
            layer = {"w": w}
            if self.bias[l]:
                layer["b"] = jnp.zeros(shapes["b"], dtype)
            params.append(layer)
        return params

    def apply(self, params, x: jax.Array, *, final_activation: bool = True) -> jax.Array:
        """Outputs ``(batch, n_out)`` for inputs ``x: (batch, n_in)``.

        With ``final_activation=False`` the output layer's pre-activations (logits) come back.
        """
        hidden = ACTIVATIONS[self.activation]
        out = ACTIVATIONS[self.output] if final_activation else ACTIVATIONS["linear"]
        h = x
        for l, layer in enumerate(params):
            z = h @ layer["w"]
            if self.bias[l]:
                z = z + layer["b"]
            h = hidden(z) if l < self.n_layers - 1 else out(z)
        return h

    def apply_batched(self, params, x: jax.Array, *, final_activation: bool = True) -> jax.Array:
        """Outputs ``(batch, n_out, runs)`` of many networks at once, run axis last.

        ``params`` leaves carry a trailing run axis (``w: (n_l, n_{l+1}, runs)``,
        ``b: (n_{l+1}, runs)``). Written by hand so that the run axis is the minor, vectorized
        dimension: the trainer's fast path for the toolkit's own MLPs (several times faster on
        the CPU than vmapping :meth:`apply` for tiny networks). Agrees with ``vmap(apply)``.

        Layer by layer, ``z[p, j, r] = sum_i h[p, i, r] * w[i, j, r]`` is a broadcast product
        summed over ``i``, which XLA fuses into one elementwise loop over the run axis (and
        whose gradient is again a fused reduction, with no per-unit slices to pad back). The
        first layer's inputs are the same for every run: when there are many of them
        (``batch * n_in >= 64``, e.g. 256 samples of 10 inputs) that layer is one matrix
        product ``x @ w.reshape(n_in, -1)`` instead (about 3x faster there, and faster than the
        equivalent ``einsum``, whose gradient XLA computed through a transposed copy; slower
        for XOR's 4 x 2 inputs). Measured on a 2-core CPU, see ``benchmarks/bench_train.py``.
        """
        hidden = ACTIVATIONS[self.activation]
        out = ACTIVATIONS[self.output] if final_activation else ACTIVATIONS["linear"]
        h = x
        for l, layer in enumerate(params):
            w = layer["w"]
            if l == 0 and x.shape[0] * x.shape[1] >= 64:
                z = (x @ w.reshape(w.shape[0], -1)).reshape((x.shape[0],) + w.shape[1:])
            elif l == 0:
                z = jnp.sum(x[:, :, None, None] * w[None], axis=1)
            else:
                z = jnp.sum(h[:, :, None, :] * w[None], axis=1)
            if self.bias[l]:
                z = z + layer["b"][None]
            h = hidden(z) if l < self.n_layers - 1 else out(z)
        return h


def _per_layer_bias(bias, n_layers: int) -> tuple[bool, ...]:
    """``bias`` as one Python bool per weight layer: a bool applies to every layer, a sequence
    gives one bool per layer (numpy bools are accepted and stored as Python bools)."""
    if isinstance(bias, (bool, np.bool_)):
        return (bool(bias),) * n_layers
    if isinstance(bias, (tuple, list)) and all(isinstance(b, (bool, np.bool_)) for b in bias):
        if len(bias) != n_layers:
            raise ValueError(f"bias={bias!r} must give one bool per weight layer ({n_layers} here), "
                             f"e.g. {(True,) * (n_layers - 1) + (False,)}")
        return tuple(bool(b) for b in bias)
    raise TypeError(f"bias={bias!r} must be True or False, or one bool per weight layer "
                    f"like (True, False)")


def mlp(sizes, activation: str = "sigmoid", output: str = "sigmoid",
        bias: bool | Sequence[bool] = True) -> Model:
    """A fully connected network with layer widths ``sizes = [n_in, hidden..., n_out]``.

    ``activation`` names the hidden units' nonlinearity and ``output`` the output layer's
    (both keys of :data:`ACTIVATIONS`). ``bias``: ``True``/``False`` for every weight layer, or
    one bool per weight layer, e.g. ``(True, False)`` for hidden biases and no output bias;
    :attr:`Model.bias` always holds the per-layer tuple.

    >>> model = mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    >>> model.n_params
    9
    >>> mlp([2, 2, 1], bias=(True, False)).n_params, mlp([2, 2, 1], bias=(True, False)).bias
    (8, (True, False))
    """
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes={sizes!r} must be a sequence of layer widths like [2, 2, 1]") from None
    # numbers.Integral also admits numpy integers (sizes read from arrays or configs); they are
    # stored as Python ints so that equal models compare and hash equal.
    if len(sizes) < 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                                 and s > 0 for s in sizes):
        raise ValueError(
            f"sizes={sizes!r} must list at least two positive integer layer widths, e.g. [2, 2, 1]"
        )
    sizes = tuple(int(s) for s in sizes)
    for arg, name in (("activation", activation), ("output", output)):
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise ValueError(
                f"{arg}={name!r} is not a known activation; expected one of {sorted(ACTIVATIONS)}"
            )
    return Model(sizes=sizes, activation=activation, output=output, bias=bias)
