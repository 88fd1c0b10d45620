"""Primitive costs: area, energy and flops of the word-level building blocks every inventory counts.

Everything here is at 45 nm; :mod:`models.cost` scales to the node. The technology constants
come from :mod:`models.tech` (each with its source).

* ``add`` w bits: linear in w through Horowitz's int8 and int32 adds (area and energy).
* ``mult`` a x b bits: power law in the product a*b through Horowitz's int8 and int32 multiplies.
* ``reg`` / ``reg_en`` w bits: DFFPOSX1 + AND2X1 (the synchronous reset every Amaranth ``sync``
  signal has) [+ MUX2X1 hold mux for a load enable]; every flop pays the clock energy every cycle
  (the RTL has no clock gating) and ``activity`` x toggle energy per bit when loaded.
* ``shift`` w x s: a w-bit barrel shifter with an s-bit amount, s levels of w MUX2X1.
* ``mux`` n:1 x w: (n-1) MUX2X1 per bit; an evaluation toggles ceil(log2 n) levels per bit x
  ``activity``. ``eq`` w: w XOR2X1 + (w-1) AND2X1. ``and`` w: w AND2X1.
* SRAM: area = bits x the 45 nm 6T cell (bit cells only, periphery not modelled: a lower bound);
  access energy per 64 bits by capacity, log-log interpolated between Horowitz's 8 KB / 32 KB /
  1 MB points, the 8 KB figure below 8 KB and the 32 KB-1 MB slope above 1 MB.

Flip-flops, multiplexers and gates are OSU 0.18 um liberty cells scaled to 45 nm with Stillmaker
& Baas; adders and multipliers are Horowitz 45 nm.
"""

import functools
import math
from typing import NamedTuple

from .tech import UnknownComponentError, value as tv


class Prim(NamedTuple):
    area_um2: float       # 45 nm
    energy_pj: float      # 45 nm, per operation / evaluation / register load
    flop_bits: int        # flops (each pays the clock energy every cycle)


def _osu_area(cell):
    return tv(f"osu018.{cell}.area") * tv("scale.area.180_to_45")


def _osu_toggle(cell):
    return tv(f"osu018.{cell}.toggle_energy") * tv("scale.energy.180_1v8_to_45_0v9")


def clock_energy_per_bit():
    """45 nm energy one flop pays per clock cycle (OSU DFFPOSX1 CLK energy, Stillmaker-scaled)."""
    return tv("osu018.DFFPOSX1.clock_energy") * tv("scale.energy.180_1v8_to_45_0v9")


def _horowitz_linear(width, what):
    lo, hi = tv(f"horowitz.int8_add.{what}"), tv(f"horowitz.int32_add.{what}")
    return lo + (hi - lo) * (width - 8) / 24


def _horowitz_power(product_bits, what):
    lo, hi = tv(f"horowitz.int8_mult.{what}"), tv(f"horowitz.int32_mult.{what}")
    exponent = math.log(hi / lo) / math.log(1024 / 64)
    return lo * (product_bits / 64) ** exponent


@functools.lru_cache(maxsize=4096)
def primitive(name, *widths, activity=0.5):
    """45 nm area, energy per use and flop count of one primitive (see the module docstring)."""
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"primitive {name!r} widths must be positive integers, not {widths}")
    if name == "add" and len(widths) == 1:
        (w,) = widths
        return Prim(_horowitz_linear(w, "area"), _horowitz_linear(w, "energy"), 0)
    if name == "mult" and len(widths) == 2:
        p = widths[0] * widths[1]
        return Prim(_horowitz_power(p, "area"), _horowitz_power(p, "energy"), 0)
    if name == "reg" and len(widths) == 1:
        (w,) = widths
        return Prim(w * (_osu_area("DFFPOSX1") + _osu_area("AND2X1")),
                    w * activity * _osu_toggle("DFFPOSX1"), w)
    if name == "reg_en" and len(widths) == 1:
        (w,) = widths
        return Prim(w * (_osu_area("DFFPOSX1") + _osu_area("MUX2X1") + _osu_area("AND2X1")),
                    w * activity * (_osu_toggle("DFFPOSX1") + _osu_toggle("MUX2X1")), w)
    if name == "mux" and len(widths) == 2:
        n, w = widths
        levels = max(1, math.ceil(math.log2(n))) if n > 1 else 0
        return Prim(w * (n - 1) * _osu_area("MUX2X1"), w * levels * activity * _osu_toggle("MUX2X1"), 0)
    if name == "eq" and len(widths) == 1:
        (w,) = widths
        return Prim(w * _osu_area("XOR2X1") + (w - 1) * _osu_area("AND2X1"),
                    activity * (w * _osu_toggle("XOR2X1") + (w - 1) * _osu_toggle("AND2X1")), 0)
    if name == "shift" and len(widths) == 2:
        out, amount = widths    # barrel shifter: one 2:1 mux level per shift-amount bit
        return Prim(out * amount * _osu_area("MUX2X1"), out * amount * activity * _osu_toggle("MUX2X1"), 0)
    if name == "and" and len(widths) == 1:
        (w,) = widths
        return Prim(w * _osu_area("AND2X1"), w * activity * _osu_toggle("AND2X1"), 0)
    raise UnknownComponentError(f"unknown cost primitive {name!r} with widths {widths}")


def sram_energy_64b(nbytes):
    """45 nm pJ per 64-bit access of an SRAM of ``nbytes`` (Horowitz points, log-log)."""
    points = [(8 * 1024, tv("horowitz.sram_8kb.read_64b")), (32 * 1024, tv("horowitz.sram_32kb.read_64b")),
              (1024 * 1024, tv("horowitz.sram_1mb.read_64b"))]
    if nbytes <= points[0][0]:
        return points[0][1]
    for (s0, e0), (s1, e1) in zip(points, points[1:]):
        if nbytes <= s1:
            break
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    return e0 * (nbytes / s0) ** slope


def sram_bitcell_area():
    """45 nm area of one SRAM bit cell (6T; periphery not modelled)."""
    return tv("sram.bitcell.area")
