"""`pearray report` on a small plan: complete output, parseable HTML, reproducible CSVs, failures loud."""

from html.parser import HTMLParser

import pytest

from sim import report, run
from sim.cli import main


@pytest.fixture
def small_plan(monkeypatch):
    plan = report.ReportPlan(2, 2, 5, 12, 6, workload_rows=8, workload_cols=8, synth_arrays=((2, 2, "ws"),))
    monkeypatch.setattr(report.ReportPlan, "default", classmethod(lambda cls, quick=False: plan))
    return plan


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("id"))
        if tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
            self.images.append(attrs.get("alt"))


def test_report_is_complete_and_reproducible(small_plan, tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "a")]) == 0
    assert main(["report", "--out", str(tmp_path / "b")]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    csvs = sorted(p.name for p in a.glob("*.csv"))
    assert {"verification.csv", "quant_error.csv", "workload_cycles.csv", "claims.csv"} <= set(csvs)
    for name in csvs:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    parser = _Collect()
    parser.feed((a / "index.html").read_text())
    assert set(parser.tables) >= {name.replace(".", "_") for name in csvs}
    assert len(parser.images) == 3 and all(parser.images)
    assert "synthesis_cells.csv" in csvs and "costs.csv" in csvs
    summary = (a / "summary.md").read_text()
    assert "bit-exact" in summary and "FAILING" not in summary
    assert len(list((a / "verilog").glob("*.v"))) == len(report.designs())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_failing_design_is_loud_and_exits_1(small_plan, tmp_path, monkeypatch, capsys):
    real = run.simulate_job

    def flaky(job):
        if job.design.pe == "lut":
            raise run.SimulationError("watchdog: done not raised within 5 cycles")
        return real(job)

    monkeypatch.setattr(run, "simulate_job", flaky)
    assert main(["report", "--out", str(tmp_path / "r")]) == 1
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "**FAILING: LUT W4A8, LUT W2A8, LUT W1A8**" in summary
    assert "FAIL: watchdog" in (tmp_path / "r" / "verification.csv").read_text()
