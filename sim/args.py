"""Command-line argument helpers shared by every ``pearray`` subcommand.

Each helper checks one kind of value up front and fails with a one-line message naming the flag and
the bad value: argparse turns an ``argparse.ArgumentTypeError`` into ``pearray: error: ...`` with
exit status 2, and the commands raise :class:`BadInput`, which the command line reports the same way.
Nothing here does any work or touches a file.
"""

import argparse
import math

from hw.array import check_tile as check_array_tile
from hw.pe import OptionError
from models.cost_primitives import BASES as ENERGY_BASES
from models.registry import PE_KINDS

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2

NONE = "none"

# Upper bounds that keep a run inside what this machine can elaborate and hold (a 64x64 array
# elaborates in minutes; each extra row or column adds PEs quadratically).
MAX_ARRAY_SIDE = 256
MAX_BUFFER_DEPTH = 1 << 20
# A run holds the operands and outputs several times over (codes, lanes, packed words, golden
# output): 2^26 elements is about 2 GiB of working memory, and already billions of cycles.
MAX_GEMM_ELEMENTS = 1 << 26


class BadInput(Exception):
    """Reported as one line on stderr with exit code 2."""


def positive_int(text, *, maximum=None):
    """A positive integer written as digits (``1e8`` and ``3.0`` are refused, not rounded)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"{value} is above the limit of {maximum}")
    return value


def bounded_int(maximum):
    """``positive_int`` with an upper bound, for argparse's ``type=``."""
    def parse(text):
        return positive_int(text, maximum=maximum)
    parse.__name__ = "positive integer"
    return parse


def positive_float(text):
    """A positive, finite number (``inf`` and ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def bounded_float(low=-math.inf, high=math.inf):
    """For argparse's ``type=``: a finite number in [``low``, ``high``] (``nan`` and ``inf`` are
    refused)."""
    span = ("a finite number" if (low, high) == (-math.inf, math.inf) else
            f"a number >= {low:g}" if high == math.inf else f"a number in [{low:g}, {high:g}]")

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {span}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"expected {span}, got {text!r}")
        return value
    parse.__name__ = span
    return parse


def seed_int(text):
    """A random seed: an integer >= 0 (numpy's generators refuse negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def tile_arg(text):
    """``--tile RxC``: broadcast tiles of R rows and C columns (two positive integers)."""
    parts = text.lower().split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        return tuple(positive_int(p) for p in parts)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS (two positive integers, e.g. 1x4), "
                                         f"got {text!r}") from None


def add_tile_arg(p):
    # a string default goes through tile_arg too (argparse), so the help shows it as typed
    p.add_argument("--tile", type=tile_arg, default="1x1", metavar="ROWSxCOLS",
                   help="broadcast tiles: operands are wired to every PE of a ROWSxCOLS tile in one "
                        "cycle, pass registers only between tiles (default 1x1: the plain systolic "
                        "array; each side divides the array's; ws tiles are 1 row high)")


# what each energy basis is, the check that measures it, and the default (``--energy-basis``'s help)
ENERGY_BASIS_HELP = ("the cost model's energy basis: sim with primitive energies from gate-level simulation "
                     "of each primitive plus the pins between parts, checked against the PE's netlist "
                     "simulated gate by gate on the same stream (the report's 'energy vs sim'; "
                     "bench/bench_energy_vs_sim_power.py --sim-basis); sta prices every part with primitive "
                     "energies characterised by OpenSTA's propagation, checked against OpenSTA's power of "
                     "the synthesised PE (the report's 'energy vs STA'). Default: sim where the activity is "
                     "measured (minilm, random), the basis whose check is the activity-based power on real "
                     "tensors; sta with a fixed activity number, the only basis defined for one "
                     "(docs/cost-model.md 'Energy bases and their references')")


def default_energy_basis(activity):
    """The energy basis of a command whose user names none (every ``--energy-basis``: ``pearray
    cost``, ``pearray report``, :attr:`sim.report.ReportPlan.energy_basis`): "sim" for a measured
    ``activity`` (a name of :data:`models.cost.ACTIVITY_SOURCES`), whose check is the activity-based
    power of each PE on real tensors; "sta" for a fixed number, the only basis defined for one.
    ``models.cost.CostConfig`` itself keeps "sta" unless given one: a library caller names its
    basis."""
    return "sim" if isinstance(activity, str) else "sta"


def add_energy_basis_arg(p, extra=""):
    """``--energy-basis sta|sim`` (argparse refuses another value: one line, exit 2, no work); None
    when not given: the command resolves it with :func:`default_energy_basis`."""
    p.add_argument("--energy-basis", choices=ENERGY_BASES, default=None, help=ENERGY_BASIS_HELP + extra)


