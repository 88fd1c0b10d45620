"""Yosys synthesis of single PEs, border units and one 2x2 array (models.synth), and the
model-vs-synthesis comparison. Results are cached per Verilog hash (~/.cache/pearray/synth), so
only the first run pays for synthesis (about a minute). Skipped when no Yosys or no liberty
(`make synth-tools` installs them), except under CI=true, where missing tools fail the run."""

import collections
import math
import re

import pytest

from models import characterise, cost_primitives, cost_vs_synth, inventory, synth, tech
from models.registry import PE_KINDS
from tests.tools import require_synthesis


@pytest.fixture
def tools():
    require_synthesis()


def _muls(cells):
    return sum(n for c, n in cells.items() if re.fullmatch(r"\$mul(_\d+)?", c))


def test_int8_pe_has_one_multiplier(tools):
    r = synth.synthesize("int8", unit="pe")
    assert r.multipliers == 1 and _muls(r.word_cells) == 1 and "$mul_16" in r.word_cells
    # the recipe's coarse pass folds mul + add into one $macc (Yosys 0.23) / $macc_v2 (newer)
    assert any(c.startswith("$macc") or c == "$mul" for c in r.coarse_cells)
    assert r.area_um2 > 0 and r.flop_bits == 32
    assert r.mapped_cells["DFFPOSX1"] == 32
    again = synth.synthesize("int8", unit="pe")
    assert again.cached and again.area_um2 == r.area_um2


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_lut_pe_has_no_multiplier(tools, bits):
    options = (("weight_bits", bits),)
    r = synth.synthesize("lut", unit="pe", pe_options=options)
    assert r.multipliers == 0 and _muls(r.word_cells) == 0
    assert not any(c.startswith("$mul") for c in r.coarse_cells)
    assert r.area_um2 > 0
    # the model's inventory has exactly the flops synthesis keeps
    items = inventory.unit_items(synth._kind_and_pe("lut", options)[1])
    assert r.flop_bits == sum(n * cost_primitives.primitive(p, *w).flop_bits for p, w, n, _ in items)


@pytest.mark.parametrize("kind, options", [
    ("shiftadd", (("weight_signed", False),)), ("shiftadd", (("weight_signed", True),)),
    ("bitserial", (("weight_format", "int8"),)), ("bitserial", (("weight_format", "mixed4"),)),
    ("bitserial", (("weight_format", "fp3"),)), ("bitserial_fp16", (("weight_format", "mixed4"),)),
])
def test_shift_add_pes_have_no_multiplier(tools, kind, options):
    """MixPE's and BitMoD's PEs (and BitMoD's column term encoder) multiply by shifts and adds:
    no $mul among Yosys's word-level cells (taken before alumacc, which would fold a multiply
    into $macc), and the flops the cost model's inventory counts."""
    r = synth.synthesize(kind, unit="pe", pe_options=options)
    assert r.multipliers == 0 and _muls(r.word_cells) == 0
    assert any(c.startswith("$add") for c in r.word_cells)
    items = inventory.unit_items(synth._kind_and_pe(kind, options)[1])
    assert r.flop_bits == sum(n * cost_primitives.primitive(p, *w).flop_bits for p, w, n, _ in items)
    if kind.startswith("bitserial"):
        border = synth.synthesize(kind, unit="weight_border", pe_options=options)
        assert border.multipliers == 0 and border.flop_bits == 0


VARIANTS = [(name, options) for name, kind in PE_KINDS.items() for _, options in kind.variants]
#: kinds whose PE takes Yosys 10-40 s per variant: the first and last variant in CI, the rest slow
HEAVY = {"mx"}


def _tiered(variants):
    ends = {name: (kind.variants[0][1], kind.variants[-1][1]) for name, kind in PE_KINDS.items()}
    return [pytest.param(k, o, marks=pytest.mark.slow) if k in HEAVY and o not in ends[k] else (k, o)
            for k, o in variants]


@pytest.mark.parametrize("kind, options", _tiered(VARIANTS),
                         ids=[f"{k}-{'-'.join(str(v) for _, v in o) or 'default'}" for k, o in VARIANTS])
def test_every_registered_pe_synthesises_as_its_kind_declares(tools, kind, options):
    """Every registry variant, new kinds included: Yosys finds a multiplier exactly when the kind
    does not declare itself ``multiplier_free``, and keeps the flops its cost inventory counts."""
    r = synth.synthesize(kind, unit="pe", pe_options=options)
    pe = synth._kind_and_pe(kind, options)[1]
    assert (r.multipliers == 0) == pe.multiplier_free, r.word_cells
    items = inventory.unit_items(pe)
    assert r.flop_bits == sum(n * cost_primitives.primitive(p, *w).flop_bits for p, w, n, _ in items)


