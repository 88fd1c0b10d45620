"""The command line's contract under fuzzed arguments and .npy files (hypothesis).

Whatever the input: the exit status is 0, 1 or 2; exit 2 prints exactly one stderr line and no
traceback and creates nothing; under ``--json`` stdout is one JSON object or nothing. The expensive
work behind a command that passed its checks (a Verilator simulation, Verilog generation, a report)
is replaced by a stub that records it was reached, so the fuzzing stays fast; those paths are run for
real by the other CLI tests.
"""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.registry import PE_KINDS
from sim import cli, report

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class ReachedWork(Exception):
    """Raised by the stubs: every check passed and the command started its real work."""


def _reached(*args, **kwargs):
    raise ReachedWork


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr(cli, "simulate_gemm", _reached)
    monkeypatch.setattr(cli.DesignConfig, "verilog", _reached)
    monkeypatch.setattr(cli, "build_report", _reached)
    monkeypatch.setattr(report, "build_report", _reached)


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _check_contract(capsys, argv, root):
    before = _snapshot(root)
    try:
        code = cli.main(argv)
    except ReachedWork:
        capsys.readouterr()
        return "work"
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)
        assert _snapshot(root) == before, f"exit 2 created or removed files: {argv}"
    if "--json" in argv and out.strip():
        json.loads(out)            # exactly one JSON object
        assert len(out.strip().splitlines()) == 1
    return code


TOKENS = st.sampled_from([
    "--pe", "int8", "lut", "ovp", "shiftadd", "bitserial", "bitserial_fp16", "int9", "",
    "--rows", "--cols", "--m", "--k", "--n", "0", "1", "2", "3", "-1", "1e8", "inf", "nan", "x",
    "257", "100000", "--dataflow", "ws", "os", "diag", "--weight-bits", "--mode", "int4", "flint4",
    "--weight-format", "mixed4", "fp3", "--group", "none", "128", "--seed", "--act-depth",
    "--json", "--dump", "-o", "--out", "--acts", "--weights", "--format", "--all", "--tensor",
    "minilm:L0.ffn2", "minilm:L9.q", "--input", "--gemm", "4x4x4", "0x1x1", "--workload",
    "minilm-l6", "--clock-mhz", "--node", "45", "7", "--unit", "pe", "--quick", "--help",
    "mine.txt", "folder", ".", "new-out", "/dev/null",
])
COMMANDS = st.sampled_from(["sim", "verilog", "quant", "cost", "kinds", "report", "synth", "bogus"])


@FUZZ
@given(command=COMMANDS, tokens=st.lists(TOKENS, max_size=14))
def test_fuzzed_argument_lists_keep_the_contract(tmp_path, capsys, stubbed, monkeypatch, command, tokens):
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    (work / "mine.txt").write_text("keep")     # a user's file, also offered as an output path
    (work / "folder").mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    argv = [command] + tokens
    if command == "synth":
        argv.append("--help")      # synthesis runs Yosys for minutes: only its argument checks here
    _check_contract(capsys, argv, work)
    assert (work / "mine.txt").read_text() == "keep"


DTYPES = st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                          "float16", "float32", "float64", "bool", "complex64"])


@st.composite
def npy_files(draw):
    kind = draw(st.sampled_from(["array", "array", "array", "empty", "garbage", "npz", "dir",
                                 "fifo", "devnull", "missing", "object"]))
    if kind != "array":
        return kind, None
    dtype = np.dtype(draw(DTYPES))
    shape = draw(st.sampled_from([(), (3,), (0, 4), (3, 4), (4, 2), (3, 4, 1), (1, 1)]))
    size = int(np.prod(shape)) if shape else 1
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = draw(st.lists(st.sampled_from([info.min, info.max, 0, 1, -1 if info.min < 0 else 2,
                                                127, -128 if info.min < 0 else 128, 200]),
                               min_size=size, max_size=size))
    elif dtype.kind == "b":
        values = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    else:
        values = draw(st.lists(st.sampled_from([0.0, -0.0, 1.5, -3.25, 1e-40, 3e38, 65504.0,
                                                float("nan"), float("inf"), -float("inf")]),
                               min_size=size, max_size=size))
    with np.errstate(all="ignore"):
        return "array", np.array(values, dtype=np.float64 if dtype.kind in "fc" else None).astype(
            dtype).reshape(shape)


def _write(path, spec):
    kind, array = spec
    if kind == "array":
        np.save(path, array)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x93NUMPY\x01\x00garbage")
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, a=np.ones((2, 2)))
    elif kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "devnull":
        return "/dev/null"
    elif kind == "object":
        np.save(path, np.array([[object()]], dtype=object), allow_pickle=True)
    return str(path)


@FUZZ
@given(acts=npy_files(), weights=npy_files(), pe=st.sampled_from(sorted(PE_KINDS)),
       json_flag=st.booleans())
def test_fuzzed_npy_files_keep_the_contract(tmp_path, capsys, stubbed, acts, weights, pe, json_flag):
    work = tmp_path / "f"
    if work.exists():
        for p in work.iterdir():
            p.rmdir() if p.is_dir() else p.unlink()
    work.mkdir(exist_ok=True)
    argv = ["sim", "--pe", pe, "--rows", "2", "--cols", "2", "--dataflow", PE_KINDS[pe].dataflows[0],
            "--acts", _write(work / "a.npy", acts), "--weights", _write(work / "w.npy", weights)]
    if PE_KINDS[pe].dataflows[0] == "ws" and dict(PE_KINDS[pe].options).get("group_size"):
        argv += ["--group", "none"]
    _check_contract(capsys, argv + (["--json"] if json_flag else []), work)


@FUZZ
@given(x=npy_files(), fmt=st.sampled_from(["int8", "int4-g128", "ovp-int4", "mxfp4", "bitmod-mixed4"]))
def test_fuzzed_quant_inputs_keep_the_contract(tmp_path, capsys, x, fmt):
    work = tmp_path / "q"
    if work.exists():
        for p in work.iterdir():
            p.rmdir() if p.is_dir() else p.unlink()
    work.mkdir(exist_ok=True)
    _check_contract(capsys, ["quant", "--format", fmt, "--input", _write(work / "x.npy", x), "--json"],
                    work)
