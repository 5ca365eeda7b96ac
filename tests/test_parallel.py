"""parallel: runs and points spread over devices and processes, bit-identical to one device.

The multi-device checks run ``tests/scripts/multi_device.py`` in one subprocess with 4 host CPU
devices (``--xla_force_host_platform_device_count=4``); it compares every sharded result with the
same call on one device (``devices=1``) and reports the names of the fields that differ. The
multi-process check runs ``tests/scripts/two_process.py``: two processes joined by
``jax.distributed`` on 127.0.0.1, started while the test process trains the same plan alone.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import parallel
from landscape.lab.resumable import result_arrays, train_resumable
from landscape.lab.store import ResultsDir
from landscape.lab.team import PeerLost, Team
from landscape.train import RUN_BLOCK, estimate_chunk_size
from landscape.train.program import live_runs

SCRIPTS = Path(__file__).resolve().parent / "scripts"
SCRIPT_TIMEOUT = 600  # seconds; generous for a loaded 2-core machine


def _load_script(name):
    """The module ``tests/scripts/<name>.py`` (its ``__main__`` block does not run)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


two_process = _load_script("two_process")
multi_process_plan = two_process.multi_process_plan


def test_two_processes_equal_one_process_bit_for_bit(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    process = two_process.launch(shared)  # runs while this process trains the same plan alone
    plan = multi_process_plan()
    single = result_arrays(train_resumable(plan, ResultsDir(tmp_path / "single"), "runs",
                                           progress=False))
    code, output = process.wait()
    assert code == 0, output[-6000:]
    assert sorted(p.name for p in (shared / "chunks").iterdir()) == [
        "runs_00000.npz", "runs_00001.npz", "runs_00002.npz"]
    for pid in (0, 1):
        with np.load(shared / f"process_{pid}.npz") as got:
            assert (int(got["cores"]), int(got["local"]), int(got["processes"])) == (2, 2, 2)
            for name, arr in single.items():
                np.testing.assert_array_equal(got[name], arr, err_msg=f"process {pid}: {name}")


def test_a_chunk_another_process_did_not_write_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_PEER_TIMEOUT", "1")  # as process 0 of 2 whose partner never
    results = ResultsDir(tmp_path, team=Team(0, 2))     # shows a sign of life
    with pytest.raises(PeerLost, match=r"^process 1 of 2 stopped \(no sign of life for 1 s\) before "
                                       r"writing its chunk chunks/runs_00001.npz; run the same"):
        train_resumable(multi_process_plan(), results, "runs", progress=False)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == ["runs_00000.npz", "runs_00002.npz"]


# ----------------------------------------------------------------------------- in-process


def test_bad_devices_raise_clear_errors_before_tracing():
    n = jax.local_device_count()
    cases = [(0, ValueError, "devices=0 must be between 1 and"),
             (n + 1, ValueError, f"devices={n + 1} must be between 1 and the {n} local"),
             (True, TypeError, "devices=True must be None, a device count"),
             ("cpu", TypeError, "devices='cpu' must be None, a device count or a sequence"),
             ([object()], ValueError, "devices contains <object .*>, which is not a local device"),
             ((), ValueError, r"devices=\(\) is empty"),
             (3.0, TypeError, "devices=3.0 must be None, a device count or a sequence"),
             ([jax.local_devices()[0]] * 2, ValueError, "lists a device twice")]
    model = ls.mlp([2, 2, 1])
    loss = ls.objectives.loss(model, "mse")

    def never(key):  # tracing init_fn would mean the check came too late
        raise AssertionError("traced before the devices check")

    for value, error, message in cases:
        with pytest.raises(error, match=message):
            ls.plan_training(loss, never, optax.sgd(0.5), ls.datasets.xor(), key=0, n_runs=4,
                             steps=2, devices=value)
        with pytest.raises(error, match=message):
            ls.curvature.hessian_batched(lambda p, data: (p["w"] ** 2).sum(),
                                         {"w": np.zeros((2, 3), np.float32)}, None, devices=value)


def test_devices_none_int_and_sequence_select_local_devices():
    assert parallel.local_devices() == tuple(jax.local_devices())
    assert parallel.local_devices(1) == (jax.local_devices()[0],)
    assert parallel.local_devices(jax.local_devices()[0]) == (jax.local_devices()[0],)
    assert parallel.local_mesh().axis_names == (parallel.AXIS,)


@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 100, 1000, 1025, 10_000])
@pytest.mark.parametrize("limit", [None, 1, 7, 64, 500])
def test_point_block_covers_n_in_equal_blocks_within_limit(n, limit):
    block = parallel.point_block(n, limit)
    n_blocks = -(-n // block)
    # ceil(n / 64) blocks, at most 16, unless the limit needs more; as equal as possible
    assert n_blocks == max(min(-(-n // 64), 16), -(-n // limit) if limit else 1)
    assert block <= (limit or n) and (block - 1) * n_blocks < n


@pytest.mark.parametrize("n, block, devices, expected", [(200, 64, 4, 256), (256, 64, 4, 256),
                                                        (1, 64, 1, 64), (65, 5, 3, 75)])
def test_padded_count(n, block, devices, expected):
    assert parallel.padded_count(n, block, devices) == expected


def test_map_blocks_matches_a_plain_map_and_pads_with_existing_rows():
    xs = {"a": np.arange(10.0), "b": np.arange(20.0).reshape(10, 2)}
    seen = []

    def per_block(blk, offset):
        seen.append(blk["a"].shape)
        return blk["a"] + blk["b"].sum(axis=1) + offset

    out = jax.jit(lambda xs: parallel.map_blocks(per_block, xs, (100.0,), block=4))(xs)
    np.testing.assert_array_equal(out, xs["a"] + xs["b"].sum(axis=1) + 100.0)
    assert seen == [(4,)]  # traced once, on blocks of exactly 4 rows


def test_use_host_cores_checks_n_and_is_a_no_op_once_jax_started():
    jax.numpy.zeros(1).block_until_ready()  # backends are up in the test process
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="must be a positive number of CPU devices"):
            parallel.use_host_cores(bad)
    assert parallel.use_host_cores(2) is None
    assert jax.config.jax_num_cpu_devices == -1


# ----------------------------------------------------------------------------- chunk memory

XOR_MODEL = ls.mlp([2, 2, 1])
WIDE_MODEL = ls.mlp([10, 32, 1], activation="tanh", output="linear")


def test_estimate_chunk_size_closed_form():
    # XOR 2-2-1 with 101 records: 2*101 + 8*9 + 4*4*(1 + 4) + 64 = 418 floats = 1672 bytes a run
    args = dict(n_params=9, n_records=101, n_samples=4, n_out=1, n_hidden=4)
    assert estimate_chunk_size(**args, memory_bytes=1672) == 1
    assert estimate_chunk_size(**args, memory_bytes=1672 * 1000) == 1000
    assert estimate_chunk_size(**args, memory_bytes=1672 * 1000 - 1) == 999
    assert estimate_chunk_size(**args, memory_bytes=2 * 1672 * 1000, itemsize=8) == 1000
    with pytest.raises(ValueError, match="memory_bytes=1671 is less than one run needs"):
        estimate_chunk_size(**args, memory_bytes=1671)


@pytest.mark.parametrize("case", ["xor_fast_long_history", "wide_generic", "wide_fast"])
def test_estimated_chunk_fits_the_memory_of_the_compiled_program(case):
    memory = 16 * 2**20
    if case == "xor_fast_long_history":
        model, data, steps, every, method = XOR_MODEL, ls.datasets.xor(), 200, 2, "batched"
    else:
        x = jax.random.normal(jax.random.key(1), (256, 10))
        method = "vmap" if case == "wide_generic" else "batched"
        model, data, steps, every = WIDE_MODEL, ls.Dataset(x, np.sin(x[:, :1])), 10, 5
    params = model.init(jax.random.key(0))
    n_params = sum(a.size for a in jax.tree.leaves(params))
    loss = ls.objectives.loss(model, "mse")
    live = live_runs(method == "batched", loss, data.x.shape[0], jax.eval_shape(lambda: params), data)
    chunk = estimate_chunk_size(n_params, steps // every + 1, data.x.shape[0], 1, memory,
                                n_hidden=sum(model.sizes[:-1]), live_runs=live)
    chunk = chunk // RUN_BLOCK * RUN_BLOCK  # as plan_training rounds it: no padded runs
    plan = ls.plan_training(loss, ls.inits.normal(model, 1.0),
                            optax.sgd(0.1), data, key=0, n_runs=chunk, steps=steps,
                            record_every=every, chunk_size=chunk, method=method, devices=1)
    used = plan.compiled_memory()
    assert used is not None  # the CPU backend reports it
    assert memory / 4 <= used <= memory, (chunk, used)  # fits, and not 20x too cautious


def test_default_chunk_size_says_what_it_was_estimated_for():
    assert parallel.device_memory(parallel.local_mesh()) is None  # the CPU does not report it
    loss = ls.objectives.loss(XOR_MODEL, "mse")
    plan = ls.plan_training(loss, ls.inits.normal(XOR_MODEL, 1.0), optax.sgd(0.5),
                            ls.datasets.xor(), key=0, n_runs=10**6, steps=100, record_every=1)
    # 2*101 + 72 + 64 = 338 floats a run of state and 80 of activations for 1,024 runs at once
    # (4,096 on one CPU device with cores to spare, in each of the concurrent groups there):
    # (2**28 - live * 320) // 1352 runs, rounded down to whole blocks
    idle = parallel.idle_host_cores()
    live = 1024 * (4 if idle else 1) * (1 + idle // jax.local_device_count())
    assert plan.chunk_size == (2**28 - live * 320) // 1352 // RUN_BLOCK * RUN_BLOCK
    assert "(estimated for 256 MiB host budget)" in plan.describe()
    given = ls.plan_training(loss, ls.inits.normal(XOR_MODEL, 1.0), optax.sgd(0.5),
                             ls.datasets.xor(), key=0, n_runs=100, steps=10, chunk_size=30)
    assert given.describe().startswith("100 runs: 4 chunks of 30 (chosen) on ")


def test_describe_says_how_to_use_idle_cores_on_one_cpu_device(monkeypatch):
    plan = ls.plan_training(ls.objectives.loss(XOR_MODEL, "mse"), ls.inits.normal(XOR_MODEL, 1.0),
                            optax.sgd(0.5), ls.datasets.xor(), key=0, n_runs=100, steps=10)
    monkeypatch.setattr(parallel, "_cores", lambda: jax.local_device_count() + 3)
    assert parallel.idle_host_cores() == 3
    assert plan.describe().endswith("; 3 more CPU cores idle: call "
                                    "landscape.parallel.use_host_cores() before JAX starts to use them")
    monkeypatch.setattr(parallel, "_cores", jax.local_device_count)
    assert parallel.idle_host_cores() == 0 and "idle" not in plan.describe()


# ----------------------------------------------------------------------------- 4 devices


@pytest.fixture(scope="module")
def four_devices():
    """The report of ``tests/scripts/multi_device.py`` (one subprocess for every multi-device
    test)."""
    done = subprocess.run([sys.executable, str(SCRIPTS / "multi_device.py")], capture_output=True,
                          text=True, timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_subprocess_has_four_devices_and_user_setting_wins(four_devices):
    assert four_devices["device_count"] == 4
    assert four_devices["hessian_third_device_used"] == ["cpu:2"]  # devices=[third] ran there
    assert four_devices["host_cores"] is None  # XLA_FLAGS chose the count: left alone
    assert "of 250 (chosen) on 4 cpu devices" in four_devices["train_fast_describe"]
    assert "on 2 cpu devices" in four_devices["small_chunk_describe"]


@pytest.mark.parametrize("name", ["train_fast", "train_vmap", "train_on_last_device",
                                  "train_given_starts"])
def test_sharded_training_is_bit_identical_to_one_device(four_devices, name):
    assert four_devices[name] == []


@pytest.mark.parametrize("method", ["batched", "vmap"])
@pytest.mark.parametrize("n_devices", [2, 4])
def test_every_optimizer_is_bit_identical_on_1_2_and_4_devices(four_devices, method, n_devices):
    # all of ls.train.OPTIMIZERS and optax.adam, chained in one program (see multi_device.py)
    assert four_devices[f"optimizers_{method}_{n_devices}"] == []


@pytest.mark.parametrize("name", ["hessian", "hessian_on_third_device", "hessian_under_jit",
                                  "slice_vmap", "slice_batched", "slice_wide", "basin"])
def test_sharded_analysis_is_bit_identical_to_one_device(four_devices, name):
    assert four_devices[name] == []
