"""The FP32 accumulate add's dot-product stimulus (models.dot_product_stream) is a dot product of
the real operands, checked against float64 arithmetic rounded once to float32 (exact for one
product or one sum of two float32 values: 53 >= 2 x 24 + 2 bits), and the cached figures measured
on it were measured on this stream."""

import numpy as np

from models import dot_product_stream as dps
from models import lmul_energy
from models.activity import REAL_SPEC
from models.realdata import real_gemm


def _float32(words):
    return np.asarray(words, dtype=np.uint32).view(np.float32)


def test_stream_is_the_running_sum_of_the_real_products():
    m, n = 2, 3
    a, b = dps.dot_product_words(m, n)
    x, w = real_gemm(REAL_SPEC, m, None, n)
    k = x.shape[1]
    assert a.dtype == b.dtype == np.uint32 and len(a) == len(b) == m * n * k
    acc, prod = _float32(a).reshape(m * n, k), _float32(b).reshape(m * n, k)
    x64 = x.astype(np.float32).astype(np.float64)
    w64 = w.astype(np.float32).astype(np.float64)
    # output (i, j) row-major: its products x[i, :] * w[:, j], each rounded once
    expect = np.stack([x64[i] * w64[:, j] for i in range(m) for j in range(n)]).astype(np.float32)
    np.testing.assert_array_equal(prod.view(np.uint32), expect.view(np.uint32))
    # each output starts from +0 and adds one product per cycle, rounded once
    assert not acc[:, 0].view(np.uint32).any()
    running = (acc[:, :-1].astype(np.float64) + prod[:, :-1].astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(acc[:, 1:].view(np.uint32), running.view(np.uint32))


def test_an_accumulator_adds_numbers_of_similar_magnitude():
    """The point of the stream: the two addends' exponents are close, random bit patterns' far apart."""
    a, b = dps.dot_product_words()
    live = (a & 0x7FFFFFFF) != 0
    gap = np.abs((a[live] >> 23 & 0xFF).astype(int) - (b[live] >> 23 & 0xFF).astype(int)).mean()
    r = np.random.default_rng(0).integers(0, 1 << 32, (2, 10000), dtype=np.uint64)
    random_gap = np.abs((r[0] >> 23 & 0xFF).astype(int) - (r[1] >> 23 & 0xFF).astype(int)).mean()
    assert gap < random_gap / 8


def test_port_stream_and_activity_are_the_words_bits():
    stream = dps.port_stream(("acc", "p"), 1, 1)
    a, b = dps.dot_product_words(1, 1)
    for port, words in (("acc", a), ("p", b)):
        rebuilt = sum(np.asarray(stream[f"{port}[{i}]"], dtype=np.uint64) << np.uint64(i) for i in range(32))
        np.testing.assert_array_equal(rebuilt, words.astype(np.uint64))
    act = dps.port_activity({"x": [0, 1, 1, 0, 0]})
    assert act == {"x": (0.5, 0.4)}


def test_cached_dot_unit_was_measured_on_this_stream():
    """The cached accumulate-add figures' input activity is this stream's (the dot unit) and 0.5
    (the random-bits unit): compared with the source, not with a typed number."""
    units = lmul_energy.load()["units"]
    dot, rnd = units[f"fp32_accumulate_adder_{lmul_energy.DOT}"], units[f"fp32_accumulate_adder_{lmul_energy.RANDOM}"]
    activity = dps.port_activity(dps.port_stream())
    assert dot["activity"] == lmul_energy.DOT and rnd["activity"] == lmul_energy.RANDOM
    assert dot["input_toggle_rate"] == np.mean([t for t, _ in activity.values()])
    assert rnd["input_toggle_rate"] == 0.5
    # the same netlist (one component) under both stimuli; every simulated unit carries both figures
    assert dot["area_um2"] == rnd["area_um2"] and dot["multipliers"] == 0
    for unit in lmul_energy.SIMULATED:
        assert units[unit]["simulated_energy_pj_per_cycle"] > 0
        assert units[unit]["simulated_opensta_2019_energy_pj_per_cycle"] > 0
