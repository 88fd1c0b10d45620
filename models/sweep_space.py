"""A design-space sweep's space file: TOML in, frozen design points out.

A space file lists, each as a list (a single value is a list of one), what to cross::

    kinds = ["int8", "lut"]          # or "all": every registered variant (PEKind.variants)
    rows = [4, 8]
    cols = [4, 8]
    dataflows = ["ws", "os"]         # default: each kind's own dataflows
    clock_mhz = [500]                # default 500
    node = [45]                      # a node models.tech knows (default 45)
    act_kib = [64]                   # buffer sizes in KiB (default 64 each)
    weight_kib = [64]
    out_kib = [64]
    dram = ["lpddr4"]                # lpddr4, ddr4, gddr5 or hbm2
    workloads = ["minilm-l6", "64x256x64", "nets/resnet.onnx", "alexnet.csv"]
                                     # workload names, one GEMM as MxKxN, or a file: an ONNX
                                     # model or a SCALE-Sim topology CSV (models.workload_files;
                                     # relative to the space file's folder)
    per_layer = false                # true: also one result row per GEMM of each workload

    [options.lut]                    # per kind: a list of values per option ("none" = None)
    weight_bits = [1, 2, 4]

    [verify]                         # the real-tensor GEMM RTL verification runs (optional)
    tensor = "minilm:L0.ffn1"
    m = 16
    k = 64
    n = 20

    [[pareto]]                       # fronts (optional; default TOPS/mm^2 vs TOPS/W)
    x = "tops_per_mm2"
    y = "tops_per_w"

The sweep is the cross product of kinds (each with the cross product of its options), shapes,
dataflows, clocks, nodes, buffer sizes and DRAM types, minus the combinations a kind refuses: a
dataflow the kind does not list (``PEKind.dataflows``) or option values its PE class rejects
(``kind.prototype(**options)`` raises TypeError). Refused points are kept, with the reason, so the
results say why a combination is missing. Every point has a stable hash (:attr:`SweepPoint.key`):
the same point gets the same hash in every process and run, which is how a resumed sweep knows
what it has done.

Everything is checked when the file is read: a bad key, kind, option, value or workload is a
:class:`SpaceError` naming the key, before any point is evaluated.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .cost import CostConfig
from .registry import PE_KINDS
from .tech import UnknownComponentError
from .workload_files import WorkloadFileError, is_workload_file, load_workload_file
from .workloads import Gemm, get_workload

# one sweep holds its points in memory and writes one row per point x workload
MAX_POINTS = 1_000_000

DEFAULTS = {"clock_mhz": [500.0], "node": [45], "act_kib": [64.0], "weight_kib": [64.0],
            "out_kib": [64.0], "dram": ["lpddr4"]}
LIST_KEYS = ("rows", "cols", "dataflows", *DEFAULTS, "workloads")
TOP_KEYS = ("kinds", *LIST_KEYS, "per_layer", "options", "verify", "pareto")
VERIFY_KEYS = ("tensor", "m", "k", "n")
DEFAULT_VERIFY = {"tensor": "minilm:L0.ffn1", "m": 16, "k": 64, "n": 20}
# result columns a front may use, with the direction that is better
OBJECTIVES = {"tops_per_w": "max", "tops_per_mm2": "max", "tops": "max", "tops_roofline": "max",
              "utilisation": "max", "area_mm2": "min", "energy_uj": "min", "pj_per_mac": "min",
              "cycles": "min", "latency_s": "min",
              # whole-model quality (sim.sweep_quality: from the accuracy cache, NaN without)
              "ppl": "min", "delta_ppl_pct": "min", "spearman_fp32": "max"}
DEFAULT_FRONTS = (("tops_per_mm2", "tops_per_w"),)
NONE = "none"


class SpaceError(ValueError):
    """A space file that cannot be swept; the message names the file and the key."""


@dataclass(frozen=True)
class SweepPoint:
    """One design point of a sweep (everything :class:`models.cost.CostConfig` takes that the
    space file sets). ``pe_options``: sorted (name, value) pairs; ``refused``: why the kind refuses
    this combination, or None."""
    pe: str
    rows: int
    cols: int
    dataflow: str
    clock_mhz: float
    node: int
    act_kib: float
    weight_kib: float
    out_kib: float
    dram: str
    pe_options: tuple = ()
    refused: str | None = field(default=None, compare=False)

    @functools.cached_property
    def key(self):
        """Stable 16-hex-digit hash of the point (not of ``refused``): the design hash. Computed
        once per point (a sweep asks for it several times per point)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "refused"}
        values["pe_options"] = [list(pair) for pair in self.pe_options]
        return stable_hash(values)

    def cost_config(self):
        return CostConfig(self.pe, self.rows, self.cols, self.dataflow, clock_mhz=self.clock_mhz,
                          node=self.node, act_kib=self.act_kib, weight_kib=self.weight_kib,
                          out_kib=self.out_kib, dram=self.dram, pe_options=self.pe_options)

    @property
    def options_text(self):
        """The options as JSON text, e.g. ``{"weight_bits": 4}`` (``{}`` for none)."""
        return json.dumps(dict(self.pe_options), sort_keys=True)


