"""The report's energy check: each design's model PE energy vs OpenSTA's in the decision table, and
the answer line saying when the TOPS/W winner's energy is not confirmed."""

import math
from dataclasses import replace

import pandas as pd

from models import energy_vs_sta, gate_toggles, netlist_power, synth
from sim import report, report_energy_check, report_html
from tests.report_fixture import PLAN
from tests.tools import require_sta


def _data(folder, energy=None):
    """The report's tables in ``folder`` as :class:`sim.report.ReportData` on the OpenSTA basis
    (whose "confirmed" reads energy_vs_sta_pct; the report's default is sim); ``energy``:
    {design: energy_vs_sta_pct} replacing energy_vs_sta.csv's figures."""
    tables = {n: pd.read_csv(folder / n) for n in (*report.TABLES, "model_quality.csv", "energy_vs_sta.csv")}
    if energy is not None:
        check = tables["energy_vs_sta.csv"]
        tables["energy_vs_sta.csv"] = check.assign(energy_vs_sta_pct=check.design.map(energy))
    return report.ReportData(replace(PLAN, energy_basis="sta"), tables, "", "", (1, 1))


def test_the_decision_table_shows_each_designs_energy_error(small_report):
    require_sta()      # energy_vs_sta.csv is written when the tools ran
    folder, _ = small_report
    check = pd.read_csv(folder / "energy_vs_sta.csv").set_index("design")
    designs = pd.read_csv(folder / "designs.csv")
    assert list(check.index) == list(designs.design)
    assert (check.model_pj_per_step > 0).all() and (check.sta_pj_per_step > 0).all()
    for design, row in check.iterrows():
        assert math.isclose(row.energy_vs_sta_pct, 100 * (row.model_pj_per_step / row.sta_pj_per_step - 1),
                            abs_tol=0.06), design
    frame = report_html.decision_frame(_data(folder)).set_index("design")
    assert (frame.energy_vs_sta_pct == check.energy_vs_sta_pct[frame.index]).all()
    table = (folder / "index.html").read_text().split("<table id='decision'>")[1].split("</table>")[0]
    assert "energy vs STA" in table
    assert report_html.percent(check.energy_vs_sta_pct.iloc[0]) in table
    # the second check, against the netlist's own simulated toggles, beside it
    assert (check.model_sim_pj_per_step > 0).all() and (check.sim_pj_per_step > 0).all()
    for design, row in check.iterrows():
        assert math.isclose(row.energy_vs_sim_pct, 100 * (row.model_sim_pj_per_step / row.sim_pj_per_step - 1),
                            abs_tol=0.06), design
    assert (frame.energy_vs_sim_pct == check.energy_vs_sim_pct[frame.index]).all()
    assert "energy vs sim" in table
    assert report_html.percent(check.energy_vs_sim_pct.iloc[0]) in table


def test_the_energy_check_is_the_benchs_figure(small_report, monkeypatch, tmp_path):
    """Recomputed uncached with bench/bench_energy_vs_sta.py's functions, one cheap design agrees."""
    require_sta()
    folder, _ = small_report
    row = pd.read_csv(folder / "energy_vs_sta.csv").set_index("design").loc["LUT W4A8"]
    label, kind, options = next(d for d in report.designs() if d[0] == "LUT W4A8")
    model, _ = energy_vs_sta.pe_step_energy_pj(kind.name, options, source="minilm")
    power = synth.unit_power(kind.name, pe_options=options, unit="pe", source="minilm", clock_mhz=100.0)
    sta = energy_vs_sta.sta_step_energy_pj(kind.name, options, power)
    assert math.isclose(row.model_pj_per_step, model, abs_tol=1e-4)
    assert math.isclose(row.sta_pj_per_step, sta, abs_tol=1e-4)
    # the simulated-toggle check is bench/bench_energy_vs_sim_power.py's "sim@STA" and "model(sim)"
    model_sim, _ = energy_vs_sta.pe_step_energy_pj(kind.name, options, source="minilm", basis="sim")
    netlist = synth.synthesize(kind.name, unit="pe", pe_options=options).netlist()
    simulated = netlist_power.simulated_power(netlist, gate_toggles.pe_stream(kind.name, options), 100.0)
    sim = (energy_vs_sta.sta_step_energy_pj(kind.name, options, simulated)
           * simulated.as_opensta_2019.total / simulated.power.total)
    assert math.isclose(row.model_sim_pj_per_step, model_sim, abs_tol=1e-4)
    assert math.isclose(row.sim_pj_per_step, sim, abs_tol=1e-4)
    # and the cache gives back what it stored, under its own key
    monkeypatch.setattr(synth, "cache_root", lambda: tmp_path)
    report_energy_check.design_energies(kind.name, options)
    assert len(list((tmp_path / "energy_vs_sta").glob("lut-*.json"))) == 1


