"""Every sharded computation on 4 host CPU devices against the same call on one device.

Run by ``tests/test_parallel.py`` in a process of its own (the device count is fixed when JAX
starts), or by hand::

    python tests/scripts/multi_device.py

It prints one line ``RESULT {json}``: per check the names (leaf indices or array keys) of the
fields that differ from the one-device result (an empty list: bit-identical), and a few facts
about the devices the work ran on. Run counts and chunk sizes are chosen so that chunks do not
divide the runs and the per-device widths differ from the one-device widths.
"""

import os

# Before JAX starts: 4 host CPU devices, chosen by XLA_FLAGS (so parallel.use_host_cores leaves
# the count alone).
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ.pop("JAX_NUM_CPU_DEVICES", None)

import json  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import landscape as ls  # noqa: E402
from landscape import parallel  # noqa: E402
from landscape.lab.resumable import result_arrays  # noqa: E402


def diff(a, b) -> list[str]:
    """Indices of the leaves of pytrees ``a`` and ``b`` that differ in shape or value."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        return ["structure"]
    return [str(i) for i, (x, y) in enumerate(zip(la, lb, strict=True))
            if np.shape(x) != np.shape(y) or not np.array_equal(x, y)]


def arrays_diff(a, b) -> list[str]:
    """Names of the result arrays of two training results that are missing on one side or differ."""
    a, b = result_arrays(a), result_arrays(b)
    return sorted(set(a) ^ set(b)) + [k for k in a if k in b and not np.array_equal(a[k], b[k])]


def training_checks(out: dict) -> None:
    """Sharded training (fast and vmap paths, given starts, one chosen device) vs one device."""
    model = ls.mlp([2, 2, 1])
    xor = ls.datasets.xor()
    loss = ls.objectives.loss(model, "mse")
    init = ls.inits.normal(model, 1.0)
    common = dict(key=jax.random.key(0), n_runs=600, steps=20, record_every=10)

    def train_diff(name, opt, one_chunk, many_chunk, **kw):
        plan = ls.plan_training(loss, init, opt, xor, chunk_size=many_chunk, **kw)
        out[name + "_describe"] = plan.describe()
        one = ls.train_many(loss, init, opt, xor, devices=1, chunk_size=one_chunk, progress=False,
                            **kw)
        many = ls.train_many(loss, init, opt, xor, chunk_size=many_chunk, progress=False, **kw)
        out[name] = arrays_diff(one, many)
        return one

    # chunks of 250 runs: 4 devices x 64 (the last chunk, 100 runs, padded); one device: 640 at once
    fast = dict(init_scale=np.linspace(0.5, 2.0, 600), trajectory_runs=[0, 63, 64, 300, 599],
                success=ls.objectives.success(model), **common)
    first = train_diff("train_fast", optax.sgd(0.5), 600, 250, **fast)
    last = ls.train_many(loss, init, optax.sgd(0.5), xor, devices=[jax.local_devices()[3]],
                         chunk_size=600, progress=False, **fast)
    out["train_on_last_device"] = arrays_diff(first, last)
    train_diff("train_vmap", optax.inject_hyperparams(optax.sgd)(learning_rate=0.5), 600, 250,
               method="vmap", batch_size=2, hyperparams={"learning_rate": np.linspace(0.1, 1.0, 600)},
               trajectory_runs=[5, 450], **common)
    # given starts, split over the devices like drawn ones: the numbers of the drawn starts
    starts = ls.initial_params(init, common["key"], np.arange(600))
    drawn = ls.train_many(loss, init, optax.sgd(0.5), xor, devices=1, chunk_size=600,
                          progress=False, **common)
    given = ls.train_many(loss, None, optax.sgd(0.5), xor, starts=starts, chunk_size=250,
                          steps=20, record_every=10, progress=False)
    out["train_given_starts"] = arrays_diff(drawn, given)
    # a 100-run chunk fills 2 devices with 64 runs each: the others are left out
    out["small_chunk_describe"] = ls.plan_training(loss, init, optax.sgd(0.5), xor, key=0,
                                                   n_runs=100, steps=2).describe()


def optimizer_checks(out: dict) -> None:
    """Every optimizer of ``make_optimizer`` (and plain ``optax.adam``) on 2 and 4 devices vs 1,
    on the fast and the generic path: Adam's bias correction once differed in the last bit (see
    ``parallel.compiler_options``).

    One program per path and device count trains them all: the optimizers chained
    (``optax.chain``, each transforming the previous one's updates of every leaf), 6 compiles
    instead of 27. The check bites: without ``compiler_options`` the 2-device fast path differs
    (checked by hand). Giving each optimizer its own leaves (``optax.multi_transform``) did not
    show that difference.
    """
    model = ls.mlp([2, 2, 1])
    xor = ls.datasets.xor()
    loss = ls.objectives.loss(model, "mse")
    init = ls.inits.normal(model, 1.0)
    opt = optax.chain(*[ls.train.make_optimizer(name, 0.5) for name in ls.train.OPTIMIZERS],
                      optax.adam(0.5))
    kw = dict(key=jax.random.key(2), n_runs=256, steps=20, record_every=10, chunk_size=256,
              progress=False)
    for method in ("batched", "vmap"):
        one = ls.train_many(loss, init, opt, xor, devices=1, method=method, **kw)
        for n in (2, 4):
            many = ls.train_many(loss, init, opt, xor, devices=n, method=method, **kw)
            out[f"optimizers_{method}_{n}"] = arrays_diff(one, many)


def analysis_checks(out: dict) -> None:
    """Sharded Hessians, slices and basin maps vs one device."""
    model = ls.mlp([2, 2, 1])
    xor = ls.datasets.xor()
    loss = ls.objectives.loss(model, "mse")
    init = ls.inits.normal(model, 1.0)
    rng = np.random.default_rng(1)  # 500 points: 8 blocks of 63, 2 a device
    points = jax.tree.map(lambda a: rng.normal(size=(500,) + a.shape).astype(np.float32),
                          init(jax.random.key(1)))
    cv = ls.curvature
    single = cv.hessian_batched(loss, points, xor, devices=1)
    out["hessian"] = diff(single, cv.hessian_batched(loss, points, xor))
    third = cv.hessian_batched(loss, points, xor, devices=[jax.local_devices()[2]])
    out["hessian_on_third_device"] = diff(single, third)
    out["hessian_third_device_used"] = [str(d) for d in third.devices()]
    out["hessian_under_jit"] = diff(single, jax.jit(lambda p: cv.hessian_batched(loss, p, xor))(points))

    center = init(jax.random.key(3))
    d1 = ls.surface.random_direction(center, key=jax.random.key(4))
    d2 = ls.surface.random_direction(center, key=jax.random.key(5))
    a, b = np.linspace(-1, 1, 13), np.linspace(-1, 1, 11)
    for method in ("vmap", "batched"):  # 143 points: 3 blocks of 48 on one device, 1 per device on 4
        out["slice_" + method] = diff(
            ls.surface.slice_2d(loss, center, xor, d1, d2, a, b, method=method, devices=1).values,
            ls.surface.slice_2d(loss, center, xor, d1, d2, a, b, method=method).values)
    # past the toy sizes (20-32-1 on 64 samples: grid points as matrix rows), 18 blocks of 8
    wide = ls.mlp([20, 32, 1], activation="tanh", output="linear")
    wide_loss, wide_center = ls.objectives.loss(wide, "mse"), wide.init(jax.random.key(6))
    wide_data = (rng.normal(size=(64, 20)).astype(np.float32),
                 rng.normal(size=(64, 1)).astype(np.float32))
    w1 = ls.surface.random_direction(wide_center, key=jax.random.key(7))
    w2 = ls.surface.random_direction(wide_center, key=jax.random.key(8))
    out["slice_wide"] = diff(
        ls.surface.slice_2d(wide_loss, wide_center, wide_data, w1, w2, a, b, block_size=8,
                            devices=1).values,
        ls.surface.slice_2d(wide_loss, wide_center, wide_data, w1, w2, a, b, block_size=8).values)
    kw = dict(optimizer=optax.sgd(0.5), steps=20, chunk_size=128, progress=False)
    one = ls.surface.basin_map(loss, center, xor, d1, d2, a, b, devices=1, **kw)  # 143 starts: 2 chunks
    many = ls.surface.basin_map(loss, center, xor, d1, d2, a, b, **kw)          # of 128 on 2 devices
    out["basin"] = diff((one.final_params, one.final_loss, one.status, one.flow),
                        (many.final_params, many.final_loss, many.status, many.flow))


def main() -> dict:
    out = {"host_cores": parallel.use_host_cores(), "device_count": jax.device_count()}
    training_checks(out)
    optimizer_checks(out)
    analysis_checks(out)
    print("RESULT " + json.dumps(out))
    return out


if __name__ == "__main__":
    main()
