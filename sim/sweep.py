"""``pearray sweep``: a design-space sweep on Dask, results in Parquet, Pareto fronts.

Stages, each a set of Dask tasks (a ``LocalCluster`` by default, or a running ``dask scheduler``):

1. cost: the analytical model on every valid point x workload, points batched into tasks of up
   to :data:`MAX_CHUNK`, each task one :func:`models.cost_batch.evaluate_batch` per workload (equal
   to :func:`models.cost.evaluate` per point, to the last bit); with ``per_layer``, each point x
   workload row is followed by one row per GEMM (one instance of it: ``layer``, ``layer_m``, ...;
   ``layer`` is null on the point x workload rows, the only rows the fronts use);
2. verify (``--verify pareto|all``): the point's accelerator (:meth:`models.cost.CostConfig.design`,
   its own buffers) runs a real-tensor GEMM in Verilator; pass = bit-exact against the golden
   model and RTL cycles == the cost model's cycles for that GEMM;
3. synth (``--synth pareto|all``): Yosys synthesis of the point's array (osu018 area).

The output folder is a journal plus derived files::

    DIR/.pearray-sweep      marker: this folder is a sweep's and may be continued
    DIR/space.toml          the space file of the last run
    DIR/cost/part-*.parquet     one row per point x workload (refused and failed ones too)
    DIR/verify/part-*.parquet   one row per verified design and verification GEMM
    DIR/synth/part-*.parquet    one row per synthesised array
    DIR/results.parquet     cost rows of this run's space, joined with their verify/synth rows
    DIR/fronts/pareto.csv, pareto-*.png   the Pareto fronts per workload

Whole-model quality (SmolLM2 perplexity, MiniLM Spearman) is read from the accuracy cache per PE
kind and options (:mod:`sim.sweep_quality`): every results row carries it (NaN where the cache has
none) and a quality vs TOPS/W front is added when some point has it; the summary says which.

Safety: a part file is written beside the folder's stages (``.staging/``), synced, then renamed
into its stage: a reader or a resumed sweep sees whole files only, so a sweep killed at any moment
leaves no partial row. A resumed sweep (same ``--out``) reads the keys its stages hold and
submits only the rest: no finished point is redone (a point evaluated but not yet written when the
sweep died is not finished, and is evaluated again). A point that fails is recorded with its error
(status ``failed``; a combination the kind refuses: status ``refused``) and the sweep goes on.
One sweep writes a folder at a time (a lock file).
"""

from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import logging
import math
import os
import re
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hw.accelerator import IncompatibleOptions
from models.cost import ENERGY_GROUPS, CostConfig, evaluate
from models.cost_batch import evaluate_batch
from models.sweep_space import OBJECTIVES, layer_key, row_key, stable_hash

from . import sweep_quality
from .args import BadInput
from .files import check_output_dir, write_dir, write_file_atomically

MARKER = ".pearray-sweep"
FRONTS_MARKER = ".pearray-fronts"
LOCK = ".lock"
STAGES = ("cost", "verify", "synth")
SELECTIONS = ("pareto", "all", "none")
MAX_CHUNK = 256            # points per cost task: large enough that Dask's per-task cost is small
FLUSH_SECONDS = 2.0        # cost rows wait at most this long in memory before they are written
FLUSH_ROWS = 1_000          # (or this many): a killed sweep loses at most a few tasks

POINT_COLUMNS = (("key", pa.string()), ("design_hash", pa.string()), ("pe", pa.string()),
                 ("options", pa.string()), ("rows", pa.int64()), ("cols", pa.int64()),
                 ("dataflow", pa.string()), ("clock_mhz", pa.float64()), ("node", pa.int64()),
                 ("act_kib", pa.float64()), ("weight_kib", pa.float64()), ("out_kib", pa.float64()),
                 ("dram", pa.string()), ("workload", pa.string()), ("layer", pa.string()),
                 ("layer_m", pa.int64()), ("layer_k", pa.int64()), ("layer_n", pa.int64()),
                 ("layer_count", pa.int64()), ("status", pa.string()), ("error", pa.string()))
