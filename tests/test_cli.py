"""The pearray command line: output contract, dumps, exit codes, bad input."""

import dataclasses
import json

import numpy as np
import pytest
from amaranth.hdl import Module

from hw.pe_int8 import Int8PE
from models import registry
from sim import cli, report, run
from sim.args import default_energy_basis
from sim.simulators import ICARUS
from tests.gemm_runner import require_tool

SIM = ["sim", "--pe", "int8", "--rows", "2", "--cols", "2"]


def _run(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_verilog_writes_and_prints_the_path(tmp_path, capsys):
    code, out, _ = _run(capsys, ["verilog", "--pe", "int8", "--rows", "2", "--cols", "3", "-o", str(tmp_path)])
    assert code == 0
    path = tmp_path / out.strip().split("/")[-1]
    assert out.strip() == str(path) and "module top" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_sim_json_and_dump(tmp_path, capsys):
    code, out, _ = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3", "--json", "--dump", str(tmp_path)])
    assert code == 0
    report = json.loads(out)  # exactly one JSON object on stdout
    for key in ("pe", "rows", "cols", "dataflow", "m", "k", "n", "cycles", "model_cycles",
                "mismatches", "sim_seconds", "cycles_per_second"):
        assert key in report
    assert report["mismatches"] == 0 and report["cycles"] == report["model_cycles"]
    assert report["simulator"] == "verilator"   # the default
    acts, weights = np.load(tmp_path / "acts_q.npy"), np.load(tmp_path / "weights_q.npy")
    assert acts.shape == (5, 7) and weights.shape == (7, 3)
    assert np.array_equal(np.load(tmp_path / "rtl_out.npy"), acts @ weights)
    assert np.array_equal(np.load(tmp_path / "golden_out.npy"), acts @ weights)
    assert "rtl_out" in json.loads((tmp_path / "meta.json").read_text())


def test_sim_quantises_float_files(tmp_path, capsys):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "a.npy", rng.normal(size=(4, 6)).astype(np.float32))
    np.save(tmp_path / "w.npy", rng.normal(size=(6, 5)))
    code, out, _ = _run(capsys, SIM + ["--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy"),
                                       "--json", "--dump", str(tmp_path / "d")])
    assert code == 0 and json.loads(out)["m"] == 4
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert "scale" in meta["acts"] and len(meta["weights"]["scale"]) == 5


