"""OpenSTA timing and activity-based power of synthesised units (models.sta, models.activity and
their use in models.synth and `pearray synth`). Yosys + sta on one PE kind's PE and border unit
(cached per netlist, so only the first run pays). Skipped without the tools (`make synth-tools`
installs them), except under CI=true, where missing tools fail the run."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import activity, sta, synth
from tests.tools import require_sta


@pytest.fixture
def tools():
    require_sta()


def _report(pe, unit, clock_mhz, act=None):
    r = synth.synthesize(pe, unit=unit)
    return sta.run_sta(r.netlist(), r.top, synth.liberty_path(), clock_mhz=clock_mhz,
                       activity=act, cache_dir=synth.cache_root())


def test_critical_path_of_the_int8_pe(tools):
    r = synth.synthesize("int8", unit="pe")
    rep = _report("int8", "pe", 100.0)
    path = rep.critical_path
    # the product feeds the accumulator flops: the path ends at one of them, after a library setup
    assert path.end.startswith("acc_out[") and path.end.endswith("(flop)")
    assert path.start.split("[")[0] in {"act", "weight", "acc_in"} or path.start.endswith("(flop)")
    assert 1.0 < path.delay_ns < 50.0 and 0.0 < path.setup_ns < 1.0
    # the parsed slack is OpenSTA's own: period - arrival - setup
    assert math.isclose(rep.slack_ns, 10.0 - path.delay_ns - path.setup_ns, abs_tol=2e-3)
    # at its Fmax the path has zero slack, just above it a violation
    at_fmax = sta.run_sta(r.netlist(), r.top, synth.liberty_path(), clock_mhz=rep.fmax_mhz)
    assert abs(at_fmax.slack_ns) < 2e-3
    assert at_fmax.critical_path == path
    faster = sta.run_sta(r.netlist(), r.top, synth.liberty_path(), clock_mhz=rep.fmax_mhz * 1.05)
    assert faster.slack_ns < -0.1
    # the timing never depends on the activity; leakage only on the cells
    busy = _report("int8", "pe", 100.0, {f"act[{i}]": (0.5, 0.5) for i in range(8)})
    assert busy.critical_path == path and math.isclose(busy.power.leakage, rep.power.leakage)


def test_int8_multiplier_path_is_longer_than_shift_add(tools):
    """Measured, not assumed: the 8x8 multiplier + 32-bit add of the INT8 PE is a longer path than
    the shift-add PE's (W4: at most two shifted adds) on this flow, and a combinational border
    unit is faster than the PE it feeds."""
    int8 = synth.unit_timing("int8", "pe")
    shiftadd = synth.unit_timing("shiftadd", "pe")
    assert int8.critical_path.delay_ns > shiftadd.critical_path.delay_ns
    assert int8.fmax_mhz < shiftadd.fmax_mhz
    border = synth.unit_timing("bitserial", "weight_border")
    assert border.critical_path.setup_ns == 0          # ends at an output port
    assert border.fmax_mhz > synth.unit_timing("bitserial", "pe").fmax_mhz


def test_power_grows_with_activity_and_clock(tools):
    measured = activity.unit_activity("int8", "pe", (), "minilm")
    half = dataclasses.replace(measured, bits=tuple((n, a / 2, d) for n, a, d in measured.bits))
    full = synth.unit_power("int8", "pe", clock_mhz=100.0, activity=measured)
    low = synth.unit_power("int8", "pe", clock_mhz=100.0, activity=half)
    assert low.power.switching < full.power.switching and low.power.total < full.power.total
    fast = synth.unit_power("int8", "pe", clock_mhz=200.0, activity=measured)
    assert fast.power.total > 1.5 * full.power.total        # dynamic power ~ clock
    assert math.isclose(fast.energy_per_cycle_pj, full.energy_per_cycle_pj, rel_tol=0.1)
    # the default clock is the unit's own Fmax
    own = synth.unit_power("int8", "pe", activity=measured)
    assert math.isclose(own.clock_mhz, synth.unit_timing("int8", "pe").fmax_mhz, rel_tol=1e-6)


def test_real_and_random_activity_differ_for_a_data_dependent_pe(tools):
    """The bit-serial PE on MiniLM L0 FFN1 (activations mostly small, weights in BitMoD's mixed
    format) toggles less than on uniform random codes, and its power follows."""
    real = activity.unit_activity("bitserial", "pe", (), "minilm")
    rand = activity.unit_activity("bitserial", "pe", (), "random")
    assert real.mean_toggle_rate < 0.9 * rand.mean_toggle_rate
    p_real = synth.unit_power("bitserial", "pe", clock_mhz=100.0, source="minilm")
    p_rand = synth.unit_power("bitserial", "pe", clock_mhz=100.0, source="random")
    assert p_real.activity_source == "minilm" and p_rand.activity_source == "random"
    assert p_real.power.total < 0.95 * p_rand.power.total


def test_border_unit_activity_is_its_code_lane():
    """The column border sees the weight code lanes in load order: its toggle rate and duty are
    those of the lane bits, computed here independently from the quantised codes."""
    act = activity.unit_activity("bitserial", "weight_border", (), "random")
    kind_acts, kind_weights, _ = activity._codes("bitserial", (), "random", 32, 128, 1)
    proto = activity.get_kind("bitserial").prototype()
    bits = proto.weight_code_width
    lanes = np.asarray(kind_weights, dtype=np.int64).T.reshape(-1) & ((1 << bits) - 1)
    for b in range(bits):
        col = (lanes >> b) & 1
        name = f"code[{b}]" if bits > 1 else "code"
        (found,) = [x for x in act.bits if x[0] == name]
        assert math.isclose(found[1], np.abs(np.diff(col)).mean())
        assert math.isclose(found[2], col.mean())


def test_pe_port_activity_in_the_simulated_column():
    """Facts of the weight-stationary stream: an II=1 PE's valid is always high; a multi-cycle PE's
    valid pulses once per step (2 toggles per II cycles); stationary weights toggle far less than
    activations."""
    int8 = activity.unit_activity("int8", "pe", (), "minilm").port_means()
    assert int8["valid"] == (0.0, 1.0)
    assert int8["weight"][0] < 0.2 * int8["act"][0]
    lut = activity.unit_activity("lut", "pe", (("weight_bits", 4),), "minilm").port_means()
    assert math.isclose(lut["valid"][0], 2 / 4, rel_tol=0.02) and math.isclose(lut["valid"][1], 1 / 4,
                                                                                rel_tol=0.02)


def test_activity_bits_are_the_netlist_inputs(tools):
    r = synth.synthesize("int8", unit="pe")
    names = {n for n, _, _ in activity.unit_activity("int8", "pe").bits}
    assert names == set(sta.input_bits(r.netlist())) - {"rst"}
    with pytest.raises(ValueError, match="not inputs"):
        sta.run_sta(r.netlist(), r.top, synth.liberty_path(), clock_mhz=100, activity={"nope": (0, 0)})


def test_missing_sta_names_the_package(monkeypatch):
    monkeypatch.setattr(sta.shutil, "which", lambda *a, **k: None)
    sta.find_sta.cache_clear()
    try:
        with pytest.raises(sta.StaError, match="apt-get install -y opensta"):
            sta.find_sta()
    finally:
        sta.find_sta.cache_clear()


def test_parse_report_snippets():
    netlist = "  DFFPOSX1 _7_ (\n    .CLK(clk),\n    .D(_1_),\n    .Q(acc_out[5])\n  );\n"
    checks = """Startpoint: act[7] (input port clocked by clk)
