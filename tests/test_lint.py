"""Generated Verilog passes `verilator --lint-only -Wall` with only the waivers in sim/waive.vlt,
for every registered PE kind (at each of its report variants) and both dataflows."""

import subprocess

import pytest

from hw.accelerator import IncompatibleOptions
from models.registry import PE_KINDS
from sim.simulators import WAIVERS
from models.design import DesignConfig
from sim.toolchain import find_verilator

def _buildable(pe, options, rows, cols, dataflow):
    """Option combinations the hardware rejects up front (e.g. group dequantisation needs ws and
    a group size that is a multiple of the rows) are not designs, so they are not linted."""
    try:
        DesignConfig(pe, rows, cols, dataflow, 16, 16, 16, options).facts
    except IncompatibleOptions:
        return False
    return True


DESIGNS = [(name, options, rows, cols, dataflow) for name, kind in PE_KINDS.items()
           for _, options in kind.variants for rows, cols in ((1, 1), (3, 2), (2, 2))
           for dataflow in ("ws", "os") if _buildable(name, options, rows, cols, dataflow)]
# every bit-serial weight format (term counts 1..4: the PE's term select differs per count)
DESIGNS += [("bitserial", (("group_size", None), ("weight_format", fmt)), 3, 2, dataflow)
            for fmt in ("int8", "int6", "fp4", "fp3") for dataflow in ("ws", "os")]


@pytest.mark.parametrize("pe, options, rows, cols, dataflow", DESIGNS,
                         ids=[f"{p}{''.join(f'-{k}{v}' for k, v in o)}-{r}x{c}-{d}" for p, o, r, c, d in DESIGNS])
def test_lint_clean(tmp_path, pe, options, rows, cols, dataflow):
    verilog = tmp_path / "top.v"
    verilog.write_text(DesignConfig(pe, rows, cols, dataflow, 16, 16, 16, options).verilog())
    tool = find_verilator()
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", str(WAIVERS), str(verilog)],
                          capture_output=True, text=True, env=tool.env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
