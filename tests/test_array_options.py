import pytest
from amaranth.hdl import Fragment

from hw.accelerator import Accelerator
from hw.array import SystolicArray
from hw.pe_int8 import Int8PE


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(rows=0, cols=2), "0"), (dict(rows=2, cols=-1), "-1"), (dict(rows="4", cols=4), "'4'"),
    (dict(rows=2, cols=2, dataflow="is"), "'is'"),
])
def test_bad_array_options(kwargs, quoted):
    with pytest.raises(TypeError, match=quoted):
        SystolicArray(Int8PE, **kwargs)


def test_bad_buffer_depth():
    with pytest.raises(TypeError, match="act_depth.*0"):
        Accelerator(Int8PE, rows=2, cols=2, act_depth=0, weight_depth=4, out_depth=4)


def test_64x64_elaborates():
    for dataflow in ("ws", "os"):
        accel = Accelerator(Int8PE, rows=64, cols=64, dataflow=dataflow,
                            act_depth=64, weight_depth=64, out_depth=64)
        Fragment.get(accel, None)
        assert accel.word_widths == {"act": 64 * 8, "weight": 64 * 8, "out": 64 * 32}
