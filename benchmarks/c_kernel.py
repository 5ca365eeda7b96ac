"""A hand-written fused C kernel for XOR 2-H-1 training: the hardware yardstick of issue 8.

Full-batch gradient descent on the mean squared error of a logistic 2-H-1 network over the
four XOR patterns, float32, for many runs at once: runs are laid out structure-of-arrays in
blocks of 64 (one block's parameters live in L1), the step loop runs inside a block, the
innermost loop goes over the block's runs (vectorized by gcc, ``expf`` from glibc's vector
math library under ``-ffast-math``), and OpenMP spreads the blocks over the cores. It does
what ``train_many`` does on its fast path minus the loss history, status and success
bookkeeping, so its time is a lower bound for ours.

Built with the system's ``gcc`` at first use into a temporary folder and called through
``ctypes``; :func:`available` says whether that worked (the benchmark skips the row if not).
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import tempfile

import numpy as np

BLOCK = 64

SOURCE = r"""
#include <math.h>
#include <string.h>

#define B 64

static inline float sig(float z) { return 1.0f / (1.0f + expf(-z)); }

/* p: (n_blocks, n_params, B) structure-of-arrays params, updated in place;
   layout per run: w1[2][H], b1[H], w2[H], b2.  loss: (n_blocks * B,) final loss. */
void train_xor(float *p, float *loss, int n_blocks, int H, int steps, float lr,
               const float *x, const float *y)
{
    const int n_params = 4 * H + 1;
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < n_blocks; blk++) {
        float *q = p + (long)blk * n_params * B;
        float g[(4 * 64 + 1) * B];       /* gradients, H <= 64 */
        float h[64][B], o[B], d[B], l[B];
        for (int s = 0; s <= steps; s++) {
            memset(g, 0, sizeof(float) * n_params * B);
            for (int r = 0; r < B; r++) l[r] = 0.0f;
            for (int n = 0; n < 4; n++) {
                const float x0 = x[2 * n], x1 = x[2 * n + 1], t = y[n];
                for (int j = 0; j < H; j++) {
                    const float *w0 = q + j * B, *w1 = q + (H + j) * B, *b = q + (2 * H + j) * B;
                    #pragma omp simd
                    for (int r = 0; r < B; r++) h[j][r] = sig(x0 * w0[r] + x1 * w1[r] + b[r]);
                }
                #pragma omp simd
                for (int r = 0; r < B; r++) o[r] = q[4 * H * B + r];
                for (int j = 0; j < H; j++) {
                    const float *w = q + (3 * H + j) * B;
                    #pragma omp simd
                    for (int r = 0; r < B; r++) o[r] += h[j][r] * w[r];
                }
                #pragma omp simd
                for (int r = 0; r < B; r++) {
                    const float out = sig(o[r]), e = out - t;
                    l[r] += 0.25f * e * e;
                    d[r] = 0.5f * e * out * (1.0f - out);   /* d(mean sq)/dz_out */
                    g[4 * H * B + r] += d[r];
                }
                for (int j = 0; j < H; j++) {
                    const float *w = q + (3 * H + j) * B;
                    float *gw0 = g + j * B, *gw1 = g + (H + j) * B, *gb = g + (2 * H + j) * B,
                          *gw2 = g + (3 * H + j) * B;
                    #pragma omp simd
                    for (int r = 0; r < B; r++) {
                        const float hj = h[j][r], dh = d[r] * w[r] * hj * (1.0f - hj);
                        gw2[r] += d[r] * hj;
                        gw0[r] += dh * x0;
                        gw1[r] += dh * x1;
                        gb[r] += dh;
                    }
                }
            }
            if (s == steps) break;          /* the last pass only measures the loss */
            #pragma omp simd
            for (int k = 0; k < n_params * B; k++) q[k] -= lr * g[k];
        }
        memcpy(loss + (long)blk * B, l, sizeof(float) * B);
    }
}
"""


@functools.lru_cache(maxsize=None)
def _library():
    """The compiled kernel, or None when gcc (or OpenMP) is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    folder = tempfile.mkdtemp(prefix="landscape-ckernel-")
    src, lib = os.path.join(folder, "xor.c"), os.path.join(folder, "libxor.so")
    with open(src, "w") as f:
        f.write(SOURCE)
    flags = ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
    done = subprocess.run([gcc, *flags, src, "-o", lib, "-lm"], capture_output=True, text=True)
    if done.returncode:
        return None
    library = ctypes.CDLL(lib)
    fp = ctypes.POINTER(ctypes.c_float)
    library.train_xor.argtypes = [fp, fp, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_float,
                                  fp, fp]
    library.train_xor.restype = None
    return library


def available() -> bool:
    return _library() is not None


def pack(params) -> np.ndarray:
    """``train_many`` params of 2-H-1 nets (leading run axis) -> ``(n_blocks, 4H+1, 64)`` float32.

    The run count is padded to a multiple of 64 by repeating the first run.
    """
    w1, b1 = np.asarray(params[0]["w"]), np.asarray(params[0]["b"])
    w2, b2 = np.asarray(params[1]["w"]), np.asarray(params[1]["b"])
    flat = np.concatenate([w1[:, 0], w1[:, 1], b1, w2[:, :, 0], b2], axis=1)   # (runs, 4H+1)
    n = flat.shape[0]
    padded = np.concatenate([flat, np.repeat(flat[:1], -n % BLOCK, axis=0)])
    return np.ascontiguousarray(padded.reshape(-1, BLOCK, flat.shape[1]).transpose(0, 2, 1),
                                dtype=np.float32)


def train(packed: np.ndarray, steps: int, lr: float, x, y) -> np.ndarray:
    """Train ``packed`` (from :func:`pack`, updated in place) ``steps`` steps; final losses ``(n,)``."""
    n_blocks, n_params, _ = packed.shape
    hidden = (n_params - 1) // 4
    if hidden > 64:
        raise ValueError(f"hidden width {hidden} exceeds the kernel's 64")
    loss = np.empty(n_blocks * BLOCK, np.float32)
    xs = np.ascontiguousarray(x, np.float32).ravel()
    ys = np.ascontiguousarray(y, np.float32).ravel()
    fp = ctypes.POINTER(ctypes.c_float)
    _library().train_xor(packed.ctypes.data_as(fp), loss.ctypes.data_as(fp), n_blocks, hidden,
                         steps, lr, xs.ctypes.data_as(fp), ys.ctypes.data_as(fp))
    return loss
