"""The post-array unit's stream (issue 14 item 4): the group writer's words from the golden model,
run through the unit's RTL, every output word equal to the golden dequantised value; its port
activity measured as the other units'."""

import numpy as np
import pytest

from models import activity, post_array_activity as paa, sta, synth
from models.registry import get_kind

#: the registry's grouped variants: (kind, options, dequantiser)
GROUPED = [
    ("shiftadd", (("group_size", 128), ("weight_bits", 4)), "GroupDequant"),
    ("bitserial", (("group_size", 128), ("weight_format", "mixed4")), "BitSerialScaleDequant"),
    ("bitserial", (("group_size", 128), ("weight_format", "int8")), "BitSerialScaleDequant"),
    ("wfp16", (("group_size", 128), ("weight_format", "int4")), "BitSerialScaleDequant"),
]


def test_the_stream_has_the_synthesised_units_columns():
    assert paa.COLS == synth.POST_ARRAY_COLS


@pytest.mark.parametrize("pe, options, unit", GROUPED)
def test_every_dequantised_word_equals_the_golden_one(pe, options, unit):
    """post_array_run raises PostArrayMismatch on any differing y or out word; here it also
    delivers every word: one per (n tile, group, token), and one output per (n tile, token)."""
    run = paa.post_array_run(pe, options, "minilm")
    proto = get_kind(pe).prototype(**dict(options))
    assert type(proto.post_array_unit(paa.COLS)).__name__ == unit
    m, k, n = 32, 256, 4
    assert run.words == (n // paa.COLS) * (k // proto.group_size) * m
    assert run.outputs == (n // paa.COLS) * m
    assert set(run.ports) == set(paa.INPUT_PORTS)


@pytest.mark.parametrize("corrupt", ["raw", "asum", "y"])
def test_a_wrong_stream_fails_the_check(monkeypatch, corrupt):
    """One raw word or asum lane (GroupDequant's) off by far more than the group scale rounds away,
    or one golden y off by one: the unit's output no longer equals the golden model's."""
    real = paa.golden_words

    def wrong(*args, **kwargs):
        ops, raws, asums, ys, final = real(*args, **kwargs)
        if corrupt == "raw":
            raws[0][1][-1] = raws[0][1][-1].copy()
            raws[0][1][-1][5, 1] += 1 << 20   # the last fold's word: dequantised
        elif corrupt == "asum":
            asums[0][-1] = asums[0][-1].copy()
            asums[0][-1][7] += 1 << 16
        else:
            ys[1][0] = ys[1][0].copy()
            ys[1][0][3, 0] += 1
        return ops, raws, asums, ys, final

    monkeypatch.setattr(paa, "golden_words", wrong)
    with pytest.raises(paa.PostArrayMismatch):
        paa.post_array_run.__wrapped__("shiftadd", (("group_size", 128), ("weight_bits", 4)), "random")


@pytest.mark.parametrize("pe, options, _", GROUPED[:2])
def test_post_array_activity_differs_between_minilm_and_random(pe, options, _):
    real = activity.unit_activity(pe, "post_array", options, "minilm")
    rand = activity.unit_activity(pe, "post_array", options, "random")
    assert real.unit == rand.unit == "post_array"
    assert [b[0] for b in real.bits] == [b[0] for b in rand.bits]
    assert real.data_hash != rand.data_hash
    assert real.mean_toggle_rate != rand.mean_toggle_rate
    # the data ports switch, the strobes are one cycle per word
    means = real.port_means()
    assert means["raw"][0] > 0 and 0 < means["in_valid"][1] < 0.5


def test_the_bits_are_the_synthesised_units_input_ports():
    """Every measured bit is an input of the mapped netlist (run_sta refuses others), each once."""
    pe, options, _ = GROUPED[1]
    bits = [b[0] for b in activity.unit_activity(pe, "post_array", options, "minilm").bits]
    r = synth.synthesize(pe, unit="post_array", pe_options=options)
    assert len(bits) == len(set(bits))
    assert set(bits) == set(sta.input_bits(r.netlist())) - {"rst"}


@pytest.mark.parametrize("pe, options", [("int8", ()), ("shiftadd", (("group_size", None),))])
def test_a_design_without_the_unit_is_refused(pe, options):
    with pytest.raises(ValueError, match="no post-array unit"):
        paa.post_array_run(pe, options, "minilm")


def test_word_activity_is_a_rate():
    run = paa.post_array_run(*GROUPED[0][:2], "minilm")
    assert 0 < run.word_activity <= 1
    assert np.isclose(run.cycles_per_word, len(run.ports["raw"][0]) / run.words)