def check_tile(args):
    """BadInput naming ``--tile`` when the tile does not fit the array (``args.rows``, ``cols``,
    ``dataflow``); checked before any work."""
    try:
        check_array_tile(args.tile, args.rows, args.cols, args.dataflow)
    except OptionError as e:
        raise BadInput(f"--tile {args.tile[0]}x{args.tile[1]}: {e}") from None
    return args.tile


def pe_kind_arg(text):
    if text not in PE_KINDS:
        raise argparse.ArgumentTypeError(f"unknown PE kind {text!r}; known kinds: {', '.join(PE_KINDS)}")
    return text


# PE options whose flag is not the option's own name
FLAG_ALIASES = {"group_size": "--group"}


def option_flag(name):
    """The command-line flag that sets PE option ``name``."""
    return FLAG_ALIASES.get(name, f"--{name.replace('_', '-')}")


def pe_option_names():
    """Every PE option some registered kind takes, in registry order."""
    return tuple(dict.fromkeys(name for kind in PE_KINDS.values() for name, _ in kind.options))


def _option_parser(name):
    """Integers for options whose defaults are integers, text otherwise; ``none`` is None (the
    PE class decides whether it accepts it)."""
    defaults = [default for kind in PE_KINDS.values() for option, default in kind.options if option == name]
    # a None default (an option off by default) does not make an integer option textual
    numeric = any(isinstance(d, int) for d in defaults) and all(d is None or isinstance(d, int) for d in defaults)

    def parse(text):
        if text.strip().lower() == NONE:
            return NONE
        if not numeric:
            return text
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None
    parse.__name__ = name
    return parse


def add_pe_option_args(p):
    """One flag per PE option of the registered kinds (checked against the kind by
    :func:`pe_options`); the help lists which kinds take it, their values and defaults."""
    for name in pe_option_names():
        takers = [f"{kind.name}: {dict(kind.option_values).get(name, 'see the PE class')}, "
                  f"default {default}"
                  for kind in PE_KINDS.values() for option, default in kind.options if option == name]
        p.add_argument(option_flag(name), dest=name, type=_option_parser(name), help="; ".join(takers))


def add_design_args(p, depths_default=None):
    """--pe, --rows, --cols, --dataflow, --tile, the PE options and the buffer depths."""
    p.add_argument("--pe", type=pe_kind_arg, required=True, help="PE kind (see `pearray kinds`)")
    p.add_argument("--rows", type=bounded_int(MAX_ARRAY_SIDE), required=True,
                   help=f"PE rows of the array (1..{MAX_ARRAY_SIDE})")
    p.add_argument("--cols", type=bounded_int(MAX_ARRAY_SIDE), required=True,
                   help=f"PE columns of the array (1..{MAX_ARRAY_SIDE})")
    p.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                   help="weight-stationary (ws) or output-stationary (os)")
    add_tile_arg(p)
    add_pe_option_args(p)
    for name in ("act", "weight", "out"):
        p.add_argument(f"--{name}-depth", type=bounded_int(MAX_BUFFER_DEPTH), default=depths_default,
                       help=f"{name} buffer depth in words"
                            + (" (default: sized to the GEMM, rounded up to a power of two)"
                               if depths_default is None else f" (default {depths_default})"))


def check_gemm_size(m, k, n):
    """BadInput when an M x K x N GEMM's operands and output exceed :data:`MAX_GEMM_ELEMENTS`."""
    elements = m * k + k * n + m * n
    if elements > MAX_GEMM_ELEMENTS:
        raise BadInput(f"GEMM {m}x{k}x{n} has {elements:,} operand and output elements, above the "
                       f"limit of {MAX_GEMM_ELEMENTS:,} (about 2 GiB of working memory)")


def check_depths(design):
    """BadInput when a design's buffers are deeper than :data:`MAX_BUFFER_DEPTH` words."""
    for name in ("act", "weight", "out"):
        depth = getattr(design, f"{name}_depth")
        if depth > MAX_BUFFER_DEPTH:
            raise BadInput(f"the GEMM needs a {name} buffer of {depth:,} words, above the limit of "
                           f"{MAX_BUFFER_DEPTH:,}; use a larger array or a smaller GEMM")


def pe_options(args, kind):
    """The PE options given on the command line, checked against what the kind accepts."""
    given = {name: getattr(args, name) for name in pe_option_names() if getattr(args, name) is not None}
    given = {name: None if value == NONE else value for name, value in given.items()}
    known = dict(kind.options)
    for name in given:
        if name not in known:
            raise BadInput(f"PE kind {kind.name!r} has no {option_flag(name)} option")
    try:
        kind.prototype(**given)
    except TypeError as e:
        raise BadInput(f"{flag_message(str(e))}") from None
    return tuple(sorted(given.items()))


def flag_message(message):
    """A PE class's option error, naming the command-line flag instead of the keyword."""
    for name in pe_option_names():
        if message.startswith(f"{name} "):
            return option_flag(name) + message[len(name):]
    return message
