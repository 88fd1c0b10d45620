"""The operand stream of an FP32 accumulate add in a dot product on real operands.

A floating-point MAC adds each product to its running sum: the adder's ``a`` is the accumulator
(its own previous sum) and ``b`` the product of two operands of similar magnitude, so the two
exponents are close and most adds align by a few places (on this stream the exponent fields
differ by about 6 on average). Random FP32 bit patterns have exponents that differ by ~85 on
average, so nearly every add shifts the smaller addend out of the frame: a random-bits stimulus
is not what an accumulator sees. :mod:`models.lmul_energy` measures the L-Mul dot-product row's
accumulate add (:class:`hw.mac_units.Fp32AccumulateAdder`) on this stream.

The stream: the MiniLM-L6 L0 FFN1 activations and weights (:func:`models.realdata.real_gemm`,
the source :mod:`models.activity` measures the PEs on) as float32, the leading ``m`` x ``n``
outputs, each a dot product over the whole K (384); one add per cycle, the outputs one after
another (row-major), each starting from ``+0``. Cycle ``t`` adds ``b[t] = float32(x * w)`` (the
product rounded once, as an FP32 multiplier does) to ``a[t]``, and ``a[t + 1] = float32(a[t] +
b[t])`` (IEEE round to nearest even, numpy float32) within an output.
"""

from __future__ import annotations

import functools

import numpy as np

from .activity import REAL_SPEC
from .realdata import real_gemm

#: outputs (rows x columns of the GEMM) whose dot products make the stream: 16 x 384 adds
OUTPUTS = (4, 4)


@functools.lru_cache(maxsize=4)
def dot_product_words(m=OUTPUTS[0], n=OUTPUTS[1]):
    """(a, b): uint32 arrays of FP32 bit patterns, one add per element: the accumulator and the
    product of the ``m`` x ``n`` outputs' dot products (see the module docstring)."""
    acts, weights = real_gemm(REAL_SPEC, m, None, n)
    x, w = acts.astype(np.float32), weights.astype(np.float32)
    k = x.shape[1]
    # every output's products, (outputs, K): float32 x float32 rounds once to float32
    prods = (x[:, None, :] * w.T[None, :, :]).reshape(m * n, k)
    accs = np.zeros_like(prods)
    acc = np.zeros(m * n, dtype=np.float32)
    for j in range(k):
        accs[:, j] = acc
        acc = acc + prods[:, j]
    return accs.reshape(-1).view(np.uint32), prods.reshape(-1).view(np.uint32)


def port_stream(ports=("a", "b"), m=OUTPUTS[0], n=OUTPUTS[1]):
    """{port bit: [0/1 per cycle]} of :func:`dot_product_words` on the adder's two 32-bit ports
    (``ports``: the accumulator's name, the product's), as :func:`models.netlist_power.simulated_power`
    takes it."""
    stream = {}
    for port, words in zip(ports, dot_product_words(m, n)):
        for bit in range(32):
            stream[f"{port}[{bit}]"] = ((words >> np.uint32(bit)) & np.uint32(1)).astype(int).tolist()
    return stream


def port_activity(stream):
    """{bit: (toggles per cycle, duty)} of a :func:`port_stream` (OpenSTA's input activities)."""
    out = {}
    for bit, values in stream.items():
        v = np.asarray(values)
        out[bit] = (float(np.count_nonzero(v[1:] != v[:-1])) / (len(v) - 1), float(v.mean()))
    return out