METRIC_COLUMNS = (("area_mm2", pa.float64()), ("cycles", pa.int64()), ("macs", pa.int64()),
                  ("utilisation", pa.float64()), ("energy_uj", pa.float64()),
                  ("pj_per_mac", pa.float64()), ("tops", pa.float64()), ("tops_per_w", pa.float64()),
                  ("tops_per_mm2", pa.float64()), ("latency_s", pa.float64()),
                  ("tops_roofline", pa.float64()), ("memory_bound_layers", pa.string()))
VERIFY_COLUMNS = (("verify_key", pa.string()), ("design_hash", pa.string()),
                  ("verify_gemm", pa.string()), ("verify_status", pa.string()),
                  ("verify_error", pa.string()), ("verify_bit_exact", pa.bool_()),
                  ("verify_mismatches", pa.int64()), ("verify_rtl_cycles", pa.int64()),
                  ("verify_model_cycles", pa.int64()), ("verify_seconds", pa.float64()),
                  ("verilator_version", pa.string()), ("cocotb_version", pa.string()))
SYNTH_COLUMNS = (("synth_key", pa.string()), ("design_hash", pa.string()),
                 ("synth_status", pa.string()), ("synth_error", pa.string()),
                 ("synth_area_um2_osu018", pa.float64()), ("synth_multipliers", pa.int64()),
                 ("synth_flop_bits", pa.int64()), ("synth_cells", pa.int64()),
                 ("synth_seconds", pa.float64()), ("yosys_version", pa.string()))
STAGE_KEY = {"cost": "key", "verify": "verify_key", "synth": "synth_key"}


@functools.lru_cache(maxsize=None)
def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _one_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


# --------------------------------------------------------------------------------------------
# tasks (run on the Dask workers; module-level so they pickle by reference)


def cost_schema():
    """The cost rows' Arrow schema: point columns, metrics, one column per area and energy group
    of :class:`models.cost.CostResult` (read from a result, so a new group is a new column) and the
    tool versions."""
    probe = evaluate(CostConfig("int8", 1, 1), (1, 1, 1))
    groups = ([(f"area_{g}_um2", pa.float64()) for g in probe.area_um2]
              + [(f"energy_{g}_pj", pa.float64()) for g in probe.energy_pj])
    return pa.schema([*POINT_COLUMNS, *METRIC_COLUMNS, *groups, ("pearray_version", pa.string())])


def point_columns(point, workload):
    return {"key": row_key(point, workload), "design_hash": point.key, "pe": point.pe,
            "options": point.options_text, "rows": point.rows, "cols": point.cols,
            "dataflow": point.dataflow, "clock_mhz": point.clock_mhz, "node": point.node,
            "act_kib": point.act_kib, "weight_kib": point.weight_kib, "out_kib": point.out_kib,
            "dram": point.dram, "workload": workload.name,
            "pearray_version": _version("pearray")}


def cost_metrics(result):
    """The result columns of one :class:`models.cost.CostResult`."""
    out = {"area_mm2": result.area_total_mm2, "cycles": int(result.cycles), "macs": int(result.macs),
           "utilisation": result.utilisation, "energy_uj": result.energy_total_pj * 1e-6,
           "pj_per_mac": result.energy_total_pj / result.macs, "tops": result.tops,
           "tops_per_w": result.tops_per_w, "tops_per_mm2": result.tops_per_mm2,
           "latency_s": result.latency_s, "tops_roofline": result.tops_roofline,
           "memory_bound_layers": " ".join(result.memory_bound_layers)}
    out.update({f"area_{g}_um2": v for g, v in result.area_um2.items()})
    out.update({f"energy_{g}_pj": v for g, v in result.energy_pj.items()})
    return out


