"""`pearray sweep`: the space file, the Dask stages, the Parquet results, resume, Pareto fronts."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.cost import CostConfig, evaluate
from models.sweep_space import load_space, parse_space, row_key
from sim import run, sweep
from sim.cli import main
from tests.tools import require_synthesis

ROOT = Path(__file__).resolve().parents[1]

# a few kinds x 2 shapes x 1 workload; bitserial_fp16 refuses ws, lut refuses weight_bits 7
SMALL = """
kinds = ["int8", "lut", "bitserial_fp16"]
rows = [2, 4]
cols = [4]
dataflows = ["ws", "os"]
workloads = ["64x256x48"]

[options.lut]
weight_bits = [2, 7]
"""


def write(path, text):
    path.write_text(text)
    return path


def run_cli(*argv):
    return main([str(a) for a in argv])


def cli_env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


# --------------------------------------------------------------------------------------------
# the space file


def test_space_is_the_cross_product_with_refusals_recorded(tmp_path):
    space = load_space(write(tmp_path / "s.toml", SMALL))
    # int8 (1 setting) + lut (2) + bitserial_fp16 (1), x 2 dataflows x 2 shapes
    assert len(space.points) == 4 * 2 * 2
    refused = {(p.pe, p.dataflow, p.pe_options): p.refused for p in space.points if p.refused}
    assert set(refused) == {("bitserial_fp16", "ws", ()), ("lut", "ws", (("weight_bits", 7),)),
                            ("lut", "os", (("weight_bits", 7),))}
    assert "not 'ws'" in refused["bitserial_fp16", "ws", ()]
    assert "weight_bits" in refused["lut", "os", (("weight_bits", 7),)]
    assert len({p.key for p in space.points}) == len(space.points)


def test_kinds_all_takes_every_registered_variant():
    from models.registry import PE_KINDS
    space = parse_space({"kinds": "all", "rows": [4], "cols": [4], "workloads": ["minilm-l6"]})
    variants = {(k.name, tuple(sorted(o))) for k in PE_KINDS.values() for _, o in k.variants}
    assert {(p.pe, p.pe_options) for p in space.points} == variants


def test_point_hash_is_stable_across_processes(tmp_path):
    path = write(tmp_path / "s.toml", SMALL)
    here = [p.key for p in load_space(path).points]
    code = ("import sys; from models.sweep_space import load_space; "
            "print(' '.join(p.key for p in load_space(sys.argv[1]).points))")
    there = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                           env=cli_env(PYTHONHASHSEED="123"), check=True, cwd=ROOT).stdout.split()
    assert here == there


@pytest.mark.parametrize("text, named", [
    ("kinds = [\"int8\"\nrows = [1]", "not valid TOML"),
    (SMALL.replace('"int8"', '"int9"'), "unknown PE kind 'int9'"),
    (SMALL.replace("weight_bits = [2, 7]", "weight_bit = [2]"), "options.lut.weight_bit"),
    ("colour = 3\n" + SMALL, "unknown key 'colour'"),
    (SMALL.replace("rows = [2, 4]", "rows = [2, -4]"), "rows must be positive integers"),
    (SMALL.replace('workloads = ["64x256x48"]', 'workloads = ["gpt5"]'), "unknown workload 'gpt5'"),
    (SMALL.replace("cols = [4]", "cols = [4]\nnode = [13]"), "node"),
    (SMALL.replace('dataflows = ["ws", "os"]', 'dataflows = ["ws", "is"]'), "dataflows"),
    (SMALL + "[[pareto]]\nx = \"tops\"\ny = \"colour\"\n", "pareto[0].y"),
])
def test_bad_space_is_one_line_exit_2_and_creates_nothing(tmp_path, capsys, text, named):
    out = tmp_path / "out"
    assert run_cli("sweep", write(tmp_path / "s.toml", text), "--out", out, "--workers", "0") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pearray: error:") and named in err, err
    assert not out.exists()


def test_bad_arguments_exit_2_before_any_work(tmp_path, capsys):
    space = write(tmp_path / "s.toml", SMALL)
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("keep me")
    for argv, named in ((("--out", user), "did not write"),
                        (("--out", tmp_path / "o", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"),
                         "not both"),
                        (("--out", tmp_path / "o", "--scheduler", "127.0.0.1:8786"), "--scheduler"),
                        (("--out", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:1"), "cannot connect")):
        assert run_cli("sweep", space, *argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err, err
    assert [p.name for p in user.iterdir()] == ["thesis.tex"]
    assert not (tmp_path / "o").exists()
    assert run_cli("sweep", tmp_path / "missing.toml", "--out", tmp_path / "o") == 2
    assert "cannot read space file" in capsys.readouterr().err


def test_pareto_mask_against_brute_force():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 200).astype(float)     # many ties
    y = rng.integers(0, 6, 200).astype(float)
    x[3] = np.nan
    for sx, sy in (("max", "max"), ("max", "min"), ("min", "min")):
        mask = sweep.pareto_mask(x, y, sx, sy)
        a = x * (1 if sx == "max" else -1)
        b = y * (1 if sy == "max" else -1)
        for i in range(len(x)):
            dominated = np.any((a >= a[i]) & (b >= b[i]) & ((a > a[i]) | (b > b[i])))
            assert mask[i] == (not np.isnan(x[i]) and not dominated), (i, sx, sy)


# --------------------------------------------------------------------------------------------
# sweeps


def test_sweep_on_local_cluster_equals_direct_evaluation(tmp_path, capsys, monkeypatch):
    # an empty accuracy cache: the machine's own (filled by `pearray accuracy` or other tests)
    # would add quality fronts and make the fronts below depend on what ran before
    monkeypatch.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path / "accuracy"))
    space_path = write(tmp_path / "s.toml", SMALL)
    out = tmp_path / "out"
    assert run_cli("sweep", space_path, "--out", out, "--workers", "2") == 0
    captured = capsys.readouterr()
    assert "16 rows (10 ok, 6 refused; 16 evaluated in this run)" in captured.out
    assert "16/16" in captured.err     # the progress bar's final line

    space = load_space(space_path)
    results = pd.read_parquet(out / "results.parquet")
    assert list(results.key) == [row_key(p, w) for p in space.points for w in space.workloads]
    assert results.key.is_unique
    (workload,) = space.workloads
    for point, row in zip(space.points, results.itertuples()):
        assert (row.pe, row.rows, row.cols, row.dataflow) == (point.pe, point.rows, point.cols, point.dataflow)
        if point.refused:
            assert row.status == "refused" and row.error == point.refused
            continue
        assert row.status == "ok", row.error
        direct = evaluate(CostConfig(point.pe, point.rows, point.cols, point.dataflow,
                                     pe_options=point.pe_options), list(workload.gemms))
        assert row.cycles == direct.cycles and row.macs == direct.macs
        assert row.area_mm2 == direct.area_total_mm2
        assert row.energy_uj == direct.energy_total_pj * 1e-6
        assert (row.tops, row.tops_per_w, row.tops_per_mm2) == (direct.tops, direct.tops_per_w,
                                                                direct.tops_per_mm2)
        assert getattr(row, "energy_dram_weight_pj") == direct.energy_pj["dram_weight"]
    # a refused combination the PE class rejects, with its message
    lut7 = results[(results.pe == "lut") & (results.options == '{"weight_bits": 7}')]
    assert set(lut7.status) == {"refused"} and lut7.error.str.contains("weight_bits").all()

    # the journal is a Parquet dataset DuckDB and pandas read alike
    counts = duckdb.sql(f"select status, count(*) from '{out}/cost/*.parquet' group by status "
                        f"order by status").fetchall()
    assert counts == [("ok", 10), ("refused", 6)]
    assert len(pd.read_parquet(out / "cost")) == 16

    # the front: every ok point not on it is dominated by one on it, none on it is
    fronts = pd.read_csv(out / "fronts" / "pareto.csv")
    assert set(fronts.front) == {"tops_per_w vs tops_per_mm2"}
    ok = results[results.status == "ok"]
    on = set(fronts.key)
    for row in ok.itertuples():
        dominated = ((ok.tops_per_w >= row.tops_per_w) & (ok.tops_per_mm2 >= row.tops_per_mm2)
                     & ((ok.tops_per_w > row.tops_per_w) | (ok.tops_per_mm2 > row.tops_per_mm2))).any()
        assert (row.key in on) == (not dominated)
    assert (out / "fronts" / "pareto-64x256x48-tops_per_w-vs-tops_per_mm2.png").stat().st_size > 1000

    # in process (one worker thread) gives the same table; the rerun evaluates nothing
    again = tmp_path / "again"
    assert run_cli("sweep", space_path, "--out", again, "--workers", "0") == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again / "results.parquet"), results)
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    assert "0 evaluated in this run" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), results)


def _committed_keys(out):
    keys = []
    for part in sorted((out / "cost").glob("part-*.parquet")):
        keys += pq.read_table(part).column("key").to_pylist()   # every committed file reads whole
    return keys


def test_killed_sweep_resumes_without_redoing_a_finished_point(tmp_path):
    space_path = write(tmp_path / "s.toml", """
