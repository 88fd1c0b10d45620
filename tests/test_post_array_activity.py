"""The post-array unit's stream (issue 14 item 4): the group writer's words from the golden model,
run through the unit's RTL, every output word equal to the golden dequantised value; its port
activity measured as the other units'."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import post_array_activity as paa, sta, synth
from models.registry import get_kind
from tests.tools import require_sta

#: the registry's grouped variants: (kind, options, dequantiser)
GROUPED = [
    ("shiftadd", (("group_size", 128), ("weight_bits", 4)), "GroupDequant"),
    ("bitserial", (("group_size", 128), ("weight_format", "mixed4")), "BitSerialScaleDequant"),
    ("bitserial", (("group_size", 128), ("weight_format", "int8")), "BitSerialScaleDequant"),
    ("wfp16", (("group_size", 128), ("weight_format", "int4")), "BitSerialScaleDequant"),
]


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
    real = synth.unit_port_activity(pe, "post_array", options, "minilm")
    rand = synth.unit_port_activity(pe, "post_array", options, "random")
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
    bits = [b[0] for b in synth.unit_port_activity(pe, "post_array", options, "minilm").bits]
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


def _cli(tmp_path, *argv):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "sim.cli", "synth", *argv], capture_output=True,
                          text=True, env=env, cwd=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["--pe", "int8", "--unit", "post_array"], "PE kind 'int8' has no post-array unit"),
    (["--pe", "shiftadd", "--group", "none", "--unit", "post_array"],
     "PE kind 'shiftadd' with group_size=None weight_bits=4 has no post-array unit"),
    (["--pe", "wfp16", "--unit", "post_array", "--json"],      # wfp16's default: per channel
     "PE kind 'wfp16' with group_size=None weight_format=int4 has no post-array unit"),
    (["--pe", "shiftadd", "--rows", "2"], "give either --unit pe|act_border|weight_border|post_array or both --rows and --cols"),
])
def test_cli_refuses_a_design_without_the_unit(tmp_path, monkeypatch, argv, message):
    """One line naming the problem, exit 2, before any work: no synthesis tool is even looked up
    (a PATH without them changes nothing) and the working directory stays empty."""
    monkeypatch.setenv("PATH", "/nonexistent")
    out = _cli(tmp_path, *argv)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == f"pearray: error: {message}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", ["minilm", "random"])
def test_cli_post_array_json_keys(tmp_path, source):
    require_sta()
    out = _cli(tmp_path, "--pe", "bitserial", "--unit", "post_array", "--activity", source, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["unit"] == "post_array" and data["activity_source"] == source
    assert {"area_um2", "model_area_um2_45nm", "area_error", "critical_path", "fmax_mhz", "power_mw",
            "model_energy_pj", "sta_energy_pj", "energy_error"} <= set(data)
    assert data["energy_per"] == "word"
    assert math.isclose(data["energy_error"], data["model_energy_pj"] / data["sta_energy_pj"] - 1)
    # the power analysis took the unit's own measured stream, not a default activity
    expected = synth.unit_port_activity("bitserial", "post_array", (), source).mean_toggle_rate
    assert math.isclose(data["input_toggle_rate"], expected)
