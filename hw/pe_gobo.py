"""GOBO PE: FP16 activation x a 3-bit dictionary index looked up in a per-run FP16 centroid table,
multiplied and accumulated exactly like the FP16 PE (FP32 accumulator, one RNE per step)."""

from amaranth.hdl import Array, Module, Mux, Signal

from .gobo_outlier import GoboOutlierUnit
from .pe_fp16 import Fp16PE

INDEX_BITS = 3                          # GOBO: 8 centroids per weight tensor
CENTROIDS = 1 << INDEX_BITS
OUTLIER_FLAG_BIT = INDEX_BITS           # weight code bit 3: an outlier, handled outside the array
WEIGHT_CODE_BITS = INDEX_BITS + 1
CENTROID_BITS = 16                      # each centroid an FP16 pattern


class GoboPE(Fp16PE):
    """GOBO (MICRO'20) weight-only quantisation in a tensor-core-style PE: the weight operand is a
    4-bit code, bits 0-2 an index into the tensor's dictionary of 8 FP16 centroids (the ``table``
    port, broadcast to every PE for the whole run), bit 3 the outlier flag. Per step:

    * flag 0: ``w = table[index]`` (an 8:1 select of 16 bits), then exactly the FP16 PE's fused
      multiply-add (:meth:`hw.pe_fp16.Fp16PE._fma`, not a copy): the exact FP16 x FP16 product
      added to ``acc_in`` with one FP32 round-to-nearest-even;
    * flag 1 (the weight is an outlier, kept in FP16 outside the dictionary): the step passes
      ``acc_in`` through unchanged. The outlier's product is added after the array by GOBO's
      separate FP path (:class:`hw.gobo_outlier.GoboOutlierUnit`, ``outlier_unit_class``, run
      by the accelerator's outlier pass from a host-loaded outlier buffer,
      :mod:`hw.gobo_outlier_pass`; its golden is step 5 of :mod:`models.gobo_gemm`).

    How outliers travel: as one flag bit in every weight's 4-bit code (the lane is 4 bits per
    weight, 3 for the index + 1 flag: 33 % more weight storage than GOBO's 3-bit indices, which
    keep outlier positions in a separate sparse list); their FP16 values and positions never
    enter the array: they sit in the accelerator's outlier buffer (the sparse list, per n tile). The table costs no per-PE register: 128 flops once per accelerator (host
    written before ``start``) and a 128-bit broadcast bus; each PE has the 8:1 x 16 select.

    Codes: ``act`` FP16 pattern (unsigned 16 bits, no infinity / NaN), ``weight`` unsigned 4-bit
    code, ``table`` 8 FP16 patterns (entry i at bits ``[16 i, 16 i + 16)``, no infinity / NaN),
    ``acc_in`` / ``acc_out`` FP32 patterns; output-stationary only (a float-like accumulator).

    Timing contract: the FP16 PE's: ``k_per_step`` 1, initiation interval 1, latency 1
    (``acc_out`` registered). ``table`` must be stable while steps run. Synchronous reset clears
    ``acc_out`` (``+0``).

    Parameters
    ----------
    None: the formats are fixed (3-bit indices, FP16 centroids and activations, FP32 accumulator).
    """

    weight_width = property(lambda self: WEIGHT_CODE_BITS)
    table_width = property(lambda self: CENTROIDS * CENTROID_BITS)
    table_entry_bits = property(lambda self: CENTROID_BITS)
    index_bits = property(lambda self: INDEX_BITS)
    #: the post-array unit that adds the outliers (the accelerator's outlier pass gives it one lane
    #: per array row: hw.gobo_outlier_pass)
    outlier_unit_class = GoboOutlierUnit

    def elaborate(self, platform):
        m = Module()
        entries = Array(self.table[i * CENTROID_BITS:(i + 1) * CENTROID_BITS] for i in range(CENTROIDS))
        centroid = Signal(CENTROID_BITS)
        m.d.comb += centroid.eq(entries[self.weight[:INDEX_BITS]])
        result = self._fma(m, centroid)
        with m.If(self.valid):
            m.d.sync += self.acc_out.eq(Mux(self.weight[OUTLIER_FLAG_BIT], self.acc_in, result))
        return m
