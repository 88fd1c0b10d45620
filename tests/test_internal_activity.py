"""The measured internal words of the MX / FP8 PEs (models/internal_activity.py) and the sim-basis
rule that hands them on (PartActivity.word_output): the stored toggles are what the golden lane
arithmetic gives on the activity stream now, the inventory names words of its parts' own output
widths, and the rule changes the parts they feed on the sim basis only."""

import dataclasses

import numpy as np
import pytest

from models import internal_activity
from models import part_activity as part_activity_module
from models.activity import bottom_lanes
from models.energy_vs_sta import step_energy_pj
from models.internal_activity import compute, internal_toggles, word_toggles
from models.inventory import Part, unit_items
from models.part_activity import part_activity
from models.registry import full_options, get_kind
from models.stored_table import load_entries, table_key

#: one E8M0 and the E4M3-scaled MX format, one FP8 (the words the fix was made for)
SETTINGS = [("mx", (("format", "mxfp8-e5m2"),)), ("mx", (("format", "nvfp4"),)),
            ("fp8", (("format", "e4m3"),))]


def test_word_toggles_counts_bit_changes_of_twos_complement_words():
    # 0 -> 1 -> -1 (0b11 on 2 bits) -> 1: 1 + 1 + 1 bit changes over 3 steps x 2 bits
    assert word_toggles([[0], [1], [-1], [1]], 2) == pytest.approx(3 / 6)
    # two instances, one constant: half the bits of the other
    assert word_toggles([[0, 5], [3, 5]], 2) == pytest.approx(2 / 4)


@pytest.mark.parametrize("pe, options", SETTINGS)
@pytest.mark.parametrize("source", ["minilm", "random"])
def test_the_table_holds_the_settings_the_model_reads(pe, options, source):
    assert table_key(pe, full_options(pe, options), source) in load_entries(internal_activity.TABLE_PATH)


def test_stored_words_equal_a_fresh_computation():
    """Every entry of the repository table: the same operand data (hash) and the same toggles
    as the golden lane arithmetic gives now (regenerate: python -m models.internal_activity)."""
    table = load_entries(internal_activity.TABLE_PATH)
    assert len(table) >= 2 * len(SETTINGS)
    for key, entry in table.items():
        pe, opts, source = key.split("|")
        options = tuple((k, int(v) if v.isdigit() else v) for k, v in (kv.split("=") for kv in opts.split(",")))
        data_hash, words = compute(pe, options, source)
        assert entry["data_hash"] == data_hash == bottom_lanes(pe, options, source)[1], key
        assert {w: tuple(v) for w, v in entry["words"].items()} == words, key
        assert internal_toggles(pe, options, source) == words, key


def test_mx_words_follow_the_lane_arithmetic():
    """Hand-built lanes: E5M2 elements 1.0 (0x3C) and 2.0 (0x40), weights 1.0: term = a * w
    in units of 2**-2L, tree sums pairwise."""
    proto = get_kind("mx").prototype(format="mxfp8-e5m2")
    f, B = proto.mx_format, proto.sub_block
    one, two = 0x3C, 0x40
    act = [sum(c << (j * f.bits) for j, c in enumerate(row)) for row in ([one] * B, [two] + [one] * (B - 1))]
    weight = [sum(one << (j * f.bits) for j in range(B))] * 2
    words = internal_activity.mx_words(proto, act, weight)
    unit = int(internal_activity.element_integers(np.array([one]), f, "x")[0]) ** 2
    assert list(words["term"][0][:, 0]) == [unit, 2 * unit]
    assert list(words["tree0"][0][:, 0]) == [2 * unit, 3 * unit]
    assert words[f"tree{(B - 1).bit_length() - 1}"][0][:, 0].tolist() == [B * unit, (B + 1) * unit]


@pytest.mark.parametrize("pe, options", SETTINGS)
def test_inventory_names_words_at_their_parts_output_widths(pe, options):
    proto = get_kind(pe).prototype(**dict(options))
    words = internal_toggles(pe, full_options(pe, options), "minilm")
    named = {p.word: p for p in unit_items(proto) if isinstance(p, Part) and p.word}
    assert set(named) == set(words)
    for word, part in named.items():
        prim, widths = part[0], part[1]
        out = widths[{"shiftn": 2, "cneg": 1, "add": 0}[prim]]
        assert words[word][1] == out, word


@pytest.mark.parametrize("pe, options", SETTINGS)
def test_rule_hands_measured_word_toggles_on_the_sim_basis_only(pe, options):
    proto = get_kind(pe).prototype(**dict(options))
    parts = part_activity(pe, options, "minilm")
    sim, sta = dataclasses.replace(parts, basis="sim"), dataclasses.replace(parts, basis="sta")
    words = internal_toggles(pe, full_options(pe, options), "minilm")
    aligned = next(p for p in unit_items(proto) if getattr(p, "word", None) == "aligned")
    assert sim.part_output(aligned) == (words["aligned"][0], aligned[2] * words["aligned"][1])
    # the ports' rule gives another figure: the word is sparser than the ports that make it
    assert sta.part_output(aligned)[0] > 1.5 * words["aligned"][0]


@pytest.mark.parametrize("pe, options", [SETTINGS[0], SETTINGS[2]])
def test_rule_lowers_the_sim_basis_energy_only(pe, options, monkeypatch):
    """The sparse alignment words of MXFP8-E5M2 / FP8 E4M3 (the over-counted PEs) lower their
    sim-basis energy; without the words (none measured) it is the ports' rule's again."""
    proto = get_kind(pe).prototype(**dict(options))
    parts = part_activity(pe, options, "minilm")
    with_rule, on_sta = step_energy_pj(proto, parts, "sim"), step_energy_pj(proto, parts, "sta")
    monkeypatch.setattr(part_activity_module, "internal_toggles", lambda *args: {})
    assert step_energy_pj(proto, parts, "sim") > 1.03 * with_rule
    assert step_energy_pj(proto, parts, "sta") == on_sta
    assert step_energy_pj(proto, parts, "sta") == on_sta
