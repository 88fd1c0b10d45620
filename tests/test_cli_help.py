"""`pearray --help` and every command's help: what the tool is, the commands with examples, every
option described with its default."""

import argparse
import re

import pytest

from models.registry import PE_KINDS
from sim import cli


def _subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _help(capsys, argv):
    assert cli.main(argv) == 0
    return capsys.readouterr().out


def test_top_level_help_says_what_the_tool_is_and_lists_commands_with_examples(capsys):
    text = _help(capsys, ["--help"])
    assert "mixed-precision processing-element arrays" in text
    commands = list(_subparsers(cli.build_parser()))
    assert commands[0] == "report" and set(commands) == {"report", "sim", "cost", "quant", "synth", "verilog",
                                                         "kinds", "characterise", "sweep", "accuracy", "claims"}
    positions = [re.search(rf"\n    {c}\s", text).start() for c in commands]
    assert positions == sorted(positions)                      # listed in that order
    assert "examples:" in text and all(f"pearray {c}" in text for c in commands)


@pytest.mark.parametrize("command", ["report", "sim", "cost", "quant", "synth", "verilog", "kinds",
                                     "characterise", "sweep", "accuracy", "claims"])
def test_every_option_has_help_and_shows_its_default(command):
    sub = _subparsers(cli.build_parser())[command]
    text = sub.format_help()
    for action in sub._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{command} {action.option_strings} has no help"
        if action.default not in (None, False, argparse.SUPPRESS):
            assert str(action.default) in text, f"{command} {action.option_strings[0]} hides its default"
        if action.default is False and action.nargs == 0:      # an on/off flag says it is off
            assert "default" in cli.HelpFormatter(command)._get_help_string(action), action.option_strings


def test_report_help_gives_both_run_times(capsys):
    text = _help(capsys, ["report", "--help"])
    text = " ".join(text.split())
    assert "--quick about" in text and "full about" in text


def test_cost_help_says_a_workload_is_required_and_quant_lists_formats(capsys):
    assert "exactly one is required" in _help(capsys, ["cost", "--help"])
    from models.quant import FORMATS
    text = " ".join(_help(capsys, ["quant", "--help"]).split())
    assert all(f in text for f in FORMATS)


@pytest.mark.parametrize("command", ["cost", "report"])
def test_energy_basis_help_says_what_each_basis_is_and_its_check(capsys, command):
    text = " ".join(_help(capsys, [command, "--help"]).split())
    assert "--energy-basis {sta,sim}" in text
    assert "characterised by OpenSTA's propagation" in text
    assert "sim with primitive energies from gate-level simulation" in text
    assert ("Default: sim where the activity is measured (minilm, random)" in text
            and "sta with a fixed activity number, the only basis defined for one" in text)
    assert "'energy vs STA'" in text and "'energy vs sim'" in text


def test_kinds_maps_report_labels_to_flags(capsys):
    text = _help(capsys, ["kinds"])
    for kind in PE_KINDS.values():
        for label, options in kind.variants:
            line = next(line for line in text.splitlines() if line.strip().startswith(label + " "))
            assert f"--pe {kind.name}" in line
            for name, value in options:
                assert f"{cli.option_flag(name)} {value}" in line
