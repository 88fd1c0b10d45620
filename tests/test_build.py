"""Cached builds: a damaged build is rebuilt, never run; an interrupted run leaves no run folder."""

import json

import numpy as np
import pytest

from models.design import DesignConfig
from sim import build as build_module
from sim import run, simulators


@pytest.fixture
def design(tmp_path, monkeypatch):
    monkeypatch.setenv("PEARRAY_BUILD_DIR", str(tmp_path / "cache"))
    return DesignConfig.sized_for("int8", 1, 2, "ws", 2, 3, 2)


def _operands(design):
    rng = np.random.default_rng(5)
    return design.kind.operands(rng.integers(-128, 128, (2, 3)), rng.integers(-128, 128, (3, 2)),
                                design.facts.pe)


def test_a_truncated_build_is_rebuilt_not_run(design):
    first = build_module.build(design)
    binary = first.directory / "obj" / "top"
    stamp_before = (first.directory / "built.ok").read_text()
    with open(binary, "r+b") as f:       # a disk-full or killed copy: half the executable
        f.truncate(binary.stat().st_size // 2)
    again = build_module.build(design)
    assert again.directory == first.directory
    assert (first.directory / "built.ok").read_text() == stamp_before   # the same binary again
    result = run.simulate_gemm(design, _operands(design))
    assert result.passed


def test_an_old_or_damaged_stamp_means_a_rebuild(design):
    assert not build_module.is_cached(design)          # what the report's progress line says
    first = build_module.build(design)
    assert build_module.is_cached(design)
    (first.directory / "built.ok").write_text(design.slug + "\n")        # an older pearray's stamp
    (first.directory / "obj" / "top").unlink()
    assert not build_module.is_cached(design)
    build_module.build(design)
    assert (first.directory / "obj" / "top").exists()
    assert build_module.is_cached(design)


def test_an_interrupted_run_leaves_no_run_folder(design, monkeypatch):
    built = build_module.build(design)

    class Interrupted:
        def test(self, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(simulators.Simulator, "runner", lambda self: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        run.simulate_gemm(design, _operands(design))
    assert not list((built.directory / "runs").iterdir())


def test_a_build_made_in_another_installation_is_rebuilt(design):
    """A build links cocotb's runtime libraries by path: one recorded from another virtualenv
    (which may be gone) is rebuilt, not run (it exits 127 when the libraries are missing)."""
    first = build_module.build(design)
    stamp = first.directory / "built.ok"
    manifest = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**manifest, "runtime": "/gone/.venv/lib/cocotb/libs"}))
    build_module.build(design)
    assert json.loads(stamp.read_text())["runtime"] == manifest["runtime"]
    assert run.simulate_gemm(design, _operands(design)).passed


def test_a_cached_build_keeps_no_precompiled_headers_and_still_runs(design):
    """Verilator's .gch files were 138 MB of every 140 MB build: a full run filled the disk."""
    built = build_module.build(design)
    obj = built.directory / "obj"
    assert not list(obj.glob("*.gch"))
    assert sum(p.stat().st_size for p in obj.rglob("*") if p.is_file()) < 20e6
    assert run.simulate_gemm(design, _operands(design)).passed
