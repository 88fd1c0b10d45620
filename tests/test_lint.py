"""Generated Verilog passes `verilator --lint-only -Wall` with only the waivers in sim/waive.vlt."""

import subprocess

import pytest

from sim.build import WAIVERS
from sim.design import DesignConfig
from sim.toolchain import find_verilator


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 2)])
def test_lint_clean(tmp_path, rows, cols, dataflow):
    verilog = tmp_path / "top.v"
    verilog.write_text(DesignConfig("int8", rows, cols, dataflow, 16, 16, 16).verilog())
    tool = find_verilator()
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", str(WAIVERS), str(verilog)],
                          capture_output=True, text=True, env=tool.env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
