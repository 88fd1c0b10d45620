"""The processing-element contract shared by every PE kind.

A PE is the arithmetic cell of one array slot. The array owns everything around it (operand pass
registers, skew, weight double buffers, the output drain), so a new PE kind only states its operand
widths and timing and implements the arithmetic; it never touches :mod:`hw.array`.

Ports (flat, unsigned vectors as Amaranth emits them; signedness is per the class properties):

============  =====  ==============================================================================
``act``       In     activation operand, ``act_width`` bits (one step's worth: ``k_per_step`` elements)
``weight``    In     weight operand, ``weight_width`` bits (``k_per_step`` elements)
``valid``     In     a step starts this cycle; ``act`` and ``weight`` stay stable for
                     ``initiation_interval`` cycles from here (the array holds them)
``acc_in``    In     partial sum the step adds to, sampled in the cycle ``valid`` is high
``acc_out``   Out    registered; ``latency`` cycles after ``valid`` it holds
                     ``acc_in + dot(act, weight)`` wrapped to ``acc_width`` bits (two's complement);
                     the array samples it exactly then (a multi-cycle PE may show partial sums
                     in the cycles before)
============  =====  ==============================================================================

Timing facts, read by the array, the cycle model, the cost model and the testbenches:

* ``initiation_interval`` -- cycles between successive steps (1 for a fully pipelined MAC,
  the number of weight terms or bit-planes for a bit-serial PE).
* ``latency`` -- cycles from ``valid`` to ``acc_out``. In a weight-stationary array the partial
  sum moves one row down every ``latency`` cycles, so rows are skewed by it. Output-stationary
  arrays feed ``acc_out`` back as ``acc_in``, so there ``latency <= initiation_interval`` is required.
* ``k_per_step`` -- how many K elements one step consumes (1 for scalar MACs; 2 for an
  outlier-victim pair; 4 for a LUT group). One array row maps ``k_per_step`` consecutive K indices.

Reset: the synchronous reset clears ``acc_out`` to 0.

Tables. A kind whose PE reads a per-run table (``table_width`` > 0: GOBO's dictionary of centroids)
gets one more port, ``table`` In(``table_width``): ``table_width // table_entry_bits`` entries, entry
i at bits ``[i*e, (i+1)*e)``. It is not an operand: the array broadcasts one ``table`` input to every
PE (wires, no register), the accelerator holds it in a register the host writes before ``start``
(see :mod:`hw.accelerator`), and it stays stable for the whole run. Kinds without a table (the
default, ``table_width`` 0) have no such port.

Codes, operands and border units. The buffers hold *codes*: one activation lane of
``act_code_width`` bits per row and one weight lane of ``weight_code_width`` bits per column, each
covering ``k_per_step`` K elements. By default a code lane is the operand itself. A PE kind whose
operand is derived from the codes (a LUT PE's table, an OVP decoder's exponent-integer pairs) names
a border unit with ``act_border()`` / ``weight_border()``: the array instantiates one per row (on
the row input, before the skew) / one per column (on the column's weight input, before the weight
bus or skew), so each is shared by a whole row or column. A border unit is a Component with
``code`` In(code width) and ``operand`` Out(operand width), combinational; it may name the
``operand`` bits that no code changes in a ``constant_bits`` property ({bit: value}) and those
that always equal a lower bit in ``copied_bits`` ({bit: lower bit}), which the array then carries
nowhere and re-attaches in front of each PE (see :mod:`hw.array`). How
host-side element codes become lane bits is the PE class's ``act_lanes``/``weight_lanes`` (numpy, used by the memory map), so
offline encodings (e.g. a weight bit flip) live next to the hardware that reads them.
"""

