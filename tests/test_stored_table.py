"""The one loader of the measured tables (:mod:`models.stored_table`): a missing or out-of-date
table is refused with the command that regenerates it, a current one is read."""

import datetime
import json

import pytest

from models import characterise, duty, primitive_energy_sim, stored_table
from models.tech import UnknownComponentError

REGENERATE = "python -m models.example"


def _write(path, **provenance):
    path.write_text(json.dumps({"provenance": provenance, "factors": {"x": 1}}))
    return str(path)


def _current():
    prov = characterise.load_table()["provenance"]
    return {k: prov[k] for k in stored_table.MATCHED}


def test_a_current_table_is_read(tmp_path):
    table = stored_table.load(_write(tmp_path / "t.json", generator=3, **_current()), REGENERATE, 3)
    assert table["factors"] == {"x": 1}


def test_a_missing_table_names_its_regenerate_command(tmp_path):
    with pytest.raises(UnknownComponentError, match=f"no table .*missing.json; run `{REGENERATE}`"):
        stored_table.load(str(tmp_path / "missing.json"), REGENERATE, 1)


@pytest.mark.parametrize("change, why", [({"generator": 2}, "generator 2, not 3"),
                                         ({"yosys": "0.0"}, "yosys 0.0"),
                                         ({"liberty_sha256": "ab"}, "liberty_sha256 ab")])
def test_an_out_of_date_table_is_refused(tmp_path, change, why):
    path = _write(tmp_path / "t.json", **{"generator": 3, **_current(), **change})
    with pytest.raises(UnknownComponentError, match=f"out of date \\({why}.*run `{REGENERATE}`"):
        stored_table.load(path, REGENERATE, 3)


def test_without_a_primitive_table_only_the_generator_is_checked():
    assert stored_table.stale({"provenance": {"generator": 1}}, 1, primitives={}) is None
    assert stored_table.stale({"provenance": {"generator": 1, "yosys": "x"}}, 1,
                              primitives={"provenance": {"yosys": "y"}}) == "yosys x, the primitive table's y"


def test_both_duty_tables_are_read_through_it():
    """The OpenSTA duty table and the simulated-toggle one are current (the repository's)."""
    assert duty._table("sta") is stored_table.load(str(duty.TABLE_PATH), "python -m models.duty", duty.GENERATOR)["factors"]
    assert duty._table("sim") is primitive_energy_sim.composition_table()["factors"]


def test_table_key_names_every_option():
    """A setting given in part and in full is one entry: the kind's defaults are filled in."""
    full = stored_table.table_key("lut", (("weight_bits", 4),), "minilm")    # 4: LUT's default
    assert full == stored_table.table_key("lut", (), "minilm") == "lut|weight_bits=4|minilm"
    assert stored_table.table_key("lut", (("weight_bits", 2),), "minilm") != full


def test_load_entries_of_a_missing_table_is_empty(tmp_path):
    assert stored_table.load_entries(tmp_path / "none.json") == {}
    path = tmp_path / "t.json"
    stored_table.write_entries(path, {"b|x=1|minilm": {"v": 2}, "a|x=1|minilm": {"v": 1}},
                               what="a test", regenerate="python -m x", spec="minilm:L0.ffn1", generator=1)
    assert list(stored_table.load_entries(path)) == ["a|x=1|minilm", "b|x=1|minilm"]
    provenance = json.loads(path.read_text())["provenance"]
    assert provenance == {"what": "a test", "regenerate": "python -m x", "spec": "minilm:L0.ffn1",
                          "generator": 1, "date": datetime.date.today().isoformat()}
    # a regenerated table is read again, not the cached first reading
    stored_table.write_entries(path, {"c|x=1|minilm": {"v": 3}}, what="a test", regenerate="python -m x",
                               spec="minilm:L0.ffn1")
    assert list(stored_table.load_entries(path)) == ["c|x=1|minilm"]
