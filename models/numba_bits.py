"""numba intrinsics for bit-exact integer and float work: a uint64 read as the float64 with the same
bit pattern (:func:`as_float64`) and back (:func:`as_int64`) and an int32 arithmetic right shift kept in int32
(:func:`ashr_i32`); and the 4 x 4 operand load the unrolled float kernels share (:func:`rows4x4`).

Why :func:`as_float64`: a compiled kernel that builds IEEE patterns by integer arithmetic (:mod:`models.fast_lmul`)
otherwise stores them to a uint64 array and reloads them through a float64 view of it, a memory
round trip per element that the kernel's loop cannot keep in registers. The intrinsic is LLVM's
``bitcast`` (no conversion, no rounding: the same 64 bits), so the float64 is exactly what the
view would have read.

Why :func:`ashr_i32`: numba types the result of every int32 operation as int64, so a kernel's
int32 shifts become 64-bit shifts, which AVX2 has no arithmetic variable form of
(``vpsravq`` is AVX-512): the vector loops of :mod:`models.fast_bsfp16` then run 4 lanes
wide with emulated shifts. LLVM's ``ashr`` on i32 vectorises as ``vpsravd`` (8 lanes); the
additions, maxima and comparisons around it narrow to i32 by themselves once their results are
truncated to int32.

Imported only by a kernel's deferred compile step: importing it imports numba (about 0.5 s).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, register_jitable


@intrinsic
def as_float64(typingctx, bits):
    """``bits`` (uint64) reinterpreted as a float64, bit for bit; numba-compiled code only."""
    if bits != types.uint64:
        return None                    # only the exact type: no implicit integer conversion
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def as_int64(typingctx, value):
    """``value`` (float64) reinterpreted as an int64, bit for bit (the sign bit is bit 63): the
    inverse of :func:`as_float64`, what a store and a reload through an int64 view reads, without
    the memory round trip (a loop that reads patterns that way cannot be vectorised); numba-compiled
    code only."""
    if value != types.float64:
        return None                    # only the exact type: no implicit float conversion
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def ashr_i32(typingctx, value, amount):
    """``value >> amount`` (arithmetic, floor) in int32 for int32 ``value`` and int32 ``amount``
    in 0..31 (the caller's contract: LLVM's ``ashr`` by 32 or more is poison); numba-compiled code
    only."""
    if value != types.int32 or amount != types.int32:
        return None                    # only the exact types: no implicit integer conversion
    sig = types.int32(types.int32, types.int32)

    def codegen(context, builder, signature, args):
        return builder.ashr(args[0], args[1])
    return sig, codegen


@register_jitable
def rows4x4(a, m, k):
    """``a[m + r, k + s]`` for r, s in 0..3, as four rows of four values: the activations a kernel
    that updates four rows by four k steps per pass keeps in registers (:mod:`models.fast_seq`,
    :mod:`models.fast_mx_blocks`); plain loads, no arithmetic."""
    return ((a[m, k], a[m, k + 1], a[m, k + 2], a[m, k + 3]),
            (a[m + 1, k], a[m + 1, k + 1], a[m + 1, k + 2], a[m + 1, k + 3]),
            (a[m + 2, k], a[m + 2, k + 1], a[m + 2, k + 2], a[m + 2, k + 3]),
            (a[m + 3, k], a[m + 3, k + 1], a[m + 3, k + 2], a[m + 3, k + 3]))