@dataclass(frozen=True)
class Workload:
    """A named list of GEMMs: a registered network, one ``MxKxN`` GEMM or a workload file's."""
    name: str
    gemms: tuple

    @functools.cached_property
    def key_text(self):
        """The JSON text of the workload's part of :func:`row_key` (computed once)."""
        gemms = [list(map(str, (g.name, g.m, g.k, g.n, g.count))) for g in self.gemms]
        return _canonical(self.name) + "," + _canonical(gemms)


@dataclass(frozen=True)
class Space:
    points: tuple          # every SweepPoint, refused ones included, in enumeration order
    workloads: tuple       # Workload
    verify: dict           # tensor, m, k, n
    fronts: tuple          # (x, y) result column pairs
    per_layer: bool = False   # also one row per GEMM of each workload

    @property
    def valid_points(self):
        return tuple(p for p in self.points if p.refused is None)


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _text_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stable_hash(obj):
    """sha256 of canonical JSON, 16 hex digits: the same in every process (unlike ``hash``)."""
    return _text_hash(_canonical(obj))


def row_key(point, workload):
    """Stable hash of one result row: a point on a workload; equal to ``stable_hash([point.key,
    workload.name, [[name, m, k, n, count] as strings per GEMM]])``, from the workload's JSON
    text made once (a sweep hashes every point x workload)."""
    return _text_hash(f"[{_canonical(point.key)},{workload.key_text}]")


def layer_key(workload_row_key, index):
    """Stable hash of the row of GEMM ``index`` of a point x workload row (``per_layer``)."""
    return stable_hash([workload_row_key, "layer", index])


