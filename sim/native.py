"""A plain Verilator C++ harness for the accelerator top: the reference point for the cocotb path.

:func:`build_native` compiles ``sim/native/harness.cpp`` against the SAME Verilog text, the SAME
Verilator flags (:data:`sim.simulators.VERILATOR_FLAGS`), waivers and ``top_access.vlt`` as the cocotb
build in :mod:`sim.build` (only cocotb's ``--vpi`` and its VPI library are absent), cached in
``<cache>/native-<design slug>-<Verilog hash>/``. :func:`run_native` runs one GEMM through it with
the same host-port protocol as :mod:`sim.tb` and returns a :class:`sim.run.SimResult` whose
``sim_seconds`` is the start..done phase, timed with ``std::chrono::steady_clock``.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .simulators import TOP_ACCESS_VLT, VERILATOR, VERILATOR_FLAGS, WAIVERS
from models.design import TOP_NAME, verilog_hash
from .run import SimulationError, prepare_gemm
from .toolchain import find_verilator

HARNESS_SOURCE = Path(__file__).with_name("native") / "harness.cpp"
EXE_NAME = "harness"
WATCHDOG_EXIT = 2


@dataclass(frozen=True)
class NativeBuild:
    design: object
    directory: Path
    executable: Path
    build_seconds: float   # 0 when the build came from the cache


def _harness_hash():
    return hashlib.sha256(HARNESS_SOURCE.read_bytes()).hexdigest()[:16]


def _build_commands(directory, verilog_path, harness, access):
    verilator = [
        "verilator", "-cc", "--exe", "-Mdir", str(directory / "obj"),
        "--top-module", TOP_NAME, "--prefix", "Vtop", "-o", EXE_NAME,
        *VERILATOR_FLAGS,
        str(harness), str(verilog_path), str(directory / WAIVERS.name), str(access),
    ]
    make = ["make", "-j", str(os.cpu_count() or 1), "-C", str(directory / "obj"), "-f", "Vtop.mk"]
    return [verilator, make]


def build_native(design):
    """Compile the native harness for ``design`` unless an identical build (same Verilog, same
    harness source) is cached. Returns a :class:`NativeBuild`."""
    t0 = time.perf_counter()
    text = design.verilog()
    directory = VERILATOR.cache_root() / f"native-{design.slug}-{verilog_hash(text)}"
    directory.mkdir(parents=True, exist_ok=True)
    executable = directory / "obj" / EXE_NAME
    stamp = directory / "built.ok"
    stamp_text = f"{design.slug} harness {_harness_hash()}\n"
    built_now = False
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == stamp_text and executable.exists()):
            stamp.unlink(missing_ok=True)
            verilog_path = directory / f"{TOP_NAME}.v"
            verilog_path.write_text(text)
            shutil.copyfile(WAIVERS, directory / WAIVERS.name)
            harness = directory / HARNESS_SOURCE.name
            shutil.copyfile(HARNESS_SOURCE, harness)
            access = directory / "top_access.vlt"
            access.write_text(TOP_ACCESS_VLT.format(top=TOP_NAME))
            env = find_verilator().env()
            log_path = directory / "build.log"
            with open(log_path, "w") as log:
                for cmd in _build_commands(directory, verilog_path, harness, access):
                    log.write("$ " + " ".join(cmd) + "\n")
                    log.flush()
                    proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
                    if proc.returncode != 0:
                        log.flush()
                        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                        raise SimulationError(f"native harness build failed ({cmd[0]} exit "
                                              f"{proc.returncode}); see {log_path}\n{tail}")
            stamp.write_text(stamp_text)
            built_now = True
    return NativeBuild(design, directory, executable,
                       time.perf_counter() - t0 if built_now else 0.0)


def _write_job(path, job):
    layout = job.layout
    lines = [
        f"stream_len {layout.stream_len}",
        f"fold_outer {layout.fold_outer}",
        f"fold_inner {layout.fold_inner}",
        f"out_words {layout.out_depth}",
        f"watchdog_cycles {job.watchdog_cycles}",
        f"act_words {len(job.act_words)}",
        *(format(w, "x") for w in job.act_words),
        f"weight_words {len(job.weight_words)}",
        *(format(w, "x") for w in job.weight_words),
    ]
    path.write_text("\n".join(lines) + "\n")


def _read_result(path):
    tokens = path.read_text().split()
    fields, i = {}, 0
    while i < len(tokens):
        key, value = tokens[i], tokens[i + 1]
        i += 2
        if key == "out_words":
            count = int(value)
            fields["out_words"] = [int(w, 16) for w in tokens[i:i + count]]
            i += count
        else:
            fields[key] = float(value) if key == "run_seconds" else int(value)
    return fields


def run_native(design, operands):
    """Run one GEMM (``operands`` from ``design.kind.operands``) on ``design`` through the native
    harness. Returns a :class:`sim.run.SimResult` (``rtl_out``, ``cycles``, ``sim_seconds`` =
    start..done)."""
    job = prepare_gemm(design, operands)
    if job.extra_words:
        raise ValueError(f"the native harness loads only the activation and weight buffers; "
                         f"{design.slug} also needs {len(job.extra_words)} extra buffer(s)")
    built = build_native(design)
    runs = built.directory / "runs"
    runs.mkdir(exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=runs))
    job_path, result_path = job_dir / "job.txt", job_dir / "result.txt"
    _write_job(job_path, job)
    t0 = time.perf_counter()
    proc = subprocess.run([str(built.executable), str(job_path), str(result_path)],
                          capture_output=True, text=True)
    wall_seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not result_path.exists():
        message = proc.stderr.strip() or f"exit {proc.returncode}"
        raise SimulationError(f"native harness failed: {message} (job kept in {job_dir})")
    fields = _read_result(result_path)
    shutil.rmtree(job_dir)
    return job.result(fields["out_words"], fields["cycles"], sim_seconds=fields["run_seconds"],
                      wall_seconds=wall_seconds, build_seconds=built.build_seconds)
