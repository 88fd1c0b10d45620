"""A numba intrinsic reading a uint64 as the float64 with the same bit pattern.

Why: a compiled kernel that builds IEEE patterns by integer arithmetic (:mod:`models.fast_lmul`)
otherwise stores them to a uint64 array and reloads them through a float64 view of it, a memory
round trip per element that the kernel's loop cannot keep in registers. The intrinsic is LLVM's
``bitcast`` (no conversion, no rounding: the same 64 bits), so the float64 is exactly what the
view would have read.

Imported only by a kernel's deferred compile step: importing it imports numba (about 0.5 s).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def as_float64(typingctx, bits):
    """``bits`` (uint64) reinterpreted as a float64, bit for bit; numba-compiled code only."""
    if bits != types.uint64:
        return None                    # only the exact type: no implicit integer conversion
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen
