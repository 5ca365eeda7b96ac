"""The same network in four frameworks: an ``ls.mlp`` and its weights copied into an Equinox
``nn.MLP``, a Flax linen ``Dense`` stack and a Flax NNX ``Linear`` stack, for equivalence tests
("the same weights give the same symmetry gap, canonical form, census, filter norms").

``convert(kind, model, params)`` returns ``(net, params_in_framework, apply)``: ``net`` is what a
user passes as ``model=`` (the framework's model object, holding the first network of a batch),
``params_in_framework`` the weights in that framework's pytree (leading batch axes of ``params``
kept), and ``apply(p, x)`` the outputs ``(batch, n_out)`` of one network.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from landscape.models import ACTIVATIONS

KINDS = ("ls.mlp", "equinox", "linen", "nnx")


def _layers(params):
    return [(layer["w"], layer.get("b")) for layer in params]


def convert(kind: str, model, params):
    n_batch = params[0]["w"].ndim - 2
    if n_batch:
        net, _, apply = convert(kind, model, jax.tree.map(lambda a: a[(0,) * n_batch], params))
        return net, _framework_params(kind, net, model, params), apply
    return _convert(kind, model, params)


def _framework_params(kind, net, model, params):
    """The weights of ``params`` (any batch) in ``kind``'s pytree, structured like ``net``'s."""
    if kind == "equinox":
        import equinox as eqx
        arrays = eqx.filter(net, eqx.is_inexact_array)
        for l, (w, b) in enumerate(_layers(params)):
            arrays = eqx.tree_at(lambda m, l=l: m.layers[l].weight, arrays, jnp.swapaxes(w, -1, -2))
            if b is not None:
                arrays = eqx.tree_at(lambda m, l=l: m.layers[l].bias, arrays, b)
        return arrays
    if kind == "nnx":
        from flax import nnx
        state = nnx.state(net, nnx.Param)
        flat = [w for w, b in _layers(params) for w in ((b, w) if b is not None else (w,))]
        return jax.tree.structure(state).unflatten(flat)  # per layer: bias, kernel (sorted keys)
    return _convert(kind, model, params)[1]


def _convert(kind: str, model, params):
    act = ACTIVATIONS[model.activation]
    out = ACTIVATIONS[model.output]
    sizes = model.sizes
    if kind == "ls.mlp":
        return model, params, model.apply
    if kind == "equinox":
        import equinox as eqx
        if len(set(sizes[1:-1])) > 1:
            raise ValueError("equinox's nn.MLP takes hidden layers of one width")
        if len(set(model.bias[:-1])) > 1:
            raise ValueError("equinox's nn.MLP takes one bias switch for all hidden layers")
        net = eqx.nn.MLP(sizes[0], sizes[-1], sizes[1], len(sizes) - 2, activation=act,
                         final_activation=out, use_bias=model.bias[0], use_final_bias=model.bias[-1],
                         key=jax.random.key(0))
        static = eqx.filter(net, eqx.is_inexact_array, inverse=True)
        arrays = _framework_params(kind, net, model, params)
        net = eqx.combine(arrays, static)

        def apply(p, x):
            return jax.vmap(eqx.combine(p, static))(x)
        return net, arrays, apply
    if kind == "linen":
        from flax import linen as nn

        class MLP(nn.Module):
            @nn.compact
            def __call__(self, x):
                for l, width in enumerate(sizes[1:]):
                    x = nn.Dense(width, use_bias=model.bias[l])(x)
                    x = act(x) if l < len(sizes) - 2 else out(x)
                return x

        net = MLP()
        variables = {"params": {f"Dense_{l}": ({"kernel": w, "bias": b} if b is not None else {"kernel": w})
                                for l, (w, b) in enumerate(_layers(params))}}
        return net, variables, net.apply
    if kind == "nnx":
        from flax import nnx
        items = []
        for l in range(len(sizes) - 1):
            items.append(nnx.Linear(sizes[l], sizes[l + 1], use_bias=model.bias[l], rngs=nnx.Rngs(l)))
            items.append(act if l < len(sizes) - 2 else out)
        net = nnx.Sequential(*items)
        graph, _ = nnx.split(net, nnx.Param)
        state = _framework_params(kind, net, model, params)
        net = nnx.merge(graph, state)

        def apply(p, x):
            return nnx.merge(graph, p)(x)
        return net, state, apply
    raise ValueError(f"kind={kind!r} must be one of {KINDS}")