def batch_metrics(batch, i):
    """:func:`cost_metrics` of point i of a :class:`models.cost_batch.BatchResult` (the same
    numbers: the batch equals the scalar model)."""
    energy = float(batch.energy_total_pj[i])
    macs = int(batch.macs[i])
    area_mm2 = float(batch.area_total_um2[i]) * 1e-6
    out = {"area_mm2": area_mm2, "cycles": int(batch.cycles[i]), "macs": macs,
           "utilisation": float(batch.utilisation[i]), "energy_uj": energy * 1e-6,
           "pj_per_mac": energy / macs, "tops": float(batch.tops[i]),
           "tops_per_w": float(batch.tops_per_w[i]), "tops_per_mm2": float(batch.tops_per_mm2[i]),
           "latency_s": float(batch.latency_s[i]), "tops_roofline": float(batch.tops_roofline[i]),
           "memory_bound_layers": " ".join(batch.memory_bound_layers(i))}
    out.update({f"area_{g}_um2": float(v[i]) for g, v in batch.area_um2.items()})
    out.update({f"energy_{g}_pj": float(v[i]) for g, v in batch.energy_pj.items()})
    return out


def layer_metrics(batch, i, li):
    """The result columns of one instance of GEMM ``li`` on point i: as a workload row's, for that
    GEMM alone (latency: its roofline time, max(compute, DRAM); memory_bound_layers: its name if
    it is memory-bound)."""
    gemm = batch.gemms[li]
    energy = float(batch.layer_energy_total_pj[i, li])
    macs = gemm.macs_each
    area_mm2 = float(batch.area_total_um2[i]) * 1e-6
    tops = float(batch.layer_tops[i, li])
    latency = max(float(batch.layer_compute_s[i, li]), float(batch.layer_dram_s[i, li]))
    cycles = int(batch.layer_cycles[i, li])
    out = {"layer": gemm.name, "layer_m": gemm.m, "layer_k": gemm.k, "layer_n": gemm.n,
           "layer_count": gemm.count, "area_mm2": area_mm2, "cycles": cycles, "macs": macs,
           "utilisation": float(batch.layer_utilisation[i, li]), "energy_uj": energy * 1e-6,
           "pj_per_mac": energy / macs, "tops": tops, "tops_per_w": float(batch.layer_tops_per_w[i, li]),
           "tops_per_mm2": tops / area_mm2, "latency_s": latency,
           "tops_roofline": 2 * macs / latency / 1e12,
           "memory_bound_layers": gemm.name if batch.layer_memory_bound[i, li] else ""}
    out.update({f"area_{g}_um2": float(v[i]) for g, v in batch.area_um2.items()})
    out.update({f"energy_{g}_pj": float(batch.layer_energy_pj[g][i, li]) for g in ENERGY_GROUPS})
    return out


def cost_task(jobs, per_layer=False):
    """Cost rows of ``jobs``: [(SweepPoint, [Workload, ...])], the cost model evaluated for all
    of a workload's points at once (:func:`models.cost_batch.evaluate_batch`); with
    ``per_layer``, each point x workload row is followed by one row per GEMM of the workload.
    Never raises for a point: a refused combination or an error becomes that row's status and
    message."""
    by_workload = {}
    for point, workloads in jobs:
        for workload in workloads:
            by_workload.setdefault(workload, []).append(point)
    rows = {}
    for workload, points in by_workload.items():
        configs, errors = [], {}
        for j, point in enumerate(points):
            try:
                configs.append(point.cost_config())
            except Exception as e:   # a point CostConfig itself rejects
                errors[j] = e
        batch = evaluate_batch(configs, list(workload.gemms))
        c = 0
        for j, point in enumerate(points):
            row = point_columns(point, workload)
            out = [row]
            error = errors.get(j)
            if error is None:
                i, c = c, c + 1
                error = batch.errors[i]
            if isinstance(error, IncompatibleOptions):
                row.update(status="refused", error=str(error).splitlines()[0])
            elif error is not None:   # recorded with the row; the sweep goes on
                row.update(status="failed", error=_one_line(error))
            else:
                row.update(status="ok", **batch_metrics(batch, i))
                if per_layer:
                    out += [{**point_columns(point, workload), "key": layer_key(row["key"], li),
                             "status": "ok", **layer_metrics(batch, i, li)}
                            for li in range(len(workload.gemms))]
            rows[point, workload] = out
    for point, workloads in jobs:
        _count_evaluation(point, workloads)
    return [row for point, workloads in jobs for w in workloads for row in rows[point, w]]


