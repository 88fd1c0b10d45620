"""ANT's accuracy GEMM reads float32 values decoded straight from the codes
(:func:`models.ant_gemm.ant_values_f32`, :func:`models.fast_golden.ant_float`): every code of
every type decodes to the int64 value's float32, and the float64 sums equal the golden's
integers and :func:`models.fast_golden.exact_sums` of the int64 values (None where that is None)
for every type pair, on real MiniLM tensors through the quantisers and on random codes
(the largest values included), at a wide and a narrow accumulator."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from models import fast_golden as fg
from models.ant_gemm import ant_values, ant_values_f32
from models.quant import ant_format
from models.realdata import real_gemm
from models.registry import PE_KINDS


@pytest.mark.parametrize("name", list(ant_format.TYPES))
def test_every_code_decodes_to_the_int64_value(name):
    codes = np.arange(1 << ant_format.TYPES[name].bits).reshape(-1, 4)
    got = ant_values_f32(codes, name)
    assert got.dtype == np.float32 and np.array_equal(got, ant_values(codes, name).astype(np.float32))
    assert np.array_equal(got.astype(np.int64), ant_values(codes, name))


PAIRS = [("int4", "int4"), ("flint4", "flint4"), ("pot4", "pot4"), ("int8", "int8"), ("uint8", "uint8"),
         ("upot4", "pot4"), ("uflint4", "int4")]


@pytest.mark.parametrize("act_type,weight_type", PAIRS)
def test_ant_float_is_the_golden(act_type, weight_type):
    kind = PE_KINDS["ant"]
    rng = np.random.default_rng(11)
    x, w = real_gemm("minilm:L0.ffn2", m=12, n=20)
    if act_type.startswith("u"):
        x = np.abs(x)
    floats = 0
    for acc_width in (32, 24):
        pe = kind.prototype(act_type=act_type, weight_type=weight_type, acc_width=acc_width)
        a, b = kind.random_operands(rng, 5, 700, 6, pe)
        for ops in (kind.operands(x, w, pe), kind.operands(np.asarray(a, np.int64), np.asarray(b, np.int64), pe)):
            prepared = fg.prepare_weights(kind, ops.weights, pe)
            got = fg.ant_float(ops.acts, prepared, pe)
            want = fg.exact_sums(ant_values(ops.acts, act_type), prepared, acc_width)
            assert (got is None) == (want is None)
            if got is not None:
                floats += 1
                assert got.dtype == np.float64 and np.array_equal(got, want)
                assert np.array_equal(got, kind.golden(ops, pe).astype(np.float64))
    assert floats


def test_a_wrong_table_changes_the_sums(monkeypatch):
    """The float32 path is the one taken: a decoder off by one value changes the result."""
    import models.ant_gemm as ant_gemm
    kind = PE_KINDS["ant"]
    pe = kind.prototype()
    x, w = real_gemm("minilm:L0.ffn2", m=12, n=20)
    ops = kind.operands(x, w, pe)
    prepared = fg.prepare_weights(kind, ops.weights, pe)
    want = fg.ant_float(ops.acts, prepared, pe)
    table = ant_gemm._f32_values("int4").copy()
    table[1] += 1
    monkeypatch.setattr(ant_gemm, "_f32_values", lambda t: table)
    assert not np.array_equal(fg.ant_float(ops.acts, prepared, pe), want)


def test_pairs_cover_both_float_paths():
    """The pairs above reach float32 blocks (int4 .. int8) and the float64 fallback (upot4 x pot4:
    2**14 * 64 * 700 products per sum)."""
    kinds = set()
    for act_type, weight_type in PAIRS:
        amax = max(abs(v) for v in ant_format.TYPES[act_type].values)
        wmax = max(abs(v) for v in ant_format.TYPES[weight_type].values)
        found = fg._float_type(700, amax, wmax)
        kinds.add(None if found is None else found[0])
    assert {np.float32, np.float64} <= kinds
    assert not set(itertools.chain(*PAIRS)) - set(ant_format.TYPES)