Endpoint: _7_ (rising edge-triggered flip-flop clocked by clk)
   6.9810    6.9810 ^ _7_/D (DFFPOSX1)
             6.9810   data arrival time
  -0.1800    9.8200   library setup time
             2.8390   slack (MET)"""
    path = sta.parse_checks(checks, netlist)
    assert path == sta.CriticalPath("act[7]", "acc_out[5] (flop)", 6.981, 0.18)
    power = """Sequential           7.0e-04 1.0e-05 5.0e-09 7.1e-04  21.0%
Combinational        2.0e-03 7.0e-04 8.0e-08 2.7e-03  79.0%"""
    seq, comb = sta.parse_power(power)
    assert math.isclose(seq.internal, 0.7) and math.isclose(comb.switching, 0.7)
    assert math.isclose(comb.leakage, 8e-5)


def test_synth_cli_reports_timing_and_power(tools, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "sim.cli", "synth", "--pe", "bitserial", "--unit",
                          "weight_border", "--activity", "random", "--clock-mhz", "250", "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data["critical_path"]) >= {"start", "end", "delay_ns"}
    assert data["critical_path"]["start"].startswith("code")
    assert data["activity_source"] == "random" and data["clock_mhz"] == 250
    p = data["power_mw"]
    assert math.isclose(p["total"], p["internal"] + p["switching"] + p["leakage"])
    assert data["fmax_mhz"] > 250
    bad = subprocess.run([sys.executable, "-m", "sim.cli", "synth", "--pe", "int8", "--unit", "pe",
                          "--activity", "zeros"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""


def test_synth_cli_pe_reports_area_and_energy_errors(tools, tmp_path):
    """issue 14's per-unit keys: area_error (model / synthesis - 1, both at 45 nm) and, for a PE,
    the model's energy per step on the same activity next to OpenSTA's."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "sim.cli", "synth", "--pe", "int8", "--unit", "pe",
                          "--activity", "random", "--clock-mhz", "100", "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert math.isclose(data["area_error"], data["model_area_um2_45nm"] / data["synth_area_um2_45nm"] - 1)
    assert data["model_energy_pj"] > 0 and data["sta_energy_pj"] > 0
    assert math.isclose(data["energy_error"], data["model_energy_pj"] / data["sta_energy_pj"] - 1)
