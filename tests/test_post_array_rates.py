"""The post-array unit's own measured activity in the cost model (issue 14): the repository table
regenerates from the unit's stream, every grouped variant has its entries, and the cost model
prices the unit's parts at them (not at the PE's data-port activity), on the events the unit's
RTL run counts."""

import dataclasses

import pytest

from hw.layout import GemmLayout
from models import cost, post_array_activity as paa, post_array_rates as par
from models.activity import SOURCES, codes_hash
from models.registry import full_options, get_kind
from models.stored_table import load_entries, table_key

MIXED4 = ("bitserial", (("group_size", 128), ("weight_format", "mixed4")))
MIXPE = ("shiftadd", (("group_size", 128), ("weight_bits", 4)))


def test_the_table_holds_every_grouped_variant_on_both_sources():
    keys = set(load_entries(par.TABLE_PATH))
    want = {table_key(name, options, source) for name, options in par.table_settings() for source in SOURCES}
    assert keys == want and len(want) >= 8


@pytest.mark.parametrize("pe, options, source", [(*MIXED4, "minilm"), (*MIXPE, "random")])
def test_a_table_entry_regenerates_identically(pe, options, source):
    """The stored figures are what the unit's stream gives now (the date aside)."""
    stored = load_entries(par.TABLE_PATH)[table_key(pe, options, source)]
    measured = par.measure(pe, options, source).to_dict()
    assert {k: v for k, v in measured.items() if k != "date"} == {k: v for k, v in stored.items() if k != "date"}


def test_a_part_takes_the_bit_weighted_rates_of_its_ports():
    rates = par.post_array_rates(*MIXPE)
    word = dict(rates.word_ports)
    assert rates.rate("post_word", (("x", 32), ("params", 32))) == pytest.approx((word["x"] + word["params"]) / 2)
    # a port that does not change per array word counts 0; none named: the event's mean
    assert rates.rate("post_word", (("total", 32),)) == 0
    assert rates.rate("post_group", ()) == rates.group
    # the internal word past the zero-point stage switches more than the raw port it comes from
    assert word["x"] > word["raw"]


def _post_coef(config, activity=None):
    acc = config.design().facts
    hw = cost.hardware(acc, config.node, config.activity_factors() if activity is None else activity)
    return {e: dict(hw.coef[e])["out_accumulate"] for e in ("post_word", "post_group")}


@pytest.mark.parametrize("pe, options", [MIXED4, MIXPE])
def test_cost_prices_the_unit_at_its_own_rates(monkeypatch, pe, options):
    config = cost.CostConfig(pe, 4, 2, "ws", pe_options=options)
    own = _post_coef(config)
    # not the PE's data-port activity any more
    assert own != _post_coef(config, config.activity_factors().data_activity)
    # the dynamic energy is linear in the rates: doubling the table's doubles the unit's
    rates = par.post_array_rates(pe, full_options(pe, options), "minilm")
    doubled = dataclasses.replace(
        rates, word_ports=tuple((p, 2 * r) for p, r in rates.word_ports),
        group_ports=tuple((p, 2 * r) for p, r in rates.group_ports), word=2 * rates.word, group=2 * rates.group)
    monkeypatch.setattr(cost, "post_array_rates", lambda *a: doubled)
    twice = _post_coef(config)
    assert twice["post_word"] == pytest.approx(2 * own["post_word"])
    assert twice["post_group"] == pytest.approx(2 * own["post_group"])


def test_the_unit_costs_differ_between_sources():
    minilm = _post_coef(cost.CostConfig(*MIXPE[:1], 4, 2, "ws", pe_options=MIXPE[1]))
    random = _post_coef(cost.CostConfig(*MIXPE[:1], 4, 2, "ws", pe_options=MIXPE[1], activity="random"))
    assert minilm["post_word"] != random["post_word"]


@pytest.mark.parametrize("pe, options", [MIXED4, MIXPE])
def test_the_cost_counts_the_words_the_unit_run_dequantises(pe, options):
    """The cost model's post_group count on the run's GEMM is the number of y words the unit's
    RTL delivered on it, and its post_word count (every fold's array word) the run's array words."""
    run = paa.post_array_run(pe, options, "minilm")
    proto = get_kind(pe).prototype(**dict(options))
    layout = GemmLayout(4, paa.COLS, "ws", proto.k_per_step, 32, 256, 4)
    assert cost.dequantised_words(layout, proto.group_size) == run.words
    assert layout.stream_len * layout.folds == run.words * run.group_folds
    assert cost.dequantised_words(layout, None) == 0


def test_every_entry_was_measured_on_the_current_operands():
    """Every entry's data_hash is the hash of the operands the unit's run makes now (the run's
    default shape): a change that moved the data (the forward, a quantiser) makes the table
    stale, and this fails (regenerate: python -m models.post_array_rates)."""
    shape = paa.post_array_run.__wrapped__.__kwdefaults__
    stale = []
    for key, entry in load_entries(par.TABLE_PATH).items():
        ops, _ = paa._operands(entry["pe"], tuple(map(tuple, entry["pe_options"])), entry["source"],
                               shape["m"], shape["k"], shape["n"])
        if codes_hash(ops.acts, ops.weights) != entry["data_hash"]:
            stale.append(key)
    assert not stale, f"measured on other operands than today's: {stale}"
