"""train_many: reproducibility, chunking, failure handling, options, paths and input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import train

MODEL = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
DATA = ls.datasets.xor()
LOSS = ls.objectives.loss(MODEL, "mse")
NORMAL = ls.inits.normal(MODEL, 1.0)
SGD = optax.sgd(0.5)
# The fast (run-axis-last) and generic (vmap) paths sum products in different orders, so they
# agree only to float32 rounding, amplified a little over hundreds of steps.
PATHS_RTOL = 1e-4
# The same in float64: rounding of a different summation order over 300 steps.
PATHS_RTOL64 = 1e-12


def _train(**overrides):
    kwargs = dict(key=jax.random.key(0), n_runs=10, steps=100, record_every=10)
    kwargs.update(overrides)
    return ls.train_many(LOSS, NORMAL, SGD, DATA, **kwargs)


def _assert_same(a: ls.TrainResult, b: ls.TrainResult):
    for x, y in zip(jax.tree.leaves(a.params),
                    jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)
    for name in ("losses", "grad_norm", "status", "failed_step", "record_steps", "success_step",
                 "trajectory_runs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert jax.tree.structure(a.trajectory) == jax.tree.structure(b.trajectory)
    for x, y in zip(jax.tree.leaves(a.trajectory), jax.tree.leaves(b.trajectory)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("method", ["batched", "vmap"])
def test_chunked_equals_unchunked_bit_for_bit(method):
    extra = dict(method=method, success=ls.objectives.success(MODEL), trajectory_runs=[0, 4, 9])
    whole = _train(**extra)
    chunked = _train(chunk_size=3, **extra)
    assert whole.trajectory is not None and whole.success_step is not None
    _assert_same(whole, chunked)


@pytest.mark.parametrize("case", ["xor_fast", "xor_generic", "wide_fast"])
def test_concurrent_groups_give_the_one_call_numbers_bit_for_bit(case, monkeypatch):
    # On a CPU with idle cores a chunk is split into groups trained at once from host threads;
    # 300 runs in 3 groups of 128 (the last one short and padded), trajectories in every group.
    if case == "wide_fast":  # a matrix product in the fast path: fixed-shape blocks
        model = ls.mlp([10, 32, 1], activation="tanh", output="linear")
        x = jax.random.normal(jax.random.key(1), (64, 10))
        data, extra = ls.Dataset(x, jnp.sin(x[:, :1])), dict(method="batched")
    else:
        model, data = MODEL, DATA
        extra = dict(method="batched" if case == "xor_fast" else "vmap",
                     success=ls.objectives.success(MODEL))
    loss, init = ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0)
    monkeypatch.setattr(train.plan, "_MIN_GROUP_WORK", 1)  # groups even for this small job
    kwargs = dict(key=3, n_runs=300, steps=20, record_every=10, trajectory_runs=[5, 130, 299], **extra)
    results = {}
    for groups in (1, 3):
        monkeypatch.setattr(ls.parallel, "concurrent_calls", lambda n_devices, g=groups: g)
        plan = ls.plan_training(loss, init, optax.sgd(0.5), data, devices=1, **kwargs)
        assert plan.groups == groups and len(plan.group_bounds(0)) == groups
        results[groups] = ls.train_many(loss, init, optax.sgd(0.5), data, devices=1, **kwargs)
    assert plan.group_bounds(0) == [(0, 128), (128, 256), (256, 300)]
    assert "3 concurrent groups a chunk" in plan.describe()
    np.testing.assert_array_equal(results[3].trajectory_runs, [5, 130, 299])
    _assert_same(results[1], results[3])


def test_concurrent_groups_share_one_compile_of_the_chunk_program(monkeypatch):
    from jax import monitoring
    names = []

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            names.append(str(kw.get("fun_name")))

    monkeypatch.setattr(ls.parallel, "concurrent_calls", lambda n_devices: 3)
    monkeypatch.setattr(train.plan, "_MIN_GROUP_WORK", 1)
    monitoring.register_event_duration_secs_listener(listen)
    try:
        ls.train_many(LOSS, NORMAL, optax.sgd(0.25), DATA, key=0, n_runs=192, steps=7, devices=1)
    finally:
        monitoring.unregister_event_duration_listener(listen)
    assert sum("sharded_program" in name for name in names) == 1, names


def test_a_small_job_is_one_group_and_a_large_one_uses_the_cores(monkeypatch):
    monkeypatch.setattr(ls.parallel, "concurrent_calls", lambda n_devices: 2)
    small = ls.plan_training(LOSS, NORMAL, SGD, DATA, key=0, n_runs=1000, steps=200, devices=1)
    large = ls.plan_training(LOSS, NORMAL, SGD, DATA, key=0, n_runs=10_000, steps=2000, devices=1)
    assert (small.groups, large.groups) == (1, 2)  # 7.2e6 and 7.2e8 runs x steps x samples x params
    assert large.group_bounds(0) == [(0, 5056), (5056, 10_000)]


def test_map_concurrently_keeps_the_order_and_uses_one_thread_per_item():
    import threading
    barrier = threading.Barrier(3, timeout=10)  # passes only when 3 calls run at once
    out = ls.parallel.map_concurrently(lambda i: (barrier.wait(), i * i)[1], [1, 2, 3])
    assert out == [1, 4, 9]
    with pytest.raises(ZeroDivisionError):
        ls.parallel.map_concurrently(lambda i: 1 // i, [1, 0])


@pytest.mark.parametrize("method", ["batched", "vmap"])
def test_wider_network_is_chunk_invariant_and_n_runs_invariant(method):
    # Wider layers make XLA pick shape-dependent kernels: results must not depend on chunking.
    model = ls.mlp([10, 32, 1], activation="tanh", output="linear")
    x = jax.random.normal(jax.random.key(1), (64, 10))
    data = ls.Dataset(x, jnp.sin(x[:, :1]))
    loss = ls.objectives.loss(model, "mse")
    kwargs = dict(key=jax.random.key(2), steps=20, record_every=10, method=method)
    init = ls.inits.lecun(model)
    whole = ls.train_many(loss, init, optax.sgd(0.05), data, n_runs=70, **kwargs)
    _assert_same(whole, ls.train_many(loss, init, optax.sgd(0.05), data, n_runs=70, chunk_size=9, **kwargs))
    few = ls.train_many(loss, init, optax.sgd(0.05), data, n_runs=5, **kwargs)
    np.testing.assert_array_equal(few.losses, whole.losses[:5])


def test_same_seed_same_result_and_other_seed_differs():
    _assert_same(_train(), _train())
    other = _train(key=jax.random.key(1))
    assert not np.array_equal(other.losses, _train().losses)


def test_run_i_starts_from_fold_in_key_i():
    result = _train(steps=10, record_every=10, trajectory_runs=[0, 7])
    starts = ls.initial_params(NORMAL, jax.random.key(0), [0, 7])
    for traj, start in zip(jax.tree.leaves(result.trajectory), jax.tree.leaves(starts)):
        np.testing.assert_array_equal(traj[:, 0], start)


@pytest.mark.parametrize("method", ["batched", "vmap"])
def test_given_starts_train_bit_for_bit_like_the_init_fn_draws(method):
    starts = ls.initial_params(NORMAL, jax.random.key(0), np.arange(10))
    drawn = _train(method=method)
    given = ls.train_many(LOSS, None, SGD, DATA, starts=starts, steps=100, record_every=10, method=method)
    assert given.n_runs == 10
    _assert_same(drawn, given)
    # chunks of 3 (the last one padded with copies of its first start); init_fn and key, given
    # too, only define the structure and the (unused) minibatch order
    _assert_same(drawn, ls.train_many(LOSS, NORMAL, SGD, DATA, key=5, starts=starts, steps=100,
                                      record_every=10, chunk_size=3, method=method))
    plan = ls.plan_training(LOSS, None, SGD, DATA, starts=starts, steps=100, record_every=10, method=method)
    assert train.program._compiled(plan.spec)._cache_size() == 1  # other starts, same program


def test_given_starts_are_scaled_by_init_scale_and_a_nonfinite_start_is_flagged():
    # (not compared with init_fn draws times init_scale: XLA fuses the draw with the scaling
    # there, which may round the product differently by 1 ulp)
    scale = np.linspace(0.5, 2.0, 10)
    starts = ls.initial_params(NORMAL, jax.random.key(0), np.arange(10))
    kwargs = dict(steps=100, record_every=10, method="vmap")
    given = ls.train_many(LOSS, None, SGD, DATA, starts=starts, init_scale=scale, **kwargs)
    scaled = jax.tree.map(lambda a: a * scale.astype(np.float32).reshape((-1,) + (1,) * (a.ndim - 1)), starts)
    _assert_same(ls.train_many(LOSS, None, SGD, DATA, starts=scaled, **kwargs), given)
    starts[0]["w"] = starts[0]["w"].at[3, 0, 0].set(jnp.nan)
    bad = ls.train_many(LOSS, None, SGD, DATA, starts=starts, init_scale=scale, **kwargs)
    assert bad.status.tolist() == [0, 0, 0, ls.status.RUN.code("nonfinite")] + [0] * 6
    assert bad.failed_step[3] == 0 and np.isnan(bad.losses[3, 0])
    others = [0, 1, 2, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(bad.losses[others], given.losses[others])


def test_fast_and_generic_paths_agree():
    fast = _train(method="batched", steps=500, record_every=50)
    generic = _train(method="vmap", steps=500, record_every=50)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=PATHS_RTOL, atol=1e-7)
    for a, b in zip(jax.tree.leaves(fast.params), jax.tree.leaves(generic.params)):
        np.testing.assert_allclose(a, b, rtol=PATHS_RTOL, atol=1e-5)


@pytest.mark.parametrize("bias, name", [((True, False), "mse"), ((True, True), "half_mse"),
                                        ((False, True, False), "half_mse")])
def test_fast_and_generic_paths_agree_for_per_layer_bias_and_half_mse(bias, name):
    """A net with hidden biases and no output bias, and the half-MSE loss: the fast (run axis
    last) path trains like the generic one, in float32 and float64."""
    model = ls.mlp([2, 3, 1] if len(bias) == 2 else [2, 3, 2, 1], activation="tanh", bias=bias)
    loss = ls.objectives.loss(model, name)
    success = ls.objectives.success(model)
    kwargs = dict(key=jax.random.key(3), n_runs=8, steps=300, record_every=50, success=success)
    assert ls.plan_training(loss, ls.inits.normal(model, 1.0), SGD, DATA, method="auto", **kwargs).spec.fast
    fast = ls.train_many(loss, ls.inits.normal(model, 1.0), SGD, DATA, method="batched", **kwargs)
    generic = ls.train_many(loss, ls.inits.normal(model, 1.0), SGD, DATA, method="vmap", **kwargs)
    assert [("b" in layer) for layer in fast.params] == list(bias)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=PATHS_RTOL, atol=1e-7)
    for a, b in zip(jax.tree.leaves(fast.params), jax.tree.leaves(generic.params)):
        np.testing.assert_allclose(a, b, rtol=PATHS_RTOL, atol=1e-5)
    np.testing.assert_array_equal(fast.success_step, generic.success_step)
    with jax.enable_x64(True):
        init = ls.inits.normal(model, 1.0, dtype=jnp.float64)
        data = ls.datasets.xor(dtype=jnp.float64)
        fast = ls.train_many(loss, init, SGD, data, method="batched", **kwargs)
        generic = ls.train_many(loss, init, SGD, data, method="vmap", **kwargs)
    assert fast.losses.dtype == np.float64
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=PATHS_RTOL64)


def test_recorded_losses_are_losses_at_record_steps():
    result = _train(steps=40, record_every=10, trajectory_runs=range(10), method="vmap")
    np.testing.assert_array_equal(result.record_steps, [0, 10, 20, 30, 40])
    per_point = jax.vmap(jax.vmap(LOSS, in_axes=(0, None)), in_axes=(0, None))(result.trajectory, DATA)
    np.testing.assert_allclose(result.losses, per_point, rtol=1e-6)
    for traj, final in zip(jax.tree.leaves(result.trajectory), jax.tree.leaves(result.params)):
        np.testing.assert_array_equal(traj[:, -1], final)


def _quadratic(params, data):
    return 0.5 * jnp.sum(params["w"] ** 2) * data[0]


def _quadratic_init(key):
    return {"w": 1.0 + jax.random.uniform(key, (3,))}  # entries in [1, 2): never zero


def test_diverging_run_is_flagged_at_the_right_step_and_others_unaffected():
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    lrs = np.full(5, 0.1)
    lrs[2] = 1e30  # step 1: w = (1 - 1e30) w0, so 0.5 |w|^2 overflows float32: loss inf at step 1
    kwargs = dict(key=jax.random.key(3), n_runs=5, steps=20, record_every=5)
    bad = ls.train_many(_quadratic, _quadratic_init, opt, jnp.ones(1), hyperparams={"learning_rate": lrs},
                        **kwargs)
    good = ls.train_many(_quadratic, _quadratic_init, opt, jnp.ones(1),
                         hyperparams={"learning_rate": np.full(5, 0.1)}, **kwargs)
    assert bad.status.tolist() == [0, 0, ls.status.RUN.code("nonfinite"), 0, 0]
    assert bad.failed_step.tolist() == [-1, -1, 1, -1, -1]
    others = [0, 1, 3, 4]
    np.testing.assert_array_equal(bad.losses[others], good.losses[others])
    np.testing.assert_array_equal(bad.params["w"][others], good.params["w"][others])
    # frozen at the params of the failing step: finite, (1 - 1e30) * w0
    w0 = ls.initial_params(_quadratic_init, jax.random.key(3), [2])["w"][0]
    np.testing.assert_allclose(bad.params["w"][2], (1 - 1e30) * w0, rtol=1e-6)
    assert bad.status_counts() == {"ok": 4, "nonfinite": 1}


def test_divergence_flagged_identically_on_both_paths():
    model = ls.mlp([2, 3, 1], activation="linear", output="linear")
    loss = ls.objectives.loss(model, "mse")
    kwargs = dict(key=jax.random.key(0), n_runs=6, steps=60, record_every=10)
    init = ls.inits.normal(model, 1.0)
    fast = ls.train_many(loss, init, optax.sgd(3.0), DATA, method="batched", **kwargs)
    generic = ls.train_many(loss, init, optax.sgd(3.0), DATA, method="vmap", **kwargs)
    assert np.all(fast.status == ls.status.RUN.code("nonfinite"))
    np.testing.assert_array_equal(fast.failed_step, generic.failed_step)
    assert np.all((fast.failed_step > 0) & (fast.failed_step < 60))


@pytest.mark.parametrize("method", ["batched", "vmap"])
def test_second_call_with_same_shapes_does_not_recompile(method):
    kwargs = dict(key=jax.random.key(0), n_runs=8, steps=20, record_every=10, method=method)
    ls.train_many(LOSS, NORMAL, SGD, DATA, **kwargs)
    plan = ls.plan_training(LOSS, NORMAL, SGD, DATA, **kwargs)
    compiled = train.program._compiled(plan.spec)
    before = compiled._cache_size()
    ls.train_many(LOSS, NORMAL, SGD, DATA, **{**kwargs, "key": jax.random.key(5)})
    assert compiled._cache_size() == before == 1


@pytest.mark.parametrize("rebuild", [
    lambda: (ls.inits.normal(MODEL, 1.0), SGD),
    lambda: (NORMAL, optax.sgd(0.5)),
    lambda: (ls.inits.perturbed(ls.inits.constant(MODEL, 0.5), 0.1), optax.adam(1e-2)),
])
def test_equal_but_newly_built_init_and_optimizer_reuse_the_compiled_program(rebuild):
    kwargs = dict(key=0, n_runs=8, steps=20, record_every=10)
    first = ls.train_many(LOSS, *rebuild(), DATA, **kwargs)
    misses = train.program._compiled.cache_info().misses
    again = ls.train_many(LOSS, *rebuild(), DATA, **kwargs)
    assert train.program._compiled.cache_info().misses == misses
    _assert_same(first, again)


@pytest.mark.parametrize("other", [
    lambda: (ls.inits.normal(MODEL, 0.5), SGD),            # another std
    lambda: (NORMAL, optax.sgd(0.25)),                      # another learning rate
    lambda: (NORMAL, optax.sgd(0.5, momentum=0.9)),         # another option
    lambda: (NORMAL, optax.sgd(jnp.float32(0.5))),          # an array: compared by identity
])
def test_a_different_or_uncertain_init_or_optimizer_compiles_its_own_program(other):
    kwargs = dict(key=0, n_runs=8, steps=20, record_every=10)
    ls.train_many(LOSS, NORMAL, SGD, DATA, **kwargs)
    misses = train.program._compiled.cache_info().misses
    ls.train_many(LOSS, *other(), DATA, **kwargs)
    assert train.program._compiled.cache_info().misses == misses + 1


def test_value_keys_compare_floats_exactly_and_unknown_objects_by_identity():
    key = train.reuse.value_key
    assert key(0.0) != key(-0.0) and key(float("nan")) == key(float("nan"))
    array = np.zeros(2)
    assert key(array) == key(array) and key(array) != key(np.zeros(2))
    assert key([1]) != key([1])  # lists may change after the program was built
    f = lambda: f  # noqa: E731  (a self-referencing closure)
    assert key(f) == key(f)


SCALE = 1.0


def test_a_loss_redefined_after_a_global_changed_gets_its_own_program():
    """A notebook cell that changes a global and defines the loss again (same code, same
    globals dict) must not reuse the program traced with the old value."""
    global SCALE
    source = "def scaled(params, data):\n    return SCALE * LOSS(params, data)\n"
    kwargs = dict(key=0, n_runs=4, steps=5, record_every=5)
    losses = []
    for scale in (1.0, 2.0):
        SCALE = scale
        exec(source, globals())
        losses.append(ls.train_many(scaled, NORMAL, SGD, DATA, **kwargs).losses[:, 0])  # noqa: F821
    SCALE = 1.0
    np.testing.assert_allclose(losses[1], 2 * losses[0], rtol=1e-6)


def test_generic_loss_is_traced_once_across_calls():
    traces = []

    def loss_fn(params, data):
        traces.append(1)
        return _quadratic(params, data)

    kwargs = dict(n_runs=4, steps=10, record_every=5)
    ls.train_many(loss_fn, _quadratic_init, SGD, jnp.ones(1), key=0, **kwargs)
    first = len(traces)
    ls.train_many(loss_fn, _quadratic_init, SGD, jnp.ones(1), key=1, **kwargs)
    assert len(traces) == first


def test_xor_learns_from_random_starts_but_never_from_constant():
    success = ls.objectives.success(MODEL, "within", tol=0.4)
    kwargs = dict(key=jax.random.key(0), n_runs=200, steps=3000, record_every=100, success=success)
    random = ls.train_many(LOSS, NORMAL, SGD, DATA, **kwargs)
    constant = ls.train_many(LOSS, ls.inits.constant(MODEL, 0.5), SGD, DATA, **kwargs)
    assert random.succeeded.mean() > 0.3
    assert constant.succeeded.sum() == 0
    assert np.all(constant.final_loss > 0.16)  # the symmetric trap: loss stays above 1/6


def test_success_step_is_the_first_step_the_criterion_holds():
    success = ls.objectives.success(MODEL, "within", tol=0.4)
    result = _train(n_runs=20, steps=600, record_every=1, success=success, method="vmap",
                    trajectory_runs=range(20))
    holds = jax.vmap(jax.vmap(success, in_axes=(0, None)), in_axes=(0, None))(result.trajectory, DATA)
    holds = np.asarray(holds)
    assert result.succeeded.any()
    for run in range(20):
        s = result.success_step[run]
        if s >= 0:
            assert holds[run, s] and not holds[run, :s].any()
        else:
            assert not holds[run].any()


def test_fast_path_success_step_matches_generic():
    success = ls.objectives.success(MODEL, "within", tol=0.4)
    fast = _train(n_runs=50, steps=1000, success=success, method="batched")
    generic = _train(n_runs=50, steps=1000, success=success, method="vmap")
    # rounding may move a crossing by a step, never more
    np.testing.assert_array_equal(fast.success_step, generic.success_step)


def test_minibatch_is_reproducible_and_differs_from_full_batch():
    kwargs = dict(n_runs=6, steps=50, record_every=10, batch_size=2)
    a = _train(**kwargs)
    _assert_same(a, _train(**kwargs))
    _assert_same(a, _train(chunk_size=4, **kwargs))
    full = _train(n_runs=6, steps=50, record_every=10)
    assert not np.allclose(a.losses[:, -1], full.losses[:, -1])


def test_trainable_mask_freezes_layers():
    trainable = [{"w": False, "b": False}, {"w": True, "b": True}]
    result = _train(trainable=trainable, trajectory_runs=range(10))
    for traj in jax.tree.leaves(result.trajectory[0]):
        np.testing.assert_array_equal(traj[:, -1], traj[:, 0])
    for traj in jax.tree.leaves(result.trajectory[1]):
        assert not np.array_equal(traj[:, -1], traj[:, 0])


def test_init_scale_and_per_run_learning_rate():
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.5)
    scale = np.linspace(0.0, 2.0, 5)
    zero_lr = ls.train_many(LOSS, NORMAL, opt, DATA, key=0, n_runs=5, steps=10, record_every=10,
                            init_scale=scale, hyperparams={"learning_rate": np.zeros(5)})
    starts = ls.initial_params(NORMAL, 0, range(5))
    # the scale is applied in float32 in the program and in float64 here: 1 ulp apart at most
    for final, start in zip(jax.tree.leaves(zero_lr.params), jax.tree.leaves(starts)):
        np.testing.assert_allclose(final, start * scale.reshape((-1,) + (1,) * (start.ndim - 1)), rtol=1e-6)
    one = ls.train_many(LOSS, NORMAL, opt, DATA, key=0, n_runs=5, steps=50, record_every=10,
                        hyperparams={"learning_rate": np.full(5, 0.5)})
    fixed = ls.train_many(LOSS, NORMAL, SGD, DATA, key=0, n_runs=5, steps=50, record_every=10)
    np.testing.assert_allclose(one.losses, fixed.losses, rtol=1e-6)


def test_adam_trains_on_both_paths():
    kwargs = dict(key=jax.random.key(0), n_runs=8, steps=200, record_every=50)
    fast = ls.train_many(LOSS, NORMAL, optax.adam(0.05), DATA, method="batched", **kwargs)
    generic = ls.train_many(LOSS, NORMAL, optax.adam(0.05), DATA, method="vmap", **kwargs)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=PATHS_RTOL, atol=1e-6)
    assert np.all(fast.losses[:, -1] < fast.losses[:, 0])


def test_default_record_every():
    assert train.default_record_every(2000) == 20
    assert train.default_record_every(7) == 1
    assert train.default_record_every(101) == 101


# ----------------------------------------------------------------------------- input errors

def _untraced_loss(params, data):
    raise AssertionError("loss_fn must not be traced before argument checks")


@pytest.mark.parametrize("overrides, match", [
    ({"n_runs": 0}, r"n_runs=0 must be an integer >= 1"),
    ({"n_runs": 2.5}, r"n_runs=2.5"),
    ({"steps": -3}, r"steps=-3 must be an integer >= 1"),
    ({"record_every": 7}, r"record_every=7 must divide steps=100"),
    ({"chunk_size": 0}, r"chunk_size=0"),
    ({"method": "fastest"}, r"method='fastest' must be one of 'auto', 'vmap', 'batched'"),
    ({"key": "seed"}, r"key='seed' must be an integer seed or one JAX PRNG key"),
])
def test_bad_arguments_raise_before_tracing(overrides, match):
    kwargs = dict(key=0, n_runs=4, steps=100, record_every=10)
    kwargs.update(overrides)
    with pytest.raises((ValueError, TypeError), match=match):
        ls.train_many(_untraced_loss, _quadratic_init, SGD, jnp.ones(1), **kwargs)


def test_bad_starts_raise_before_tracing():
    starts = ls.initial_params(_quadratic_init, 0, range(4))  # {"w": (4, 3) float32}

    def run(init=_quadratic_init, **kw):
        kwargs = dict(steps=10, record_every=10)
        kwargs.update(kw)
        return ls.train_many(_untraced_loss, init, SGD, jnp.ones(1), **kwargs)

    expected = r"starts must be init_fn's params with a leading run axis: leaves \[\({}, 3\) float32\]"
    with pytest.raises(ValueError, match=expected.format("n_runs") + r".*got \[\(4, 2\) float32\]"):
        run(starts={"w": np.zeros((4, 2), np.float32)})
    with pytest.raises(ValueError, match=expected.format("n_runs") + r".*got \[\(4, 3\) int32\]"):
        run(starts={"w": np.zeros((4, 3), np.int32)})
    with pytest.raises(ValueError, match=expected.format("n_runs")):
        run(starts={"v": starts["w"]})
    with pytest.raises(ValueError, match=expected.format(5) + r".*got \[\(4, 3\) float32\]"):
        run(starts=starts, n_runs=5)
    with pytest.raises(ValueError, match=r"starts must be a pytree of floating arrays with a leading run axis"):
        run(init=None, starts={"w": np.zeros((4, 3), np.int32)})
    with pytest.raises(ValueError, match=r"starts must be a pytree of floating arrays .*got \[\(\) float32\]"):
        run(init=None, starts={"w": np.float32(1.0)})
    with pytest.raises(ValueError, match=r"one run's params with a leading run axis.*"
                                          r"got \[\(4, 3\) float32, \(5,\) float32\]"):
        run(init=None, starts={"a": starts["w"], "b": np.zeros(5, np.float32)})
    with pytest.raises(TypeError, match=r"init_fn=None needs explicit starts"):
        run(init=None, key=0, n_runs=4)
    with pytest.raises(TypeError, match=r"key=None: a PRNG key"):
        run(n_runs=4)
    with pytest.raises(TypeError, match=r"key=None: a PRNG key"):
        run(starts=starts, batch_size=1)


def test_data_errors():
    bad_x = ls.Dataset(jnp.zeros((4, 3)), jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"data.x has shape \(4, 3\).*expects \(n_samples, 2\)"):
        ls.train_many(LOSS, NORMAL, SGD, bad_x, key=0, n_runs=2, steps=10)
    bad_y = ls.Dataset(jnp.zeros((4, 2)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"data.y has shape \(4, 2\).*expects \(4, 1\)"):
        ls.train_many(LOSS, NORMAL, SGD, bad_y, key=0, n_runs=2, steps=10)
    nan = ls.Dataset(DATA.x.at[0, 0].set(jnp.nan), DATA.y)
    with pytest.raises(ValueError, match="data contains NaN or Inf"):
        ls.train_many(LOSS, NORMAL, SGD, nan, key=0, n_runs=2, steps=10)
    with pytest.raises(ValueError, match="batch_size=9 exceeds the 4 samples"):
        ls.train_many(LOSS, NORMAL, SGD, DATA, key=0, n_runs=2, steps=10, batch_size=9)
    with pytest.raises(ValueError, match="data=None holds no arrays; the MLP loss needs Dataset"):
        ls.train_many(LOSS, NORMAL, SGD, None, key=0, n_runs=2, steps=10)


def test_option_errors():
    with pytest.raises(ValueError, match="'learning_rate' is not a hyperparameter of this optimizer"):
        _train(hyperparams={"learning_rate": np.ones(10)})
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.5)
    with pytest.raises(ValueError, match=r"hyperparams\['learning_rate'\] must be 10 finite numbers"):
        ls.train_many(LOSS, NORMAL, opt, DATA, key=0, n_runs=10, steps=10, hyperparams={"learning_rate": np.ones(3)})
    with pytest.raises(ValueError, match="init_scale must be 10 finite numbers"):
        _train(init_scale=[1.0, np.nan] * 5)
    with pytest.raises(ValueError, match="trainable must be a pytree of True/False"):
        _train(trainable=[True, False])
    with pytest.raises(ValueError, match=r"trajectory_runs=\[12\] must be run indices in \[0, 10\)"):
        _train(trajectory_runs=[12])
    with pytest.raises(TypeError, match="optimizer=.* must be an optax GradientTransformation"):
        ls.train_many(LOSS, NORMAL, "sgd", DATA, key=0, n_runs=2, steps=10)
    with pytest.raises(ValueError, match="loss_fn\\(params, data\\) must return a scalar"):
        ls.train_many(lambda p, d: p["w"], _quadratic_init, SGD, jnp.ones(1), key=0, n_runs=2, steps=10)


def test_names_of_optimizers_and_inits():
    assert isinstance(train.make_optimizer("adam", 0.1), optax.GradientTransformation)
    with pytest.raises(ValueError, match=r"optimizer name='adamm' must be one of 'sgd', "):
        train.make_optimizer("adamm", 0.1)
    with pytest.raises(ValueError, match="learning_rate=-1 must be a finite number > 0.0"):
        train.make_optimizer("sgd", -1)
    params = ls.inits.from_name(MODEL, "constant", value=0.5)(jax.random.key(0))
    assert all(np.all(leaf == 0.5) for leaf in jax.tree.leaves(params))
    with pytest.raises(ValueError, match=r"init name='gaussian' is not known"):
        ls.inits.from_name(MODEL, "gaussian")


def test_float64_training_on_both_paths():
    with jax.enable_x64(True):
        init = ls.inits.normal(MODEL, 1.0, dtype=jnp.float64)
        data = ls.datasets.xor(dtype=jnp.float64)
        kwargs = dict(key=0, n_runs=6, steps=100, record_every=10, success=ls.objectives.success(MODEL))
        fast = ls.train_many(LOSS, init, SGD, data, method="batched", **kwargs)
        generic = ls.train_many(LOSS, init, SGD, data, method="vmap", **kwargs)
    assert fast.losses.dtype == np.float64 and fast.success_step.dtype == np.int32
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=1e-12)


def test_progress_bar_counts_runs_and_says_how_the_runs_were_split(capsys):
    _train(n_runs=150, chunk_size=64, progress=True)
    err = capsys.readouterr().err
    assert "train_many: 150 runs: 3 chunks of 64 (chosen) on 1 cpu device" in err
    assert "run/s" in err and "150/150" in err   # counted in runs (the last chunk is partial)


def test_train_many_takes_the_options_of_plan_training_and_progress():
    import inspect
    names = list(inspect.signature(ls.train_many).parameters)
    assert names == list(inspect.signature(ls.plan_training).parameters) + ["progress"]
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['n_run'\]"):
        ls.train_many(LOSS, NORMAL, SGD, DATA, key=0, n_run=4, steps=10)


def test_run_ids_are_limited_to_32_bits_with_a_clear_error():
    """Run i is keyed by fold_in(key, i) with a 32-bit i: beyond 2**32 runs, run 2**32 + i would
    repeat run i, so such jobs (and such run ids) are refused."""
    plan = ls.plan_training(LOSS, NORMAL, SGD, DATA, key=0, n_runs=2**32, steps=1, chunk_size=64)
    assert plan.n_chunks == 2**26 and plan.chunk_bounds(plan.n_chunks - 1) == (2**32 - 64, 2**32)
    with pytest.raises(ValueError, match=r"n_runs=4294967297 exceeds 2\*\*32.*repeat run i"):
        ls.plan_training(LOSS, NORMAL, SGD, DATA, key=0, n_runs=2**32 + 1, steps=1)
    with pytest.raises(ValueError, match=r"steps=2147483648 must be an integer >= 1 and <= 2147483647"):
        ls.plan_training(LOSS, NORMAL, SGD, DATA, key=0, n_runs=2, steps=2**31)
    with pytest.raises(ValueError, match=r"run_ids must be .* in \[0, 2\*\*32\)"):
        ls.initial_params(NORMAL, 0, [0, 2**32])
    with pytest.raises(ValueError, match=r"run_ids must be .* in \[0, 2\*\*32\)"):
        ls.initial_params(NORMAL, 0, [-1])


def test_params_model_and_data_disagreements_are_refused_before_tracing():
    wider = ls.inits.normal(ls.mlp([2, 3, 1]), 1.0)
    with pytest.raises(ValueError, match=r"params\[0\]\['w'\] has shape \(2, 3\).*model \[2, 2, 1\]"):
        ls.train_many(LOSS, wider, SGD, DATA, key=0, n_runs=2, steps=2)
    with pytest.raises(ValueError, match=r"starts\[0\]\['w'\].*model \[2, 2, 1\]"):
        ls.train_many(LOSS, None, SGD, DATA, starts=ls.initial_params(wider, 0, range(2)), steps=2)
    empty = ls.datasets.Dataset(DATA.x[:0], DATA.y[:0])
    with pytest.raises(ValueError, match="data has 0 samples"):
        ls.train_many(LOSS, NORMAL, SGD, empty, key=0, n_runs=2, steps=2)
    half = lambda k: jax.tree.map(lambda a: a.astype(jnp.float16), NORMAL(k))  # noqa: E731
    with pytest.raises(TypeError, match="float16 leaf .* float32 or float64"):
        ls.train_many(LOSS, half, SGD, DATA, key=0, n_runs=2, steps=2)
    with pytest.raises(TypeError, match=r"data must be a Dataset\(x, y\).*got tuple"):
        ls.train_many(LOSS, NORMAL, SGD, (DATA,), key=0, n_runs=2, steps=2)
    with pytest.raises(TypeError, match="data.x must be an array .* got list"):
        ls.train_many(LOSS, NORMAL, SGD, (DATA.x.tolist(), DATA.y.tolist()), key=0, n_runs=2, steps=2)


def test_minibatches_follow_the_documented_keys_and_reshuffle_every_epoch(x64):
    """Run i's minibatch at step t is ``perm[pos*B:(pos+1)*B]`` with ``perm`` a permutation
    drawn from ``fold_in(fold_in(fold_in(key, i), 1), epoch)``: replayed by hand, step by step."""
    n, batch, steps, lr = 6, 2, 9, 0.1  # 3 minibatches per epoch, 3 epochs
    rng = np.random.default_rng(0)
    data = ls.Dataset(jnp.asarray(rng.normal(size=(n, 3))), jnp.asarray(rng.normal(size=(n, 1))))

    def loss_fn(params, d):
        return jnp.mean((d.x @ params["w"] - d.y) ** 2)

    starts = {"w": jnp.asarray(rng.normal(size=(4, 3, 1)))}
    key = jax.random.key(7)
    result = ls.train_many(loss_fn, None, optax.sgd(lr), data, starts=starts, key=key,
                           steps=steps, batch_size=batch, progress=False)
    grad = jax.grad(loss_fn)
    for i in range(4):
        data_key = jax.random.fold_in(jax.random.fold_in(key, i), 1)
        w = {"w": starts["w"][i]}
        orders = []
        for t in range(steps):
            epoch, pos = divmod(t, n // batch)
            perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n)
            idx = perm[pos * batch:(pos + 1) * batch]
            orders.append(tuple(np.asarray(perm)))
            g = grad(w, ls.Dataset(data.x[idx], data.y[idx]))
            w = jax.tree.map(lambda p, d: p - lr * d, w, g)
        assert len(set(orders)) > 1  # the order changes from epoch to epoch
        np.testing.assert_allclose(result.params["w"][i], w["w"], rtol=1e-12, atol=1e-14)


def _cnn():
    """Issue 16's small CNN (3x3 conv, 4 channels, tanh, mean, dense 4 -> 1) on 8x8 images."""
    nn = pytest.importorskip("flax.linen")

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(jnp.tanh(nn.Conv(4, (3, 3))(x)).mean(axis=(1, 2)))[:, 0]

    x = jax.random.normal(jax.random.key(1), (64, 8, 8, 1), jnp.float32)  # float32 under x64 too
    data = (x, jnp.sin(x.sum(axis=(1, 2, 3))))
    model = CNN()
    return (lambda k: model.init(k, x[:1]),
            lambda p, d: jnp.mean((model.apply(p, d[0]) - d[1]) ** 2), data)


def test_generic_path_trains_a_cnn_in_small_blocks_with_the_single_run_numbers():
    from landscape.train import program

    init_fn, loss_fn, data = _cnn()
    params = init_fn(jax.random.key(0))
    assert program._uses(jax.make_jaxpr(jax.value_and_grad(loss_fn))(params, data), "conv_general_dilated")
    assert not program._uses(jax.make_jaxpr(_quadratic)(_quadratic_init(jax.random.key(0)), jnp.ones(1)),
                            "conv_general_dilated")
    steps, opt = 20, optax.sgd(0.1)
    result = ls.train_many(loss_fn, init_fn, opt, data, key=0, n_runs=64, steps=steps)
    starts = ls.initial_params(init_fn, jax.random.key(0), np.arange(64))

    @jax.jit
    def train_one(p):
        def body(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss_fn)(p, data), s, p)
            return (optax.apply_updates(p, u), s), None
        return jax.lax.scan(body, (p, opt.init(p)), None, length=steps)[0][0]

    for i in (0, 17, 63):
        one = train_one(jax.tree.map(lambda a: a[i], starts))
        for got, want in zip(jax.tree.leaves(result.params), jax.tree.leaves(one)):
            np.testing.assert_array_equal(got[i], want)