import numpy as np

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ProcessingElement(wiring.Component):
    """Base class of every PE kind: builds the signature from the subclass's width properties.

    Subclasses define the read-only properties ``act_width``, ``weight_width``, ``acc_width``,
    ``act_signed``, ``weight_signed``, ``k_per_step``, ``initiation_interval``, ``latency`` and
    ``macs_per_step``, then implement ``elaborate``.
    """

    def __init__(self):
        ports = {
            "act":     In(self.act_width),
            "weight":  In(self.weight_width),
            "valid":   In(1),
            "acc_in":  In(self.acc_width),
            "acc_out": Out(self.acc_width),
        }
        if self.table_width:
            ports["table"] = In(self.table_width)
        super().__init__(ports)

    #: bits of the per-run table the PE reads (0: none, no ``table`` port); see the module docstring
    table_width = 0
    #: bits of one table entry (the host writes one entry per parameter-buffer address)
    table_entry_bits = 16

    @property
    def act_code_width(self):
        """Bits of one activation lane in the buffer (``k_per_step`` element codes)."""
        return self.act_width

    @property
    def weight_code_width(self):
        """Bits of one weight lane in the buffer (``k_per_step`` element codes)."""
        return self.weight_width

    @property
    def act_element_bits(self):
        return self.act_code_width // self.k_per_step

    @property
    def weight_element_bits(self):
        return self.weight_code_width // self.k_per_step

    #: None, or the K elements one per-group dequantisation covers: the accelerator then adds the
    #: kind's ``post_array_unit`` after the array (weight-stationary only). Kinds with groups override.
    group_size = None

    #: False for a float-like accumulator: partial sums of different PEs cannot be added as
    #: integers, so an output must be summed in one PE (output-stationary only).
    integer_accumulator = True

    #: True when the kind forms its products without a multiplier (shifts, adds, table look-ups);
    #: the conformance test checks that the PE's RTLIL multiplies no two signals (a ``$mul`` by a
    #: constant is wiring), the synthesis tests that Yosys finds no ``$mul`` in such a PE.
    multiplier_free = False

    def post_array_unit(self, cols):
        """The unit the accelerator adds after a ``cols``-column array for this kind's per-group
        dequantisation, or None (no group, or the accelerator's default MixPE dequantiser)."""
        return None

    def act_border(self):
        """The row border unit turning an activation code lane into the PE's operand, or None."""
        return None

    def weight_border(self):
        """The column border unit turning a weight code lane into the PE's operand, or None."""
        return None

    def act_lanes(self, codes):
        """(..., k_per_step) activation element codes -> (...) unsigned lane values: element j
        at bits [j*e, (j+1)*e), e = ``act_element_bits``."""
        return concat_elements(codes, self.act_element_bits)

    def weight_lanes(self, codes):
        """(..., k_per_step) weight element codes -> (...) unsigned lane values (as ``act_lanes``)."""
        return concat_elements(codes, self.weight_element_bits)

    def table_value(self, entries):
        """The ``table`` port value of ``entries`` (Python ints of ``table_entry_bits`` bits, as
        many as the table holds): entry i at bits ``[i*e, (i+1)*e)``. ValueError otherwise."""
        e, entries = self.table_entry_bits, [int(x) for x in entries]
        if len(entries) * e != self.table_width or any(not 0 <= x < 1 << e for x in entries):
            raise ValueError(f"a table of {self.table_width // e} entries of {e} bits, not {entries!r}")
        return sum(x << (i * e) for i, x in enumerate(entries))

    @property
    def macs_per_cycle(self):
        """Multiply-accumulates per cycle at full occupancy (a derived fact for the cost model)."""
        return self.macs_per_step / self.initiation_interval


class OptionError(TypeError, ValueError):
    """A bad keyword option of a hardware unit or a design configuration, with a message quoting
    the bad value. One type for every such case: a TypeError, as Amaranth components raise for bad
    parameters, and a ValueError, so callers that validate values (the command line, the cost
    model) report it as bad input."""


def facts_only(component):
    """Mark ``component`` as built only to read its properties (widths, timing); never elaborated.

    Amaranth warns when a Component is garbage-collected without having been elaborated ("created
    but never used", from ``amaranth.hdl._unused.MustUse``). Prototypes that the array, the cycle
    and cost models and the command line build to read a PE's contract facts are exactly that, by
    design. This helper is the one place the project silences the warning, per object (through the
    private ``_MustUse__silence`` flag Amaranth itself uses), so a component that should have been
    elaborated and was not still warns. Returns ``component``.
    """
    component._MustUse__silence = True
    return component


def check_positive_int(name, value, *, minimum=1, maximum=None):
    """Validate a keyword option up front; the TypeError quotes the bad value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise OptionError(f"{name} must be an integer {bound}, not {value!r}")
    return value


def concat_elements(codes, bits):
    """(..., g) integer codes -> (...) Python-int object array, element j at bits [j*bits, ...)."""
    codes = np.asarray(codes, dtype=np.int64) & ((1 << bits) - 1)
    lanes = np.zeros(codes.shape[:-1], dtype=object)
    for j in range(codes.shape[-1]):
        lanes = lanes + (codes[..., j].astype(object) << (j * bits))
    return lanes
