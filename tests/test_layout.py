import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.layout import GemmLayout, lane_words, unpack_words
from hw.pe import concat_elements


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.sampled_from([4, 8, 32]), st.data())
def test_pack_unpack_round_trip(words, lanes, width, data):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = np.array(data.draw(st.lists(st.lists(st.integers(lo, hi), min_size=lanes, max_size=lanes),
                                         min_size=words, max_size=words)))
    packed = lane_words(values & ((1 << width) - 1), width)
    assert np.array_equal(unpack_words(packed, width, lanes), values)


def test_lane_order_is_lsb_first():
    assert lane_words(np.array([[1, 2, 3]]), 8) == [0x030201]


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("rows, cols, m, k, n", [(2, 3, 5, 7, 4), (4, 4, 8, 8, 8), (3, 2, 1, 1, 1)])
def test_every_element_lands_exactly_once(dataflow, rows, cols, m, k, n):
    lay = GemmLayout(rows, cols, dataflow, 1, m, k, n)
    acts = np.arange(1, m * k + 1).reshape(m, k)
    weights = np.arange(1, k * n + 1).reshape(k, n)
    a, w = lay.act_lanes(acts), lay.weight_lanes(weights)
    assert a.shape[0] == lay.act_depth and w.shape[0] == lay.weight_depth
    assert sorted(a[a != 0].tolist()) == acts.ravel().tolist()
    assert sorted(w[w != 0].tolist()) == weights.ravel().tolist()


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_out_matrix_inverts_the_output_layout(dataflow):
    lay = GemmLayout(3, 2, dataflow, 1, 7, 5, 5)
    want = np.arange(7 * 5).reshape(7, 5)
    # build the buffer image the hardware would write, from the documented address formula
    image = np.zeros((lay.out_depth, 2), dtype=np.int64)
    for i in range(7):
        for j in range(5):
            nt, c = divmod(j, 2)
            if dataflow == "ws":
                addr = nt * lay.m + i
            else:
                mt, row = divmod(i, 3)
                addr = (mt * lay.n_tiles + nt) * 3 + row
            image[addr, c] = want[i, j]
    assert np.array_equal(lay.out_matrix(image), want)


def test_bad_layout_arguments():
    with pytest.raises(ValueError, match="m must be a positive integer"):
        GemmLayout(2, 2, "ws", 1, 0, 3, 3)
    with pytest.raises(ValueError, match="dataflow"):
        GemmLayout(2, 2, "xx", 1, 1, 3, 3)


def test_elements_then_lanes():
    lanes = concat_elements(np.array([[[1, 2], [3, -1]]]), 4)
    assert lane_words(lanes, 8) == [0xF321]