def test_lut_table_precompute_has_no_multiplier_and_the_model_adders(tools):
    r = synth.synthesize("lut", unit="act_border")
    assert r.multipliers == 0 and r.flop_bits == 0 and r.area_um2 > 0
    # Yosys's word-level add / sub / negate cells, by result width, are the inventory's
    adders = collections.Counter()
    for cell, n in r.word_cells.items():
        if re.match(r"\$(add|sub|neg)_", cell):
            adders[int(cell.rsplit("_", 1)[1])] += n
    proto = synth._kind_and_pe("lut", ())[1]

    def signtree(g, b, w):
        # the negation (b + 1 bits), then 2**l add/subtracts one bit wider per level l, up to w
        return collections.Counter({b + 1: 1}) + sum(
            (collections.Counter({min(b + 1 + level, w): 2 ** level}) for level in range(1, g)),
            collections.Counter())
    # the word-level add / sub / negate cells (by result width) each primitive stands for
    result_cells = {"add": lambda w: {w: 1}, "addn": lambda w, b: {w: 1}, "addsubn": lambda w, b: {w: 2},
                    "neg": lambda a, w: {w: 1}, "signtree": signtree}
    counted = collections.Counter()
    for p, widths, n, _ in inventory.unit_items(synth.border_unit(proto, "act_border")):
        for width, cells in result_cells[p](*widths).items():
            counted[width] += n * cells
    assert adders == counted
    with pytest.raises(ValueError, match="no weight border"):
        synth.unit_verilog("lut", "weight_border")


def test_int8_2x2_array(tools):
    r = synth.synthesize("int8", rows=2, cols=2, dataflow="ws")
    assert r.multipliers == 4 and r.area_um2 > 4 * synth.synthesize("int8", unit="pe").area_um2 / 2


def test_cell_count_table_per_weight_bits(tools):
    df = synth.synthesis_table(kinds=["int8", "lut"])
    pes = df[df.unit == "pe"]
    assert list(pes[pes.pe == "lut"].weight_bits) == [1, 2, 3, 4]
    assert (pes[pes.pe == "lut"]["mul"] == 0).all() and (pes[pes.pe == "int8"]["mul"] == 1).all()
    assert (df.area_um2 > 0).all()
    assert set(df[df.pe == "lut"].unit) == {"pe", "act_border"}


def test_model_vs_synthesis_table(tools):
    """No calibration: model and synthesis are one technology, both scaled 180 -> 45 nm by 1/19;
    the error is model / synthesis - 1 as it comes out (the INT8 PE's fused MAC within 10 %)."""
    df = cost_vs_synth.synthesis_comparison(kinds=["int8", "lut"], sides=(2,))
    base = df[(df.pe == "int8") & (df.unit == "pe")].iloc[0]
    assert math.isclose(base.synth_um2, base.synth_osu018_um2 / 19)
    assert math.isclose(base.error, base.model_um2 / base.synth_um2 - 1)
    assert abs(base.error) < 0.10
    assert df.attrs["max_abs_error"] == df.error.abs().max()
    assert len(df[df.pe == "lut"]) == 3 * 3    # 3 variants: PE, table unit, 2x2 array
    assert (df.model_um2 > 0).all() and df.error.notna().all()


def test_model_vs_synthesis_table_goes_on_past_a_failed_unit(monkeypatch):
    """A unit whose synthesis fails (a timeout) is handed to ``on_error`` and left out; the other
    units are still tabulated (here the PE's synthesis fails, the 2x2 array's is a stand-in)."""
    def fail(pe, unit, pe_options=(), tool=None):
        raise synth.SynthesisError(f"{unit}: synthesis exceeded 1 s (PEARRAY_SYNTH_TIMEOUT)")
    array = synth.SynthResult(top="array", verilog_hash="", tool="", version="", coarse_cells={}, word_cells={},
                              mapped_cells={}, area_um2=19_000.0, multipliers=4, flop_bits=0, liberty="",
                              seconds=0.0)
    monkeypatch.setattr(cost_vs_synth, "synthesize_unit", fail)
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: array)
    failed = []
    df = cost_vs_synth.synthesis_comparison(kinds=["int8"], sides=(2,),
                                            on_error=lambda *args: failed.append(args[:2]))
    assert failed == [("INT8", "pe")]
    assert list(df.unit) == ["array 2x2 ws"] and df.synth_um2.iloc[0] == 1_000.0
    with pytest.raises(synth.SynthesisError, match="exceeded"):
        cost_vs_synth.synthesis_comparison(kinds=["int8"], sides=(2,))
    # ``variants`` keeps only the labels asked for
    df = cost_vs_synth.synthesis_comparison(kinds=["lut"], sides=(2,), variants=["LUT W2A8"],
                                            on_error=lambda *args: None)
    assert set(df.variant) == {"LUT W2A8"}


