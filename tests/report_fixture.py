"""The small report every report test reads (:func:`tests.conftest.small_report`: built once per
test session).

A report verifies every design in Verilator (a cold build is 10-20 s a design) and times and
checks each one's energy with OpenSTA, so the default run builds ONE report, of
:data:`CI_DESIGNS` (every PE kind once, plus the designs the tests name); the full report (every
registered design, twice, for byte-reproducibility) is ``slow`` (tests/test_report.py).
"""

import pytest

from models.registry import PE_KINDS
from sim import report
from sim.cli import main

# the designs whose 2x2 array energy the small report simulates gate by gate (a cold one is a
# synthesis and a simulation: INT8's ~20 s); the others show why they have no figure
ARRAY_ENERGY_DESIGNS = ("INT8",)
# the designs whose post-array unit the small report measures: none (a digit-serial unit's gate
# simulation is ~100 s, MixPE's ~10 min); its grouped designs show "not run"
# (tests/test_report_post_array.py measures one, slow)
POST_ARRAY_DESIGNS = ()
# the small plan of every report test: 2x2 arrays, a 5 x 12 x 6 GEMM, an 8x8 workload array
PLAN = report.ReportPlan(2, 2, 5, 12, 6, workload_rows=8, workload_cols=8, synth_arrays=((2, 2, "ws"),),
                         accuracy_crop=(8, 256, 16), array_energy_designs=ARRAY_ENERGY_DESIGNS,
                         post_array_designs=POST_ARRAY_DESIGNS)
# the default run's report: the first variant of every PE kind (each hardware file verified once
# in the report), and the designs tests name (FP8 E5M2 in the INT vs FP table, NVFP4: a TOPS/W
# leader whose model energy OpenSTA does not confirm)
CI_DESIGNS = tuple(dict.fromkeys([kind.variants[0][0] for kind in PE_KINDS.values()]
                                 + ["FP8 E5M2", "NVFP4"]))


def design_subset(labels):
    """A stand-in for :func:`sim.report.designs` giving only the designs ``labels``, in
    registry order (every label must be registered)."""
    chosen = [d for d in report.designs() if d[0] in labels]
    assert len(chosen) == len(set(labels)), "a label is not registered"
    return lambda: chosen


def build_small_report(root, name, tmp_path_factory, labels=None):
    """Exit code of ``pearray report --out root/name`` on :data:`PLAN` (on ``labels``' designs
    only, unless None), with an empty whole-model accuracy cache (the plan's quick-cached model
    quality reads it and computes nothing)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report.ReportPlan, "default", classmethod(lambda cls, quick=False: PLAN))
        mp.setenv("PEARRAY_ACCURACY_DIR", str(tmp_path_factory.mktemp("accuracy-cache")))
        if labels is not None:
            mp.setattr(report, "designs", design_subset(labels))
        return main(["report", "--out", str(root / name)])