def _count_evaluation(point, workloads):
    # Tests count evaluations to prove a resumed sweep redoes nothing: one line per point x
    # workload evaluated, appended (O_APPEND: whole lines from concurrent workers).
    log = os.environ.get("PEARRAY_SWEEP_EVAL_LOG")
    if log:
        text = "".join(f"{row_key(point, w)}\n" for w in workloads)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def verify_key(point, verify):
    return stable_hash([point.key, verify])


def verify_task(point, verify):
    """Verify the point's accelerator on the real-tensor GEMM ``verify`` (tensor, m, k, n) in
    Verilator: pass = bit-exact and RTL cycles == the cost model's cycles for that GEMM; fail
    otherwise; error = the run itself failed (build, watchdog); skipped = the point's buffers
    cannot hold that GEMM."""
    from models.realdata import real_gemm
    from sim.run import simulate_gemm
    from sim.toolchain import find_verilator
    m, k, n = verify["m"], verify["k"], verify["n"]
    row = {"verify_key": verify_key(point, verify), "design_hash": point.key,
           "verify_gemm": f"{verify['tensor']} {m}x{k}x{n}", "cocotb_version": _version("cocotb")}
    start = time.perf_counter()
    try:
        row["verilator_version"] = "%d.%03d" % find_verilator().version
        config = point.cost_config()
        design = config.design()
        try:
            design.layout(m, k, n)
        except ValueError as e:   # buffers too small for the GEMM: nothing to verify, no failure
            row.update(verify_status="skipped", verify_error=str(e))
            return row
        acts, weights = real_gemm(verify["tensor"], m, k, n)
        operands = design.kind.operands(acts, weights, design.facts.pe)
        model_cycles = evaluate(config, (m, k, n)).cycles
        result = simulate_gemm(design, operands)
        passed = result.mismatches == 0 and result.cycles == model_cycles == result.model.cycles
        row.update(verify_status="pass" if passed else "fail", verify_bit_exact=result.mismatches == 0,
                   verify_mismatches=result.mismatches, verify_rtl_cycles=result.cycles,
                   verify_model_cycles=model_cycles)
        if not passed:
            row["verify_error"] = (f"{result.mismatches} mismatching outputs, RTL {result.cycles} "
                                   f"cycles, model {model_cycles}")
    except Exception as e:   # a build error or watchdog is this point's result
        row.update(verify_status="error", verify_error=_one_line(e))
    row["verify_seconds"] = round(time.perf_counter() - start, 3)
    return row


def synth_key(point, tool_version):
    return stable_hash([point.pe, list(map(list, point.pe_options)), point.rows, point.cols,
                        point.dataflow, tool_version])


def synth_task(point):
    """Yosys synthesis of the point's array (PEs, slot registers, border units; no buffers)."""
    from models import synth
    start = time.perf_counter()
    tool = synth.find_yosys()
    row = {"synth_key": synth_key(point, tool.version), "design_hash": point.key,
           "yosys_version": f"{tool.kind} {tool.version}"}
    try:
        result = synth.synthesize(point.pe, rows=point.rows, cols=point.cols, dataflow=point.dataflow,
                                  pe_options=point.pe_options, tool=tool)
        row.update(synth_status="ok", synth_area_um2_osu018=result.area_um2,
                   synth_multipliers=result.multipliers, synth_flop_bits=result.flop_bits,
                   synth_cells=sum(result.mapped_cells.values()))
    except Exception as e:
        row.update(synth_status="failed", synth_error=_one_line(e))
    row["synth_seconds"] = round(time.perf_counter() - start, 3)
    return row


def worker_probe():
    """What a worker reports before any task: that it can import the project (and which)."""
    import models.cost
    return str(Path(models.cost.__file__).resolve().parent.parent)


# --------------------------------------------------------------------------------------------
# the output folder