def _bad_files(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 4), dtype=np.int8))
    np.save(tmp_path / "w_shape.npy", np.ones((5, 2), dtype=np.int8))
    np.save(tmp_path / "w_range.npy", np.full((4, 2), 200, dtype=np.int16))
    nan = np.ones((4, 2))
    nan[1, 1] = np.nan
    np.save(tmp_path / "w_nan.npy", nan)
    np.save(tmp_path / "w_3d.npy", np.ones((4, 2, 1)))
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file")
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["sim", "--pe", "int9", "--rows", "2", "--cols", "2", "--m", "1", "--k", "1", "--n", "1"], "unknown PE kind 'int9'"),
    (["sim", "--pe", "int8", "--rows", "0", "--cols", "2", "--m", "1", "--k", "1", "--n", "1"], "positive integer"),
    (SIM + ["--m", "4"], "give --m, --k and --n"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/w_shape.npy"], "shapes do not chain"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/w_range.npy"], "out of range"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/w_nan.npy"], "NaN"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/w_3d.npy"], "2-D"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/junk.npy"], "cannot read weight file"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/missing.npy"], "cannot read weight file"),
    (SIM + ["--acts", "{d}/a.npy"], "go together"),
    (SIM + ["--m", "9", "--k", "9", "--n", "9", "--act-depth", "4"], "needs 45 act buffer words"),
    (SIM + ["--acts", "{d}/a.npy", "--weights", "{d}/w_range.npy", "--m", "2"], "does not match"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    d = _bad_files(tmp_path)
    dump = tmp_path / "dump"
    argv = [a.format(d=d) for a in argv] + ["--dump", str(dump)]
    code, out, err = _run(capsys, argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert out == ""
    assert not dump.exists()


class OffByOnePE(Int8PE):
    """A deliberately broken PE: -128 * -128 comes out one too small."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.good = good = Int8PE(acc_width=self.acc_width)
        m.d.comb += [good.act.eq(self.act), good.weight.eq(self.weight),
                     good.valid.eq(self.valid), good.acc_in.eq(self.acc_in)]
        corner = (self.act == 0x80) & (self.weight == 0x80)
        with m.If(self.valid):
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + self.act.as_signed() * self.weight.as_signed()
                                        - corner)
        return m


def test_a_broken_design_fails_with_exit_1(monkeypatch, tmp_path, capsys):
    broken = dataclasses.replace(registry.PE_KINDS["int8"], name="int8-broken", pe_class=OffByOnePE)
    monkeypatch.setitem(registry.PE_KINDS, "int8-broken", broken)
    np.save(tmp_path / "a.npy", np.full((3, 4), -128))
    np.save(tmp_path / "w.npy", np.full((4, 2), -128))
    code, out, _ = _run(capsys, ["sim", "--pe", "int8-broken", "--rows", "2", "--cols", "2", "--json",
                                 "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
    assert code == 1
    assert json.loads(out)["mismatches"] == 6


def test_watchdog_ends_a_hung_run(monkeypatch, capsys):
    monkeypatch.setattr(run, "WATCHDOG_FACTOR", 0)
    monkeypatch.setattr(run, "WATCHDOG_SLACK", 5)
    code, _, err = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3"])
    assert code == 1
    assert "watchdog: done not raised within 5 cycles" in err


def test_ovp_dump_holds_the_pair_bytes(tmp_path, capsys):
    code, _, _ = _run(capsys, ["sim", "--pe", "ovp", "--rows", "2", "--cols", "2", "--m", "3",
                               "--k", "5", "--n", "2", "--dump", str(tmp_path)])
    assert code == 0
    acts, lanes = np.load(tmp_path / "acts_q.npy"), np.load(tmp_path / "acts_lanes.npy")
    padded = np.concatenate([acts, np.zeros((3, 1), dtype=acts.dtype)], axis=1)
    assert lanes.shape == (3, 3)
    assert np.array_equal(lanes, padded[:, 0::2] | (padded[:, 1::2] << 4))  # low nibble = left element
    assert np.load(tmp_path / "weights_lanes.npy").shape == (3, 2)


def test_ovp_mode_flows_through_and_utilisation_counts_macs_per_step(capsys):
    code, out, _ = _run(capsys, ["sim", "--pe", "ovp", "--mode", "flint4", "--rows", "2", "--cols", "2",
                                 "--m", "6", "--k", "8", "--n", "4", "--json"])
    report = json.loads(out)
    assert code == 0 and report["mode"] == "flint4" and report["mismatches"] == 0
    assert 0 < report["utilisation"] <= 1


def test_lut_weight_bits_flow_through(capsys):
    code, out, _ = _run(capsys, ["sim", "--pe", "lut", "--weight-bits", "2", "--rows", "2", "--cols", "3",
                                 "--m", "5", "--k", "7", "--n", "4", "--json"])
    assert code == 0
    report = json.loads(out)
    assert report["weight_bits"] == 2 and report["mismatches"] == 0
    assert report["cycles"] == report["model_cycles"]


@pytest.mark.parametrize("argv, message", [
    (["sim", "--pe", "int8", "--weight-bits", "4"], "has no --weight-bits option"),
    (["sim", "--pe", "lut", "--weight-bits", "5"], "--weight-bits must be an integer in 1..4, not 5"),
    (["sim", "--pe", "shiftadd", "--group", "0"], "--group"),
    (["sim", "--pe", "int8", "--group", "8"], "has no --group option"),
    (["sim", "--pe", "lut", "--mode", "int4"], "has no --mode option"),
    (["sim", "--pe", "ovp", "--mode", "int5"], "'int5'"),
])
def test_bad_pe_options(capsys, argv, message):
    code, _, err = _run(capsys, argv + ["--rows", "2", "--cols", "2", "--m", "2", "--k", "4", "--n", "2"])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_quant_table_on_a_real_tensor(capsys):
    code, out, _ = _run(capsys, ["quant", "--format", "int8", "--tensor", "minilm:L0.ffn2", "--json"])
    assert code == 0
    row = json.loads(out)["formats"][0]
    assert row["format"] == "int8" and 0 < row["relative_error"] < 0.05


@pytest.mark.parametrize("argv, message", [
    (["quant", "--format", "int8"], "exactly one of --tensor"),
    (["quant", "--format", "nope", "--tensor", "minilm:L0.ffn2"], "unknown format 'nope'"),
    (["quant", "--all", "--format", "int8", "--tensor", "minilm:L0.ffn2"], "exactly one of --format"),
    (["quant", "--all", "--tensor", "minilm:L9.q"], "minilm:L9.q"),
])
def test_quant_bad_input(capsys, argv, message):
    code, _, err = _run(capsys, argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def _quant_json(capsys, tmp_path, x, *argv):
    np.save(tmp_path / "x.npy", x)
    code, out, err = _run(capsys, ["quant", "--input", str(tmp_path / "x.npy"), "--json", *argv])
    assert code == 0 and not err, err
    assert "Infinity" not in out and "NaN" not in out
    return {row["format"]: row for row in json.loads(out)["formats"]}


def test_quant_json_is_json_and_says_why_a_figure_is_missing(tmp_path, capsys):
    rows = _quant_json(capsys, tmp_path, np.ones((4, 128)), "--all")
    assert rows["int8"]["relative_error"] == 0 and rows["int8"]["sqnr_db"] is None
    assert "exact" in rows["int8"]["note"]
    rows = _quant_json(capsys, tmp_path, np.zeros((4, 128)), "--format", "int8")
    assert rows["int8"]["relative_error"] is None and "all-zero" in rows["int8"]["note"]


def test_quant_all_skips_group_formats_that_do_not_divide_k(tmp_path, capsys):
    rows = _quant_json(capsys, tmp_path, np.random.default_rng(0).normal(size=(8, 120)), "--all")
    assert rows["int4-g128"]["relative_error"] is None
    assert "does not divide K=120" in rows["int4-g128"]["note"]
    assert 0 < rows["int4"]["relative_error"] < 0.2 and rows["int4"]["note"] == ""


@pytest.mark.parametrize("magnitude", [1e-310, 1e-30, 3e38])
def test_quant_error_is_scale_invariant(tmp_path, capsys, magnitude):
    """Tensors at the ends of the float range give the errors of the same tensor at magnitude 1
    (the formats scale exactly by powers of two), with no warnings."""
    x = np.ldexp(np.random.default_rng(1).normal(size=(8, 128)), 0)
    exponent = int(np.floor(np.log2(magnitude)))
    unit = _quant_json(capsys, tmp_path, x, "--all")
    scaled = _quant_json(capsys, tmp_path, np.ldexp(x, exponent), "--all")
    for name, row in unit.items():
        assert scaled[name]["relative_error"] == pytest.approx(row["relative_error"], rel=1e-12), name


def test_sim_in_icarus_same_json_and_exit_codes(monkeypatch, tmp_path, capsys):
    """--simulator icarus: the same JSON (simulator named), bit-exact, cycles equal to the model;
    a broken design exits 1 with the same mismatch count as in Verilator; a watchdog exits 1."""
    require_tool(ICARUS)
    code, out, _ = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3", "--json", "--simulator", "icarus",
                                       "--dump", str(tmp_path / "d")])
    report = json.loads(out)
    assert code == 0 and report["simulator"] == "icarus"
    assert report["mismatches"] == 0 and report["cycles"] == report["model_cycles"]
    acts, weights = np.load(tmp_path / "d" / "acts_q.npy"), np.load(tmp_path / "d" / "weights_q.npy")
    assert np.array_equal(np.load(tmp_path / "d" / "rtl_out.npy"), acts @ weights)
    broken = dataclasses.replace(registry.PE_KINDS["int8"], name="int8-broken", pe_class=OffByOnePE)
    monkeypatch.setitem(registry.PE_KINDS, "int8-broken", broken)
    np.save(tmp_path / "a.npy", np.full((3, 4), -128))
    np.save(tmp_path / "w.npy", np.full((4, 2), -128))
    code, out, _ = _run(capsys, ["sim", "--pe", "int8-broken", "--rows", "2", "--cols", "2", "--json",
                                 "--simulator", "icarus",
                                 "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
    assert code == 1 and json.loads(out)["mismatches"] == 6
    monkeypatch.setattr(run, "WATCHDOG_FACTOR", 0)
    monkeypatch.setattr(run, "WATCHDOG_SLACK", 5)
    code, _, err = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3", "--simulator", "icarus"])
    assert code == 1 and "watchdog: done not raised within 5 cycles" in err


def test_sim_without_icarus_is_bad_input(monkeypatch, tmp_path, capsys):
    """No iverilog on PATH: one line naming it and how to install it, exit 2, nothing written."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    dump = tmp_path / "dump"
    code, out, err = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3", "--simulator", "icarus",
                                         "--dump", str(dump)])
    assert code == 2 and out == "" and not dump.exists()
    assert len(err.strip().splitlines()) == 1 and "iverilog" in err and "apt-get install iverilog" in err


