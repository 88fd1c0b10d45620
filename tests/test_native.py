"""The native Verilator harness (bench/bench_sim.py's reference point) stays correct: bit-exact
with the golden model and the model's cycle count, so the benchmark cannot silently compare
against a broken harness. The benchmark itself exercises wide (VlWide) host ports; this 3x2 design
has a 64-bit data port (QData), the other branch of the harness's port accessors."""

import numpy as np

from models.design import DesignConfig
from sim.native import run_native


def test_native_harness_is_bit_exact_and_cycle_exact():
    design = DesignConfig.sized_for("int8", 3, 2, "ws", 5, 7, 4)
    rng = np.random.default_rng(7)
    acts = rng.integers(-128, 128, size=(5, 7))
    weights = rng.integers(-128, 128, size=(7, 4))
    result = run_native(design, design.kind.operands(acts, weights, design.facts.pe))
    assert result.mismatches == 0, f"{result.mismatches} elements differ from the golden model"
    assert result.cycles == result.model.cycles
    assert result.sim_seconds > 0
