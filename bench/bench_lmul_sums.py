"""L-Mul accuracy kernel speed: :func:`models.fast_lmul.lmul_sums` on a SmolLM2 FFN-sized call.

Run: ``python bench/bench_lmul_sums.py``. Times (CPU ms, best of 5, after a first call that loads
or compiles the kernel) the exact L-Mul sums of 512 x 576 random valid activation codes times
576 x 1536 random valid weight codes (the shape of one --quick SmolLM2 window's ffn_gate / ffn_up
GEMM) per format, and prints the multiply-accumulates per CPU second. Compare code by running it
in two worktrees back to back (the machine's speed drifts).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.fast_lmul import lmul_sums  # noqa: E402
from models.fp8_gemm import get_format  # noqa: E402

M, K, N = 512, 576, 1536


def _codes(fmt, shape, rng):
    """Random codes of ``fmt`` that are operands (its valid codes), as uint8."""
    valid = np.flatnonzero(get_format(fmt).valid(np.arange(256)))
    return valid[rng.integers(0, len(valid), shape)].astype(np.uint8)


def main():
    rng = np.random.default_rng(0)
    for fmt in ("e4m3", "e5m2"):
        acts, weights = _codes(fmt, (M, K), rng), _codes(fmt, (K, N), rng)
        lmul_sums(acts, weights, fmt)                # first call: numba load or compile
        best = np.inf
        for _ in range(5):
            t = time.process_time()
            lmul_sums(acts, weights, fmt)
            best = min(best, time.process_time() - t)
        print(f"{fmt}: {M} x {K} x {N}: {1000 * best:.0f} CPU ms, {M * K * N / best / 1e9:.2f} G MAC per CPU s")


if __name__ == "__main__":
    main()