def test_the_answer_says_when_the_winners_energy_is_unconfirmed(small_report):
    require_sta()      # energy_vs_sta.csv is written when the tools ran
    folder, _ = small_report
    designs = list(pd.read_csv(folder / "designs.csv").design)
    frame = report_html.decision_frame(_data(folder, {d: 0.0 for d in designs}))
    ok = frame[frame.acceptable].sort_values("tops_per_w", ascending=False)
    assert len(ok) >= 2
    winner, runner_up = ok.design.iloc[0], ok.design.iloc[1]

    # every energy confirmed: the answer names the winner, with nothing after its figures
    answer = report_html.answer(_data(folder, {d: 0.0 for d in designs}))
    assert f"Best TOPS/W at acceptable accuracy: {winner} (" in answer and "unconfirmed" not in answer

    # the winner's model energy 43 % low: unconfirmed, and the best confirmed design named
    energy = {d: (-43.0 if d == winner else 10.0) for d in designs}
    answer = report_html.answer(_data(folder, energy))
    head = answer.split("; best bounded TOPS/mm²")[0]
    assert head.startswith(f"Best TOPS/W at acceptable accuracy: {winner} (")
    assert "(model PE energy −43 % vs OpenSTA: unconfirmed; best with its energy confirmed within ±15 %: " \
           f"{runner_up} (" in head

    # within the tolerance is confirmed; just beyond it is not
    assert "unconfirmed" not in report_html.answer(_data(folder, {**energy, winner: -15.0})).split("; best bounded")[0]
    assert "+16 % vs OpenSTA: unconfirmed" in report_html.answer(_data(folder, {**energy, winner: 16.0}))

    # no acceptable design confirmed: said so
    answer = report_html.answer(_data(folder, {d: -43.0 for d in designs}))
    assert "no acceptable design has its energy confirmed within ±15 %" in answer.split("; best bounded")[0]


def test_on_the_sim_basis_confirmed_reads_the_energy_vs_sim_check(small_report):
    """``report --energy-basis sim``: the answer line's "confirmed" is the sim basis's check
    (energy_vs_sim_pct), whatever the OpenSTA check says, and names its reference."""
    require_sta()      # energy_vs_sta.csv is written when the tools ran
    folder, _ = small_report
    designs = list(pd.read_csv(folder / "designs.csv").design)

    def answer(sta, sim):
        data = _data(folder, sta)
        check = data.tables["energy_vs_sta.csv"]
        data.tables["energy_vs_sta.csv"] = check.assign(energy_vs_sim_pct=check.design.map(sim))
        return report_html.answer(report.ReportData(replace(PLAN, energy_basis="sim"), data.tables, "", "",
                                                    (1, 1))).split("; best bounded")[0]

    frame = report_html.decision_frame(_data(folder, {d: 0.0 for d in designs}))
    ok = frame[frame.acceptable].sort_values("tops_per_w", ascending=False)
    winner, runner_up = ok.design.iloc[0], ok.design.iloc[1]
    # the OpenSTA check far off, the sim one within: confirmed
    assert "unconfirmed" not in answer({d: -43.0 for d in designs}, {d: 0.0 for d in designs})
    # the sim check off for the winner only: unconfirmed vs the simulated toggles, the runner-up named
    head = answer({d: 0.0 for d in designs}, {d: (-43.0 if d == winner else 10.0) for d in designs})
    assert ("(model PE energy −43 % vs simulated toggles: unconfirmed; best with its energy confirmed "
            f"within ±15 %: {runner_up} (") in head
