"""OliVe per-row alpha search speed: the certified argmin against the compiled dense search.

Run: ``python bench/bench_ovp_search.py``. Times (CPU ms, best of 3) ``_search_alpha`` on 288 rows
of a SmolLM2 ffn_down weight (K = 1536) tiled to longer K, once with the certificate
(``_CERT_MIN_K`` 0 for both grid kinds) and once with the dense search of every candidate, for the 4-bit grids, and
checks that both give the same alphas; ``_CERT_MIN_K`` is set from these figures.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import smollm2  # noqa: E402
from models.quant import ovp_format, ovp_search  # noqa: E402


def _cpu_ms(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.process_time()
        out = f()
        best = min(best, time.process_time() - t)
    return 1000 * best, out


def main():
    w0 = np.ascontiguousarray(smollm2.load_smollm2().linears["blk.5.ffn_down"].T, dtype=np.float32)
    default = ovp_search._CERT_MIN_K
    print(f"_CERT_MIN_K = {default}; 288 rows of blk.5.ffn_down (K = {w0.shape[1]}) tiled to K")
    try:
        for mode in ("int4", "flint4"):
            cfg = ovp_format.get_config(mode)
            for k in (1536, 3072, 6144, 12288):
                w = np.ascontiguousarray(np.tile(w0, (1, k // w0.shape[1]))[:288])
                w[:, w0.shape[1]:] *= np.float32(0.9)     # the copies are not the same row
                res = {}
                for name, min_k in (("cert", 0), ("dense", 1 << 60)):
                    ovp_search._CERT_MIN_K = {"uniform": min_k, "table": min_k}
                    ovp_search._search_alpha(w[:8], cfg, True, need_mse=False)     # compiled / warm
                    res[name] = _cpu_ms(lambda: ovp_search._search_alpha(w, cfg, True, need_mse=False)[0])
                same = np.array_equal(res["cert"][1], res["dense"][1])
                print(f"  {mode:6s} K {k:5d}: cert {res['cert'][0]:6.1f} ms  dense {res['dense'][0]:6.1f} ms  "
                      f"same alphas {same}")
    finally:
        ovp_search._CERT_MIN_K = default


if __name__ == "__main__":
    main()
