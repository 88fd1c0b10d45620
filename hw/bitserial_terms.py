"""BitMoD term encoder: one weight code -> its signed power-of-two terms (spec section 2).

Placed on the array border, one per column (``weight_border``), combinational: the column's weight
codes are turned into terms once, on their way into the PEs, so every PE stores and steps through
ready-made terms and needs no decoder of its own.

Weight element codes (``code``, In(``WeightFormat.code_bits``)), per format:

* ``int8`` / ``int6``: two's complement integers (-128..127 / -32..31). Terms: the radix-4 Booth
  digits ``d_i = -2 b[2i+1] + b[2i] + b[2i-1]`` (b[-1] = 0), ``d_i`` in {-2..2}, term i =
  ``d_i * 4**i`` = sign, shift ``2i + (|d_i| == 2)``: 4 / 3 terms.
* ``fp4`` / ``fp3``: sign-magnitude, sign in the top bit, magnitude index below it, values in
  *code units* (integers): FP4 E2M1 magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6} x 2 =
  {0, 1, 2, 3, 4, 6, 8, 12}; FP3 {0, 1, 2, 4}. The redundant ``-0`` code decodes to 0.
* ``mixed4`` / ``mixed3``: the fp4 / fp3 code in the low bits and the group's 2-bit special-value
  selector above it. ``-0`` selects the special value (SV) from the 4-entry SV register:
  FP4 +10, -10, +16, -16 (spec +5, -5, +8, -8: ER+, ER-, EA+, EA-); FP3 +3, -3, +6, -6.

Every FP magnitude (SVs included) has at most two one-bits, so its terms are its leading one and
the next one (``n = 2**hi + 2**lo``): 2 terms (1 for plain fp3, whose magnitudes are 0 or powers of
two). The value in code units is ``sum_t (-1)**neg_t * nz_t * 2**shift_t``. The fp encoder is one
lookup over the element's code (:func:`fp_terms_word` per code, computed at elaboration).

Operand (``operand``, Out(terms * TERM_WIDTH)): term t at bits [t*TERM_WIDTH, (t+1)*TERM_WIDTH):
bit 0 ``nz`` (the term is present), bit 1 ``neg``, bits [2, 5) ``shift`` (unsigned 0..7).
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe import OptionError

TERM_WIDTH = 5
SHIFT_BITS = 3
MAGNITUDE_BITS = 5      # an fp magnitude in code units, 0..16


@dataclass(frozen=True)
class WeightFormat:
    """Hardware view of one weight format (the RTL's own constants; the golden model in
    :mod:`models.bitserial_gemm` decodes codes with its own tables and the tests compare them)."""
    name: str
    kind: str               # "booth" or "fp"
    value_bits: int         # Booth: integer bits; fp: sign + magnitude-index bits
    terms: int              # cycles per weight (the PE's initiation interval)
    magnitudes: tuple = ()  # fp: code units per magnitude index
    special_values: tuple = ()  # mixed: the SV register, indexed by the 2-bit selector

    @property
    def selector_bits(self):
        return 2 if self.special_values else 0

    @property
    def code_bits(self):
        return self.value_bits + self.selector_bits

    @property
    def signed_codes(self):
        """Booth codes are two's complement integers; fp codes are unsigned bit patterns."""
        return self.kind == "booth"


_FP4 = (0, 1, 2, 3, 4, 6, 8, 12)
_FP3 = (0, 1, 2, 4)
FORMATS = {
    "int8": WeightFormat("int8", "booth", 8, 4),
    "int6": WeightFormat("int6", "booth", 6, 3),
    "fp4": WeightFormat("fp4", "fp", 4, 2, _FP4),
    "fp3": WeightFormat("fp3", "fp", 3, 1, _FP3),
    "mixed4": WeightFormat("mixed4", "fp", 4, 2, _FP4, (10, -10, 16, -16)),
    "mixed3": WeightFormat("mixed3", "fp", 3, 2, _FP3, (3, -3, 6, -6)),
}


def weight_format(name):
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise OptionError(f"weight_format must be one of {', '.join(FORMATS)}, not {name!r}") from None


def _term(m, name, present, negative, shift):
    t = Signal(TERM_WIDTH, name=name)
    m.d.comb += t.eq(Cat(present, negative, shift[:SHIFT_BITS]))
    return t


