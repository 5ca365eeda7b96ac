"""parallel.InvariantJit: its compiler options at the top level, the plain jit where JAX stages
the call (tracers, a jit or scan body), decided before the call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def _spied():
    """An InvariantJit of ``2 x`` whose calls of its two compiled forms are recorded."""
    from landscape import parallel
    double, calls = parallel.InvariantJit(lambda x: 2 * x), []
    for name in ("top", "nested"):
        fn = getattr(double, name)
        setattr(double, name, lambda *a, fn=fn, name=name: calls.append(name) or fn(*a))
    return double, calls


@pytest.mark.parametrize("where, want", [
    ("top level", "top"),
    ("vmap", "nested"),
    ("grad", "nested"),
    ("vmap, concrete argument", "top"),
    ("jit", "nested"),
    ("jit, concrete argument", "nested"),  # no tracer among the arguments, still staged
    ("scan body", "nested"),
    ("eval_shape", "nested"),
])
def test_invariant_jit_picks_its_form_from_where_it_is_called(where, want):
    double, calls = _spied()
    one = jnp.ones(2)
    run = {
        "top level": lambda: double(one),
        "vmap": lambda: jax.vmap(double)(one),
        "grad": lambda: jax.grad(lambda x: double(x).sum())(one),
        "vmap, concrete argument": lambda: jax.vmap(lambda x: double(jnp.full(2, 3.0)) + x)(one),
        "jit": lambda: jax.jit(double)(one),
        "jit, concrete argument": lambda: jax.jit(lambda x: double(jnp.full(2, 3.0)) + x)(one),
        "scan body": lambda: jax.lax.scan(lambda c, x: (c + double(x), None), 0.0, one)[0],
        "eval_shape": lambda: jax.eval_shape(double, one),
    }[where]
    out = run()
    assert calls == [want]
    expected = {"grad": [2.0, 2.0], "jit, concrete argument": [7.0, 7.0],
                "vmap, concrete argument": [[7.0, 7.0], [7.0, 7.0]], "scan body": 4.0,
                "eval_shape": None}.get(where, [2.0, 2.0])
    if expected is not None:
        np.testing.assert_array_equal(np.asarray(out), expected)


def test_invariant_jit_passes_the_function_errors_through():
    from landscape import parallel

    def refuse(x):
        raise ValueError("compiler_options in a user's own message")
    with pytest.raises(ValueError, match="user's own message"):
        parallel.InvariantJit(refuse)(jnp.ones(2))