kinds = ["int8", "lut", "shiftadd"]
rows = [4, 8, 12, 16, 24, 32]
cols = [4, 8, 12, 16, 24, 32]
dataflows = ["ws"]
act_kib = [16, 32, 64, 128]
weight_kib = [32, 64]
workloads = ["minilm-l6", "bert-base"]
[options.shiftadd]
group_size = ["none"]
""")
    space = load_space(space_path)
    total = len(space.points) * len(space.workloads)
    out, log1, log2 = tmp_path / "out", tmp_path / "eval1.log", tmp_path / "eval2.log"
    argv = [sys.executable, "-m", "sim.cli", "sweep", str(space_path), "--out", str(out),
            "--workers", "0"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=cli_env(PEARRAY_SWEEP_EVAL_LOG=str(log1)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # killed as soon as the first rows are in (at most 1 of its >= 8 cost tasks done)
        while not list((out / "cost").glob("part-*.parquet")):
            assert proc.poll() is None and time.monotonic() < deadline, "sweep ended before the kill"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _committed_keys(out)
    assert 0 < len(before) < total, "kill the sweep mid-way"
    assert len(set(before)) == len(before)

    result = subprocess.run(argv, cwd=ROOT, env=cli_env(PEARRAY_SWEEP_EVAL_LOG=str(log2)),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    redone = set(log2.read_text().split())
    assert not redone & set(before), "a finished point was evaluated again"
    after = _committed_keys(out)
    expected = {row_key(p, w) for p in space.points for w in space.workloads}
    assert len(after) == len(set(after)) == total and set(after) == expected
    assert redone == expected - set(before)
    assert not list((out / ".staging").iterdir())
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == total and (results.status == "ok").all()


def test_verify_pareto_runs_the_point_in_verilator_bit_exact(tmp_path, capsys, monkeypatch):
    space_path = write(tmp_path / "s.toml", """