class SweepDir:
    """A sweep's output folder: its stages' part files, the lock, the derived files."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    def open(self, space_text):
        """Create or continue the folder (already checked by :func:`check_out`) and lock it."""
        self.path.mkdir(parents=True, exist_ok=True)
        # the marker first: a folder left with anything in it is recognisably a sweep's
        (self.path / MARKER).write_text("written by pearray sweep; `pearray sweep --out` on this "
                                        "folder continues it\n")
        self._lock = open(self.path / LOCK, "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise BadInput(f"--out {self.path}: another pearray sweep is writing this folder") from None
        staging = self.path / ".staging"
        if staging.exists():   # part files of a sweep killed before their rename: never committed
            for leftover in staging.iterdir():
                leftover.unlink()
        staging.mkdir(exist_ok=True)
        for leftover in self.path.iterdir():   # temporaries of derived files a kill left behind
            if not leftover.name.startswith(".") or leftover.name in (MARKER, LOCK, ".staging"):
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        for stage in STAGES:
            (self.path / stage).mkdir(exist_ok=True)
        write_file_atomically(self.path / "space.toml", lambda p: p.write_text(space_text))

    def close(self):
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def parts(self, stage):
        return sorted((self.path / stage).glob("part-*.parquet"))

    def read(self, stage, columns=None):
        """A stage's rows (every committed part file) as a pandas DataFrame, or None if empty."""
        parts = self.parts(stage)
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p, columns=columns) for p in parts],
                                promote_options="permissive").to_pandas()

    def done(self, stage):
        table = self.read(stage, columns=[STAGE_KEY[stage]])
        return set() if table is None else set(table[STAGE_KEY[stage]])

    def write(self, stage, rows, schema):
        """Commit ``rows`` (dicts) as one new part file of ``stage``: whole or absent."""
        if not rows:
            return
        table = pa.Table.from_pylist(rows, schema=schema)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.path / ".staging" / name
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path / stage / name)


def check_out(path):
    """``--out`` may be used: new, empty, or a previous sweep's folder (continued)."""
    check_output_dir(path, "--out", marker=MARKER, own_names=())


# --------------------------------------------------------------------------------------------
# Pareto fronts


def pareto_mask(x, y, x_sense="max", y_sense="max"):
    """Boolean mask of the non-dominated points of (x, y) (NaN never on the front). A point is
    dominated when another is at least as good on both and better on one; equal points are all
    kept."""
    x = np.asarray(x, dtype=float) * (1 if x_sense == "max" else -1)
    y = np.asarray(y, dtype=float) * (1 if y_sense == "max" else -1)
    mask = np.zeros(len(x), dtype=bool)
    valid = np.flatnonzero(~(np.isnan(x) | np.isnan(y)))
    best = -np.inf
    order = valid[np.lexsort((-y[valid], -x[valid]))]   # x descending, then y descending
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and x[order[j]] == x[order[i]]:
            j += 1
        group_best = y[order[i]]
        if group_best > best:
            for idx in order[i:j]:
                if y[idx] == group_best:
                    mask[idx] = True
            best = group_best
        i = j
    return mask


