"""Progress lines: i/N, elapsed time, ETA from the mean step time."""

import io

from sim.progress import Progress


def test_progress_counts_steps_and_estimates_the_rest():
    now = [0.0]
    out = io.StringIO()
    p = Progress(4, "pearray report", stream=out, clock=lambda: now[0])
    p.step("first")
    now[0] = 10.0
    p.step("second")
    now[0] = 20.0
    p.step("third")
    now[0] = 75.0
    p.note("written")
    lines = out.getvalue().splitlines()
    assert lines[0] == "pearray report: [1/4] first  (elapsed 0:00)"
    assert lines[1] == "pearray report: [2/4] second  (elapsed 0:10, ETA 0:30)"
    assert lines[2] == "pearray report: [3/4] third  (elapsed 0:20, ETA 0:20)"
    assert lines[3] == "pearray report: written  (elapsed 1:15)"