kinds = ["int8"]
rows = [2]
cols = [2]
dataflows = ["ws"]
act_kib = [0.5]
weight_kib = [0.25]
out_kib = [0.5]
workloads = ["minilm-l6"]
[verify]
m = 16
k = 24
n = 6
""")
    out = tmp_path / "out"
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0", "--verify", "pareto") == 0
    assert "verify: 1 pass" in capsys.readouterr().out
    (row,) = pd.read_parquet(out / "results.parquet").itertuples()
    (point,) = load_space(space_path).points
    assert row.verify_status == "pass" and row.verify_bit_exact and row.verify_mismatches == 0
    model = evaluate(point.cost_config(), (16, 24, 6)).cycles
    assert row.verify_rtl_cycles == row.verify_model_cycles == model
    assert row.verify_gemm == "minilm:L0.ffn1 16x24x6"
    # a rerun takes the verification from the journal
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0", "--verify", "pareto") == 0
    assert len(pq.read_table(out / "verify")) == 1

    # one wrong output element (the same design, its build cached): recorded as fail, exit 1
    real = run.simulate_gemm

    def one_bit_off(design, operands):
        result = real(design, operands)
        wrong = result.rtl_out.copy()
        wrong[0, 0] ^= 1
        return dataclasses.replace(result, rtl_out=wrong)

    monkeypatch.setattr(run, "simulate_gemm", one_bit_off)
    bad = tmp_path / "bad"
    assert run_cli("sweep", space_path, "--out", bad, "--workers", "0", "--verify", "pareto") == 1
    (row,) = pd.read_parquet(bad / "results.parquet").itertuples()
    assert (row.verify_status, row.verify_mismatches, row.verify_bit_exact) == ("fail", 1, False)
    assert "1 mismatching outputs" in row.verify_error


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1; stopped after."""
    scheduler_file = tmp_path / "scheduler.json"
    common = dict(cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(scheduler_file)], **common)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert time.monotonic() < deadline and procs[0].poll() is None, "scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)   # the file is written whole by then
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--host", "127.0.0.1",
                 "--nthreads", "1", "--nworkers", "1", "--no-dashboard"], **common))
        yield address
    finally:
        for proc in procs[::-1]:
            proc.terminate()
        for proc in procs[::-1]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_sweep_on_a_running_scheduler_equals_in_process(tmp_path, dask_cluster):
    space_path = write(tmp_path / "s.toml", SMALL)
    assert run_cli("sweep", space_path, "--out", tmp_path / "remote", "--scheduler", dask_cluster) == 0
    assert run_cli("sweep", space_path, "--out", tmp_path / "local", "--workers", "0") == 0
    remote = pd.read_parquet(tmp_path / "remote" / "results.parquet")
    pd.testing.assert_frame_equal(remote, pd.read_parquet(tmp_path / "local" / "results.parquet"))
    assert len(remote) == 16


def test_synth_pareto_records_the_arrays_synthesis(tmp_path):
    from models import synth
    require_synthesis()
    space_path = write(tmp_path / "s.toml", """
kinds = ["int8"]
rows = [2]
cols = [2]
dataflows = ["ws"]
workloads = ["16x16x16"]
""")
    assert run_cli("sweep", space_path, "--out", tmp_path / "out", "--workers", "0", "--synth", "pareto") == 0
    (row,) = pd.read_parquet(tmp_path / "out" / "results.parquet").itertuples()
    direct = synth.synthesize("int8", rows=2, cols=2, dataflow="ws")
    assert row.synth_status == "ok"
    assert (row.synth_area_um2_osu018, row.synth_multipliers) == (direct.area_um2, 4)
    assert row.yosys_version.endswith(direct.version)


def test_a_folder_another_sweep_is_writing_is_refused(tmp_path, capsys):
    import fcntl
    space_path = write(tmp_path / "s.toml", SMALL)
    out = tmp_path / "out"
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    parts = sorted(p.name for p in (out / "cost").iterdir())
    capsys.readouterr()
    with open(out / ".lock", "w") as held:    # as a running sweep holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another pearray sweep is writing" in err, err
    assert sorted(p.name for p in (out / "cost").iterdir()) == parts