@pytest.mark.parametrize("family, widths", [("add", (8,)), ("mac", (8, 8, 32)), ("reg_en", (8,)),
                                            ("rom", (8, 4)), ("eqc", (4,)), ("lead1", (8,)),
                                            ("tmult", (32, 4, 32)), ("horner", (32, 4, 32)),
                                            ("smult", (4, 4, 11, 4)), ("mac", (4, 4, 12, 4))])
def test_primitive_table_is_what_synthesis_gives(tools, family, widths):
    """The stored primitive table is reproducible: the family's generated Verilog through the
    `pearray synth` flow gives the stored area and flops, under the stored liberty hash."""
    table = characterise.load_table()
    assert table["provenance"]["liberty_sha256"] == characterise.provenance()["liberty_sha256"]
    point = cost_primitives.measured(family, widths)
    r = synth.synthesize_verilog(*characterise.verilog(family, widths))
    assert r.area_um2 == point["area_um2"] and r.flop_bits == point["flops"]
    assert (r.flop_bits == widths[0]) == family.startswith("reg")


def test_ant_int4_step_is_the_product_sum_primitive(tools):
    """The ANT int4 PE in an array and the ``smult`` / ``mac`` sums of n products are one ``$macc``
    each (Yosys's alumacc merges the four signed 4 x 4 multiplies into the step's sum), which is
    what :func:`models.ant_gemm.ant_pe_items` counts them as: no separate ``$mul``."""
    array = synth.synthesize("ant", rows=2, cols=2)
    assert array.coarse_cells.get("$macc") == 4 and _muls(array.coarse_cells) == 0
    assert array.multipliers == 16          # before alumacc: four $mul per PE
    for family, widths in (("smult", (4, 4, 11, 4)), ("mac", (4, 4, 12, 4))):
        r = synth.synthesize_verilog(*characterise.verilog(family, widths))
        assert r.coarse_cells.get("$macc") == 1 and _muls(r.coarse_cells) == 0 and r.multipliers == 4


def test_designs_primitives_are_all_measured():
    """Every (primitive, widths) a registered design's inventory uses is a measured point (the
    fits are only for widths no design uses); regenerate with `pearray characterise`."""
    missing = [p for p in characterise.design_primitives() if cost_primitives.measured(*p) is None]
    assert not missing


def test_liberty_constants_match_the_tech_table(tools):
    derived = synth.derive_osu018_constants()
    for name, value in derived.items():
        assert math.isclose(tech.value(name), value, rel_tol=1e-9), name
    areas = synth.liberty_areas()
    assert areas["NAND2X1"] == 24 and areas["DFFPOSX1"] == 96


def test_missing_tools_name_the_install(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(synth.importlib.util, "find_spec", lambda name: None)
    synth.find_yosys.cache_clear()
    try:
        with pytest.raises(synth.SynthesisError, match="apt-get install -y yosys qflow-tech-osu018"):
            synth.find_yosys()
    finally:
        synth.find_yosys.cache_clear()
    monkeypatch.setenv("PEARRAY_LIBERTY", "/nonexistent/cells.lib")
    with pytest.raises(synth.SynthesisError, match="qflow-tech-osu018"):
        synth.liberty_path()


def test_liberty_parser_on_a_snippet():
    lib = synth.parse_liberty("""
        library(x) { nom_voltage : 1.8 ;
          cell (INV) { area : 16; pin(Y) { direction : output;
            internal_power() { related_pin : "A";
              rise_power(t) { index_1 ("0.1, 0.2"); values ("0.5, 0.6"); }
              fall_power(t) { values ( \\
                 "0.25, 0.3", \\
                 "1, 2"); } } } } }""")
    (cell,) = lib.find("cell", "INV")
    assert float(cell.attrs["area"]) == 16
    assert synth._internal_energy(synth._pin(cell, "Y")) == (0.5 + 0.25) / 2


@pytest.mark.parametrize("bits", [1, 4])
def test_lut_2x2_array_has_no_multiplier(tools, bits):
    r = synth.synthesize("lut", rows=2, cols=2, pe_options=(("weight_bits", bits),))
    assert _muls(r.word_cells) == 0 and r.area_um2 > 0