def _as_list(data, key, where):
    value = data[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpaceError(f"{where}: {key} is an empty list")
    return values


def _check_values(values, key, where, check, what):
    for v in values:
        if not check(v):
            raise SpaceError(f"{where}: {key} must be {what}, not {v!r}")
    return list(dict.fromkeys(values))


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _positive_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")


def _workload(text, where, base):
    if not isinstance(text, str):
        raise SpaceError(f"{where}: workloads must be names, MxKxN strings or .onnx / .csv files, "
                         f"not {text!r}")
    if is_workload_file(text):   # a path relative to the space file's folder
        try:
            return Workload(text, load_workload_file(Path(base) / text))
        except WorkloadFileError as e:
            raise SpaceError(f"{where}: workloads: {e}") from None
    found = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if found:
        m, k, n = (int(v) for v in found.groups())
        if min(m, k, n) < 1:
            raise SpaceError(f"{where}: workload {text!r} needs positive M, K and N")
        return Workload(f"{m}x{k}x{n}", (Gemm(f"{m}x{k}x{n}", m, k, n),))
    try:
        return Workload(text, tuple(get_workload(text)))
    except ValueError as e:
        raise SpaceError(f"{where}: workloads: {e}") from None


def _kind_settings(data, where):
    """[(kind name, options tuple)] from ``kinds`` and ``[options.<kind>]``."""
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise SpaceError(f"{where}: options must be a table of [options.<kind>] tables")
    kinds = data["kinds"]
    if kinds == "all":
        if options:
            raise SpaceError(f"{where}: options cannot be given with kinds = \"all\" (every "
                             f"registered variant); list the kinds instead")
        return [(kind.name, tuple(opts)) for kind in PE_KINDS.values() for _, opts in kind.variants]
    names = _check_values(_as_list(data, "kinds", where), "kinds", where, lambda v: isinstance(v, str),
                          "a list of PE kind names or \"all\"")
    for name in names:
        if name not in PE_KINDS:
            raise SpaceError(f"{where}: kinds: unknown PE kind {name!r}; known kinds: "
                             f"{', '.join(PE_KINDS)}")
    for name, table in options.items():
        if name not in names:
            raise SpaceError(f"{where}: options.{name}: {name!r} is not in kinds")
        if not isinstance(table, dict):
            raise SpaceError(f"{where}: options.{name} must be a table of option lists")
        known = dict(PE_KINDS[name].options)
        for option in table:
            if option not in known:
                raise SpaceError(f"{where}: options.{name}.{option}: PE kind {name!r} has no option "
                                 f"{option!r}; it takes: {', '.join(known) or 'none'}")
    settings = []
    for name in names:
        table = options.get(name, {})
        keys = sorted(table)
        lists = []
        for option in keys:
            values = _as_list(table, option, f"{where}: options.{name}")
            lists.append([None if isinstance(v, str) and v.lower() == NONE else v for v in values])
        for combo in itertools.product(*lists):
            settings.append((name, tuple(zip(keys, combo))))
    return settings


def _refusal(kind, dataflow, options):
    if dataflow not in kind.dataflows:
        return f"PE kind {kind.name!r} supports dataflows {', '.join(kind.dataflows)}, not {dataflow!r}"
    try:
        kind.prototype(**dict(options))
    except TypeError as e:
        return str(e)
    return None


def _verify(data, where):
    table = data.get("verify", {})
    if not isinstance(table, dict):
        raise SpaceError(f"{where}: verify must be a table")
    for key in table:
        if key not in VERIFY_KEYS:
            raise SpaceError(f"{where}: verify.{key}: unknown key; known: {', '.join(VERIFY_KEYS)}")
    verify = {**DEFAULT_VERIFY, **table}
    if not isinstance(verify["tensor"], str):
        raise SpaceError(f"{where}: verify.tensor must be a tensor name like \"minilm:L0.ffn1\"")
    for dim in "mkn":
        if not _positive_int(verify[dim]):
            raise SpaceError(f"{where}: verify.{dim} must be a positive integer, not {verify[dim]!r}")
    return verify


def _fronts(data, where):
    fronts = data.get("pareto")
    if fronts is None:
        return DEFAULT_FRONTS
    if not isinstance(fronts, list) or not all(isinstance(f, dict) for f in fronts) or not fronts:
        raise SpaceError(f"{where}: pareto must be [[pareto]] tables with x and y")
    out = []
    for i, front in enumerate(fronts):
        if set(front) != {"x", "y"}:
            raise SpaceError(f"{where}: pareto[{i}] must have exactly the keys x and y")
        for axis in ("x", "y"):
            if front[axis] not in OBJECTIVES:
                raise SpaceError(f"{where}: pareto[{i}].{axis}: {front[axis]!r} is not a result "
                                 f"column a front can use; one of {', '.join(OBJECTIVES)}")
        out.append((front["x"], front["y"]))
    return tuple(dict.fromkeys(out))


def parse_space(data, where="space", base="."):
    """:class:`Space` from a parsed TOML table; SpaceError naming the key for anything wrong.
    Workload files are found relative to the folder ``base``."""
    for key in data:
        if key not in TOP_KEYS:
            raise SpaceError(f"{where}: unknown key {key!r}; known keys: {', '.join(TOP_KEYS)}")
    for key in ("kinds", "rows", "cols", "workloads"):
        if key not in data:
            raise SpaceError(f"{where}: missing key {key!r}")
    settings = _kind_settings(data, where)
    rows = _check_values(_as_list(data, "rows", where), "rows", where, _positive_int, "positive integers")
    cols = _check_values(_as_list(data, "cols", where), "cols", where, _positive_int, "positive integers")
    dataflows = None
    if "dataflows" in data:
        dataflows = _check_values(_as_list(data, "dataflows", where), "dataflows", where,
                                  lambda v: v in ("ws", "os"), "\"ws\" or \"os\"")
    lists = {}
    for key, default in DEFAULTS.items():
        values = _as_list(data, key, where) if key in data else default
        check = {"node": lambda v: _positive_int(v), "dram": lambda v: isinstance(v, str)}.get(
            key, _positive_number)
        values = _check_values(values, key, where, check, "a string" if key == "dram" else "positive numbers")
        for v in values:   # the cost model's own checks (known node, DRAM type)
            try:
                CostConfig("int8", 1, 1, **{key: v})
            except (ValueError, UnknownComponentError) as e:   # the latter is a KeyError
                raise SpaceError(f"{where}: {key}: {e.args[0] if e.args else e}") from None
        lists[key] = [int(v) if key == "node" else v if key == "dram" else float(v) for v in values]
    workloads = tuple(dict.fromkeys(_workload(w, where, base) for w in _as_list(data, "workloads", where)))
    verify = _verify(data, where)
    fronts = _fronts(data, where)
    per_layer = data.get("per_layer", False)
    if not isinstance(per_layer, bool):
        raise SpaceError(f"{where}: per_layer must be true or false, not {per_layer!r}")

    count = (len(settings) * len(rows) * len(cols) * len(dataflows or ("ws", "os"))
             * len(lists["clock_mhz"]) * len(lists["node"]) * len(lists["act_kib"])
             * len(lists["weight_kib"]) * len(lists["out_kib"]) * len(lists["dram"]))
    if count > MAX_POINTS:
        raise SpaceError(f"{where}: the space has {count:,} design points, above the limit of "
                         f"{MAX_POINTS:,}; sweep it in parts")
    points = []
    refusals = {}
    for name, options in settings:
        kind = PE_KINDS[name]
        for dataflow in dataflows or kind.dataflows:
            if (name, dataflow, options) not in refusals:
                refusals[name, dataflow, options] = _refusal(kind, dataflow, options)
            reason = refusals[name, dataflow, options]
            for r, c, clock, node, a, w, o, dram in itertools.product(
                    rows, cols, lists["clock_mhz"], lists["node"], lists["act_kib"],
                    lists["weight_kib"], lists["out_kib"], lists["dram"]):
                points.append(SweepPoint(name, r, c, dataflow, clock, node, a, w, o, dram,
                                         tuple(sorted(options, key=lambda kv: kv[0])), reason))
    return Space(tuple(dict.fromkeys(points)), workloads, verify, fronts, per_layer)


def load_space(path):
    """:class:`Space` of a TOML space file; SpaceError for an unreadable or bad file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceError(f"cannot read space file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"{path}: not valid TOML ({e})") from None
    return parse_space(data, where=str(path), base=path.parent)
