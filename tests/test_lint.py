"""Generated Verilog passes `verilator --lint-only -Wall` with only the waivers in sim/waive.vlt,
for every registered PE kind (at each of its report variants) and both dataflows."""

import subprocess

import pytest

from hw.accelerator import IncompatibleOptions
from models.registry import PE_KINDS
from sim.simulators import WAIVERS
from models.design import DesignConfig
from sim.toolchain import find_verilator

def _buildable(pe, options, rows, cols, dataflow, depth=16):
    """Option combinations the hardware rejects up front (e.g. group dequantisation needs ws and
    a group size that is a multiple of the rows) are not designs, so they are not linted."""
    try:
        DesignConfig(pe, rows, cols, dataflow, depth, depth, depth, options).facts
    except IncompatibleOptions:
        return False
    return True


DESIGNS = [(name, options, rows, cols, dataflow) for name, kind in PE_KINDS.items()
           for _, options in kind.variants for rows, cols in ((1, 1), (3, 2), (2, 2))
           for dataflow in ("ws", "os") if _buildable(name, options, rows, cols, dataflow)]
# every bit-serial weight format (term counts 1..4: the PE's term select differs per count)
DESIGNS += [("bitserial", (("group_size", None), ("weight_format", fmt)), 3, 2, dataflow)
            for fmt in ("int8", "int6", "fp4", "fp3") for dataflow in ("ws", "os")]


# one-word buffers (an M = 1 GEMV, a 1x1x1 GEMM): every kind (its first variant), both dataflows;
# a depth-1 Memory would declare its 0-bit address as [-1:0] (hw/buffer.py)
DEPTH_ONE = [(name, kind.variants[0][1], rows, cols, dataflow) for name, kind in PE_KINDS.items()
             for rows, cols in ((1, 1), (2, 2)) for dataflow in ("ws", "os")
             if _buildable(name, kind.variants[0][1], rows, cols, dataflow, depth=1)]


def _ids(designs):
    return [f"{p}{''.join(f'-{k}{v}' for k, v in o)}-{r}x{c}-{d}" for p, o, r, c, d in designs]


def _tiered(designs):
    """Each kind's first variant at every shape, every other variant at 3x2 (rows != cols, the
    shape that catches a transposed index); the rest under ``slow``: 60 variants x 3 shapes cost
    minutes of CI (an MX array takes ~10 s to generate and lint)."""
    first = {name: kind.variants[0][1] for name, kind in PE_KINDS.items()}
    return [pytest.param(*d, marks=pytest.mark.slow)
            if d[1] != first[d[0]] and (d[2], d[3]) != (3, 2) else d
            for d in designs]


@pytest.mark.parametrize("pe, options, rows, cols, dataflow", _tiered(DESIGNS), ids=_ids(DESIGNS))
def test_lint_clean(tmp_path, pe, options, rows, cols, dataflow):
    _lint(tmp_path, DesignConfig(pe, rows, cols, dataflow, 16, 16, 16, options))


@pytest.mark.parametrize("pe, options, rows, cols, dataflow", DEPTH_ONE, ids=_ids(DEPTH_ONE))
def test_lint_clean_with_one_word_buffers(tmp_path, pe, options, rows, cols, dataflow):
    _lint(tmp_path, DesignConfig(pe, rows, cols, dataflow, 1, 1, 1, options))


def _lint(tmp_path, design):
    verilog = tmp_path / "top.v"
    verilog.write_text(design.verilog())
    tool = find_verilator()
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", str(WAIVERS), str(verilog)],
                          capture_output=True, text=True, env=tool.env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