def test_unknown_simulator_is_bad_input(capsys):
    code, out, err = _run(capsys, SIM + ["--m", "5", "--k", "7", "--n", "3", "--simulator", "xcelium"])
    assert code == 2 and out == "" and "invalid choice: 'xcelium'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["cost", "--pe", "int8", "--rows", "4", "--cols", "4", "--gemm", "8x8x8", "--energy-basis", "opensta"],
    ["report", "--out", "{d}/r", "--energy-basis", "opensta"],
])
def test_a_bad_energy_basis_is_one_line_and_exit_2_before_any_work(tmp_path, capsys, monkeypatch, argv):
    def started(*args, **kwargs):
        raise AssertionError("work started before --energy-basis was checked")
    monkeypatch.setattr(cli, "build_report", started)
    code, out, err = _run(capsys, [a.format(d=tmp_path) for a in argv])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--energy-basis" in err and "'opensta'" in err, err
    assert not (tmp_path / "r").exists()


def test_report_passes_its_energy_basis_on(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "build_report", lambda out, **kwargs: seen.append(kwargs["energy_basis"]) or 0)
    for argv in ([], ["--energy-basis", "sta"], ["--energy-basis", "sim"]):
        assert cli.main(["report", "--out", str(tmp_path / "r"), *argv]) == 0
    # not given: None, which the plan resolves (test_the_quick_report_plan_records_its_basis)
    assert seen == [None, "sta", "sim"]


def test_the_default_energy_basis_follows_the_activity():
    """Measured activity (minilm, random): the sim basis; a fixed number: sta, the only one defined."""
    assert [default_energy_basis(a) for a in ("minilm", "random", 0.5, 0.0, 1)] == ["sim", "sim", "sta", "sta", "sta"]


class _Planned(Exception):
    pass


@pytest.mark.parametrize("argv, basis", [([], "sim"), (["--energy-basis", "sta"], "sta"),
                                         (["--energy-basis", "sim"], "sim")])
def test_the_quick_report_plan_records_its_basis(tmp_path, monkeypatch, argv, basis):
    """``pearray report --quick``: the plan build_report hands to the work is on the sim basis
    unless told otherwise (the report's cost points are priced at a measured activity); stopped
    before any work, nothing written."""
    plans = []

    def gather(plan, staging, progress):
        plans.append(plan)
        raise _Planned
    monkeypatch.setattr(report, "gather", gather)
    with pytest.raises(_Planned):
        cli.main(["report", "--quick", "--out", str(tmp_path / "r"), *argv])
    assert [(p.energy_basis, (p.rows, p.cols)) for p in plans] == [(basis, (4, 4))]
    assert not (tmp_path / "r").exists()