class TermEncoder(wiring.Component):
    """Combinational: ``code`` (``elements`` weight elements, element j at bits
    [j*code_bits, (j+1)*code_bits)) -> ``operand`` (their terms, element j's at
    [j*terms*TERM_WIDTH, ...)), see the module docstring. Keyword-only options ``weight_format``
    (a key of :data:`FORMATS`) and ``elements`` (default 1)."""

    def __init__(self, *, weight_format="mixed4", elements=1):
        self._format = FORMATS[weight_format] if isinstance(weight_format, str) else weight_format
        self._elements = elements
        super().__init__({
            "code": In(elements * self._format.code_bits),
            "operand": Out(elements * self._format.terms * TERM_WIDTH),
        })

    format = property(lambda self: self._format)
    elements = property(lambda self: self._elements)

    def elaborate(self, platform):
        m = Module()
        fmt = self._format
        terms = []
        for j in range(self._elements):
            code = self.code[j * fmt.code_bits:(j + 1) * fmt.code_bits]
            if fmt.kind == "booth":
                terms += self._booth(m, fmt, code, f"e{j}_")
            else:
                terms += self._fp(m, fmt, code, f"e{j}_")
        m.d.comb += self.operand.eq(Cat(*terms))
        return m

    def _booth(self, m, fmt, code, prefix):
        b = Cat(Const(0, 1), code[:fmt.value_bits])   # b[-1] = 0 prepended
        terms = []
        for i in range(fmt.terms):
            lo, mid, hi = b[2 * i], b[2 * i + 1], b[2 * i + 2]
            # digit = -2 hi + mid + lo: zero for 000/111, +-2 for 011/100, +-1 otherwise
            present = ~((lo == mid) & (mid == hi))
            two = (lo == mid) & (mid != hi)
            terms.append(_term(m, f"{prefix}term{i}", present, hi, Const(2 * i, SHIFT_BITS) + two))
        return terms

    def _fp(self, m, fmt, code, prefix):
        # every term bit is a constant function of the element's 3..6 code bits: one lookup over
        # the code. Written as a magnitude table, a special-value override and two leading-one
        # searches, synthesis keeps part of that structure (mixed4: 26 cells where the lookup
        # maps to 21, mixed3: 13 cells, 399 um^2, where it maps to 318 um^2 at 180 nm)
        word = Signal(fmt.terms * TERM_WIDTH, name=f"{prefix}terms")
        with m.Switch(code):
            for c in range(1 << fmt.code_bits):
                with m.Case(c):
                    m.d.comb += word.eq(fp_terms_word(fmt, c))
        return [word[t * TERM_WIDTH:(t + 1) * TERM_WIDTH] for t in range(fmt.terms)]


def fp_terms_word(fmt, code):
    """The terms word (``terms`` x TERM_WIDTH bits, term t at bits [t*TERM_WIDTH, ...)) of one
    code of an fp :class:`WeightFormat`: its magnitude in code units (the index's, or on ``-0``
    the special value the selector picks) split into its leading one (hi) and the next one (lo);
    a term is present | negative << 1 | shift << 2."""
    vb = fmt.value_bits
    sign, index = (code >> (vb - 1)) & 1, code & ((1 << (vb - 1)) - 1)
    magnitude, negative = fmt.magnitudes[index], sign if fmt.magnitudes[index] else 0
    if fmt.special_values and sign and index == 0:      # the -0 code: the group's special value
        value = fmt.special_values[code >> vb]
        magnitude, negative = abs(value), int(value < 0)
    if magnitude >> MAGNITUDE_BITS:
        raise ValueError(f"{fmt.name} magnitude {magnitude} wider than {MAGNITUDE_BITS} bits")
    ones = [p for p in range(MAGNITUDE_BITS) if (magnitude >> p) & 1]
    if len(ones) > fmt.terms:
        raise ValueError(f"{fmt.name} magnitude {magnitude} needs more than {fmt.terms} terms")
    hi, lo = (ones[-1] if ones else 0), (ones[-2] if len(ones) > 1 else 0)
    terms = [(magnitude != 0) | negative << 1 | hi << 2]
    if fmt.terms == 2:
        terms.append((len(ones) > 1) | negative << 1 | lo << 2)
    return sum(t << (TERM_WIDTH * n) for n, t in enumerate(terms))


class TermSteps:
    """The step sequencing both bit-serial PEs share: a step starts on ``valid`` with term 0 and
    takes one term per cycle up to ``terms - 1``; the accumulator register adds each cycle's
    contribution in place (``acc_in`` + term 0 on ``valid``, then its own value + term t).

    ``index`` is the term used this cycle (combinational: 0 while ``valid``). Call
    :meth:`accumulate` once with the register and the cycle's new value.
    """

    def __init__(self, m, valid, terms):
        self._m, self._valid, self._terms = m, valid, terms
        self.index = Signal(range(max(terms, 2)), name="term_index")
        self._next = Signal(range(max(terms, 2)), name="next_term_index")
        self._active = Signal(name="step_active")      # a step is in progress after its first cycle
        m.d.comb += self.index.eq(Mux(valid, 0, self._next))

    def base(self, acc_in, acc_out):
        """What this cycle adds to: ``acc_in`` on ``valid``, else the accumulator itself."""
        return Mux(self._valid, acc_in, acc_out)

    def accumulate(self, acc_out, summed):
        m, T = self._m, self._terms
        with m.If(self._valid):
            m.d.sync += acc_out.eq(summed)
            if T > 1:
                m.d.sync += [self._active.eq(1), self._next.eq(1)]
        if T > 1:
            with m.Elif(self._active):
                m.d.sync += acc_out.eq(summed)
                with m.If(self.index == T - 1):
                    m.d.sync += self._active.eq(0)
                with m.Else():
                    m.d.sync += self._next.eq(self.index + 1)

    def select(self, terms_vector, name):
        """This cycle's term (TERM_WIDTH bits) of a vector of ``terms`` terms: a case per term,
        not word_select (a variable word_select scales the index with a $mul cell)."""
        m, T = self._m, self._terms
        term = Signal(TERM_WIDTH, name=name)
        with m.Switch(self.index):
            for t in range(T):
                with m.Case(t):
                    m.d.comb += term.eq(terms_vector[t * TERM_WIDTH:(t + 1) * TERM_WIDTH])
            with m.Default():       # the index never leaves 0..T-1; a full case keeps lint quiet
                m.d.comb += term.eq(0)
        return term