def pareto_table(results, fronts):
    """One row per point on a front: front name, workload and the point's columns."""
    ok = results[(results.status == "ok") & results.layer.isna()]
    out = []
    for x, y in fronts:
        for workload, group in ok.groupby("workload", sort=False):
            on = group[pareto_mask(group[x], group[y], OBJECTIVES[x], OBJECTIVES[y])]
            out.append(on.sort_values(x).assign(front=f"{y} vs {x}"))
    if not out:
        return pd.DataFrame(columns=["front", *results.columns])
    table = pd.concat(out, ignore_index=True)
    return table[["front", *[c for c in results.columns]]]


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def front_plot(results, front_rows, x, y, workload, path):
    """Scatter of every ok point of ``workload`` (grey) with its front on top, coloured by PE."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = results[(results.status == "ok") & (results.workload == workload) & results.layer.isna()]
    on = front_rows[front_rows.workload == workload]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter(data[x], data[y], s=8, color="0.75", label="all points")
    for pe, group in on.groupby("pe"):
        ax.scatter(group[x], group[y], s=28, label=f"front: {pe}")
    ax.plot(on[x], on[y], color="0.3", linewidth=0.8)
    ax.set_xlabel(x + (" (higher is better)" if OBJECTIVES[x] == "max" else " (lower is better)"))
    ax.set_ylabel(y + (" (higher is better)" if OBJECTIVES[y] == "max" else " (lower is better)"))
    ax.set_title(f"{workload}: {y} vs {x}")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# progress


class Progress:
    """A one-line progress bar on stderr with counts and an ETA (a redrawn line on a terminal,
    a line every few seconds otherwise)."""

    def __init__(self, label, total, stream=None):
        self.label, self.total, self.stream = label, total, stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.counts = {}
        self.done = 0
        self.tty = self.stream.isatty()

    def add(self, n, status):
        self.done += n
        self.counts[status] = self.counts.get(status, 0) + n
        if self.tty or self.done < self.total:   # off a terminal the final line says it
            self.show()

    def show(self, final=False):
        now = time.monotonic()
        if not final and now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        elapsed = now - self.start
        eta = "?" if not self.done else f"{elapsed / self.done * (self.total - self.done):.0f} s"
        width = 24
        filled = width if not self.total else int(width * self.done / self.total)
        counts = "  ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        line = (f"sweep {self.label}: [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                f"  {counts}  {elapsed:.1f} s" + ("" if final else f"  ETA {eta}"))
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# Dask


def open_client(workers=None, scheduler=None):
    """A ``dask.distributed`` Client: on a running scheduler (``tcp://HOST:PORT``), or on a new
    LocalCluster of ``workers`` single-threaded worker processes (0: one worker thread in this
    process). BadInput when the scheduler cannot be reached or its workers cannot import pearray."""
    # deferred: dask.distributed takes about a second to import, and only `sweep` needs it
    from dask.distributed import Client, LocalCluster
    # loopback only; the scheduler always serves HTTP (without a dashboard address it takes
    # port 8787 on every interface): a free loopback port instead
    local = dict(dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    if scheduler is not None:
        _check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise BadInput(f"--scheduler {scheduler}: cannot connect ({_one_line(e)})") from None
        try:
            client.wait_for_workers(1, timeout=30)
        except TimeoutError:
            client.close()
            raise BadInput(f"--scheduler {scheduler}: no worker joined within 30 s") from None
    elif workers == 0:
        client = Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                     **local))
    else:
        client = Client(LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                     processes=True, host="127.0.0.1", **local))
    try:
        client.run(worker_probe)
    except Exception as e:
        client.close()
        raise BadInput(f"the Dask workers cannot import pearray ({_one_line(e)}); start "
                       f"`dask worker` where `import models` works (e.g. PYTHONPATH=the checkout)") from None
    return client


def _check_reachable(address):
    """BadInput at once for a tcp:// address nothing listens on (Dask's own connect retries for
    its whole timeout)."""
    found = re.fullmatch(r"tcp://\[?([^\]]+?)\]?:(\d+)", address)
    if found is None:
        return
    try:
        socket.create_connection((found[1], int(found[2])), timeout=10).close()
    except OSError as e:
        raise BadInput(f"--scheduler {address}: cannot connect ({e.strerror or e})") from None


def close_client(client):
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _run_tasks(client, submitted, on_result, on_error):
    """Wait for ``submitted`` ({future: context}) as they complete; ``on_result(context,
    value)`` or ``on_error(context, exception)`` (a worker that died, an unpicklable result)."""
    from dask.distributed import as_completed
    for future in as_completed(list(submitted)):
        context = submitted.pop(future)
        try:
            value = future.result()
        except Exception as e:   # recorded for the task's points; the others go on
            on_error(context, e)
        else:
            on_result(context, value)
        future.release()


# --------------------------------------------------------------------------------------------
# the sweep


def _chunks(jobs, workers):
    size = max(1, min(MAX_CHUNK, math.ceil(len(jobs) / max(1, workers * 8))))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


def run_cost(client, space, out, schema, progress_stream=None):
    """Stage 1; returns the number of rows evaluated in this run."""
    journal = out.read("cost", columns=["key", "status"])
    done = set() if journal is None else set(journal.key)
    ok = set() if journal is None else set(journal.key[journal.status == "ok"])

    def finished(point, workload):
        key = row_key(point, workload)
        # with per_layer, an ok row whose layer rows are missing (they are written with it, so
        # only when per_layer was off before) is evaluated again
        return key in done and not (space.per_layer and key in ok and layer_key(key, 0) not in done)

    pending, refused = [], []
    for point in space.points:
        todo = [w for w in space.workloads if not finished(point, w)]
        if not todo:
            continue
        if point.refused is not None:
            refused += [{**point_columns(point, w), "status": "refused", "error": point.refused}
                        for w in todo]
        else:
            pending.append((point, todo))
    total = len(refused) + sum(len(w) for _, w in pending)
    progress = Progress("cost", total, progress_stream)
    out.write("cost", refused, schema)
    if refused:
        progress.add(len(refused), "refused")
    buffer, last = [], time.monotonic()

    def flush():
        nonlocal buffer, last
        out.write("cost", buffer, schema)
        buffer, last = [], time.monotonic()

    def on_result(jobs, rows):
        buffer.extend(rows)
        for row in rows:
            if row.get("layer") is None:   # progress counts point x workload rows
                progress.add(1, row["status"])
        if len(buffer) >= FLUSH_ROWS or time.monotonic() - last >= FLUSH_SECONDS:
            flush()

    def on_error(jobs, error):
        on_result(jobs, [{**point_columns(p, w), "status": "failed", "error": _one_line(error)}
                         for p, ws in jobs for w in ws])

    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    submitted = {client.submit(cost_task, chunk, space.per_layer, pure=False): chunk
                 for chunk in _chunks(pending, workers)}
    try:
        _run_tasks(client, submitted, on_result, on_error)
    finally:
        flush()   # what finished before an interrupt is kept
    progress.show(final=True)
    return total


def _selected(results, selection, fronts):
    """Design points (one row each) for ``--verify`` / ``--synth`` ``selection``."""
    ok = results[results.status == "ok"]
    if selection == "all":
        chosen = ok
    else:
        chosen = pareto_table(results, fronts)
    return list(dict.fromkeys(chosen.design_hash))


def run_designs(client, stage, task, items, out, progress_stream=None):
    """Stage 2 or 3: one task per design point; each row is committed as soon as it is back
    (each is minutes of work)."""
    schema = pa.schema(VERIFY_COLUMNS if stage == "verify" else SYNTH_COLUMNS)
    progress = Progress(stage, len(items), progress_stream)
    status_column = f"{stage}_status"

    def on_result(item, row):
        out.write(stage, [row], schema)
        progress.add(1, row[status_column])

    def on_error(item, error):
        point, key = item
        on_result(item, {f"{stage}_key": key, "design_hash": point.key, status_column: "error",
                         f"{stage}_error": _one_line(error)})

    submitted = {client.submit(task, *args, pure=False): (args[0], key) for key, args in items}
    _run_tasks(client, submitted, on_result, on_error)
    progress.show(final=True)


def space_keys(space):
    """The cost row keys of ``space`` in its order: per point and workload, the workload row,
    then (``per_layer``) one row per GEMM."""
    keys = []
    for p in space.points:
        for w in space.workloads:
            key = row_key(p, w)
            keys.append(key)
            if space.per_layer:
                keys += [layer_key(key, li) for li in range(len(w.gemms))]
    return keys


def collect(space, out, verify_tool_keys=None):
    """The results table of ``space``: its cost rows (in the space's order) joined with the
    verify and synth rows of their design points."""
    cost = out.read("cost")
    keys = space_keys(space)
    order = pd.Series(range(len(keys)), index=keys)
    # a workload row written again (a sweep resumed with per_layer newly on): the last one
    cost = cost[cost.key.isin(order.index)].drop_duplicates("key", keep="last").copy()
    cost["index"] = order[cost.key].to_numpy()
    cost = cost.sort_values("index").reset_index(drop=True)
    for stage, wanted in (("verify", verify_tool_keys and verify_tool_keys.get("verify")),
                          ("synth", verify_tool_keys and verify_tool_keys.get("synth"))):
        rows = out.read(stage)
        if rows is None or not wanted:
            continue
        rows = rows[rows[f"{stage}_key"].isin(wanted)].drop_duplicates(f"{stage}_key", keep="last")
        cost = cost.merge(rows, on="design_hash", how="left")
    return cost[["index", *[c for c in cost.columns if c != "index"]]]


def write_outputs(space, out, results):
    """results.parquet and fronts/ (pareto.csv, one plot per front and workload: the space's
    fronts and the quality ones of :func:`sim.sweep_quality.fronts`), each whole."""
    write_file_atomically(out.path / "results.parquet",
                          lambda p: results.to_parquet(p, index=False))
    chosen = tuple(dict.fromkeys((*space.fronts, *sweep_quality.fronts(results))))
    fronts = pareto_table(results, chosen)
    files = {"pareto.csv": lambda p: fronts.to_csv(p, index=False)}
    for x, y in chosen:
        for workload in space.workloads:
            name = f"pareto-{_slug(workload.name)}-{y}-vs-{x}.png"
            files[name] = (lambda p, x=x, y=y, w=workload.name:
                           front_plot(results, fronts[fronts.front == f"{y} vs {x}"], x, y, w, p))
    write_dir(out.path / "fronts", files, FRONTS_MARKER)
    return fronts


def sweep(space, space_text, out_path, client, *, verify="none", synth="none", progress_stream=None):
    """Run (or continue) a sweep of ``space`` into ``out_path`` on ``client``. Returns a summary
    dict: rows by status, verification and synthesis counts, evaluated rows this run."""
    out = SweepDir(out_path)
    out.open(space_text)
    try:
        schema = cost_schema()
        evaluated = run_cost(client, space, out, schema, progress_stream)
        results = collect(space, out)
        points = {p.key: p for p in space.valid_points}
        keys = {}
        if verify != "none":
            chosen = [points[h] for h in _selected(results, verify, space.fronts)]
            keys["verify"] = {verify_key(p, space.verify): p for p in chosen}
            done = out.done("verify")
            items = [(k, (p, space.verify)) for k, p in keys["verify"].items() if k not in done]
            run_designs(client, "verify", verify_task, items, out, progress_stream)
        if synth != "none":
            from models.synth import find_yosys
            version = find_yosys().version
            chosen = [points[h] for h in _selected(results, synth, space.fronts)]
            keys["synth"] = {synth_key(p, version): p for p in chosen}
            done = out.done("synth")
            items = [(k, (p,)) for k, p in keys["synth"].items() if k not in done]
            run_designs(client, "synth", synth_task, items, out, progress_stream)
        results, quality = sweep_quality.attach_quality(collect(space, out, keys))
        fronts = write_outputs(space, out, results)
    finally:
        out.close()
    totals = results[results.layer.isna()]   # point x workload rows; the rest are per layer
    summary = {"rows": len(totals), "evaluated": evaluated,
               "status": totals.status.value_counts().to_dict(), "front_rows": len(fronts),
               "layer_rows": len(results) - len(totals), "quality": quality}
    for stage in ("verify", "synth"):
        column = f"{stage}_status"
        if column in results:
            summary[stage] = results.drop_duplicates("design_hash")[column].value_counts().to_dict()
    return summary


def check_tools(space, verify, synth):
    """BadInput before any work when ``--verify`` or ``--synth`` needs what is not there."""
    if verify != "none":
        from models.realdata import MissingRealDataError, real_gemm
        from sim.toolchain import find_verilator
        find_verilator()   # ToolchainError: exit 2 with what to install
        v = space.verify
        try:
            real_gemm(v["tensor"], v["m"], v["k"], v["n"])
        except (MissingRealDataError, ValueError) as e:
            raise BadInput(f"verify: {e}") from None
    if synth != "none":
        from models import synth as synthesis
        try:
            synthesis.find_yosys()
            synthesis.liberty_path()
        except synthesis.SynthesisError as e:
            raise BadInput(f"--synth: {e}") from None


def summary_text(out, summary):
    parts = [f"sweep {out}: {summary['rows']} rows ("
             + ", ".join(f"{n} {s}" for s, n in sorted(summary["status"].items()))
             + f"; {summary['evaluated']} evaluated in this run)"
             + (f" and {summary['layer_rows']} per-layer rows" if summary["layer_rows"] else "")]
    for stage in ("verify", "synth"):
        if stage in summary:
            parts.append(f"{stage}: " + ", ".join(f"{n} {s}" for s, n in sorted(summary[stage].items())))
    parts.append(summary["quality"])
    parts.append(f"{summary['front_rows']} rows on Pareto fronts: {Path(out) / 'fronts' / 'pareto.csv'}; "
                 f"results: {Path(out) / 'results.parquet'}")
    return "\n".join(parts)

