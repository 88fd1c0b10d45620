"""ANT weight quantiser speed: :func:`models.ant_gemm.quantize_ant_weights` on SmolLM2's weights.

Run: ``python bench/bench_ant_weights.py TYPE [REPEATS]`` (TYPE int4, flint4, pot4 or int8).
Quantises every fourth of SmolLM2's linear weight matrices (27 M weights, K x N as an accuracy
run passes them: per output channel, the clip search and the codes) once to load or compile the
kernels, then REPEATS times (default 3), and prints a hash of the codes and scales (equal hashes:
the same quantisation) and the CPU s of each repeat and their least, one BLAS thread. Compare code
by running it in two worktrees back to back (the machine's speed drifts).
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import ant_gemm, smollm2  # noqa: E402


def main():
    kind = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    linears = smollm2.load_smollm2().linears
    mats = [np.asarray(linears[name], dtype=np.float32) for name in sorted(linears)[::4]]
    with threadpool_limits(1):
        outs = [ant_gemm.quantize_ant_weights(w, ant_type=kind) for w in mats]
        times = []
        for _ in range(repeats):
            start = time.process_time()
            for w in mats:
                ant_gemm.quantize_ant_weights(w, ant_type=kind)
            times.append(time.process_time() - start)
    digest = hashlib.sha1()
    for codes, meta in outs:
        digest.update(np.ascontiguousarray(codes).tobytes())
        digest.update(np.asarray(meta["scale"]).tobytes())
    print(kind, "hash", digest.hexdigest()[:12], "cpu", " ".join(f"{t:.3f}" for t in times),
          "min", f"{min(times):.3f}")


if __name__ == "__main__":
    main()
