"""A field of a PE input port: the bits of one operand field (an element's exponent or integer)
that drive an inventory part (issue 14's per-field activity rule).

A port mixes fields that switch very differently on real tensors: ANT's and OVP's element
exponents are nearly constant (MiniLM's int4 codes are mostly exponent 0), their integers toggle
with the data. A multiplier fed by the integer fields switches at the integer bits' rate, not at
the port's mean over every bit (:meth:`models.part_activity.PartActivity.field_toggles`).
"""

from __future__ import annotations


class Field(str):
    """The bits ``bits`` (port bit indices, LSB 0) of PE input port ``port``. A ``str`` equal to the
    port's name, so every rule that reads a driver as its port (the OpenSTA basis, whose reference
    is set per port) still does; ``bits`` adds which of the port's bits drive the part."""

    bits: tuple

    def __new__(cls, port, bits):
        out = super().__new__(cls, port)
        out.bits = tuple(sorted(set(int(b) for b in bits)))
        if not out.bits or out.bits[0] < 0:
            raise ValueError(f"a field names at least one bit index >= 0, not {bits!r}")
        return out

    @property
    def port(self):
        return str(self)

    def __repr__(self):
        return f"Field({str(self)!r}, {self.bits})"

    def __reduce__(self):
        return Field, (str(self), self.bits)


def element_fields(port, elements, element_width, exp_width):
    """(exponent field, integer field) of an exponent-integer operand (ANT's, OVP's): element ``j``
    at bits ``[j * element_width, (j + 1) * element_width)``, its exponent the low ``exp_width``
    bits, its integer the rest (:mod:`hw.ant_decoder`, :mod:`hw.ovp_decoder`); over every element
    in ``elements``."""
    exp = [j * element_width + b for j in elements for b in range(exp_width)]
    ints = [j * element_width + b for j in elements for b in range(exp_width, element_width)]
    return Field(port, exp), Field(port, ints)
