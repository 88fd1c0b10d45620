"""The report's "acceptable accuracy" threshold: which designs the decision table may recommend.

A design whose quality is over the threshold is unusable however efficient it is (LUT W1A8 gains
TOPS/W by losing millions of percent of perplexity), so the decision table greys it, and the Pareto
front, the stars and the one-line answer are computed among the acceptable designs only. The
threshold applies to the metric the decision table ranks on (:func:`sim.report_html.model_metric`):
SmolLM2's perplexity increase over fp32 when it was measured, else MiniLM-L6's similarity Spearman
against fp32, else only the GEMM-level quality (the dequantised GEMM output's SQNR on the real
MiniLM tensors) is available. Each limit is overridable on the command line (``pearray report
--max-delta-ppl`` / ``--min-spearman`` / ``--min-sqnr``).
"""

import math
from dataclasses import dataclass

import numpy as np

# the defaults (choices, stated on the page and overridable):
# - 5 % perplexity increase: a loss a user would still call small (a choice, not a measured
#   boundary; the page says which designs it admits and the flag that moves it)
# - Spearman 0.95 against the fp32 model's similarities: the sentence ranking is kept
# - 20 dB GEMM output SQNR (a relative error of 10 %): on the whole real MiniLM tensors INT8 with
#   per-tensor activation scales reaches 24.5 dB, group-128 4-bit weights with 8-bit activations
#   about 20-21 dB, and 1- and 2-bit weights under 8 dB (a --quick report's quant_error.csv)
DEFAULT_MAX_DELTA_PPL_PCT = 5.0
DEFAULT_MIN_SPEARMAN = 0.95
DEFAULT_MIN_SQNR_DB = 20.0


@dataclass(frozen=True)
class Limit:
    """One metric's limit: ``column`` of the decision frame, ``sign`` +1 (at least ``value``) or -1
    (at most ``value``), ``text`` naming it for a reader, ``flag`` the option that sets it."""
    column: str
    sign: int
    value: float
    text: str
    flag: str

    def describe(self):
        """The limit as a reader reads it, e.g. ``SmolLM2 Δ perplexity ≤ +5 %``."""
        return self.text.format(value=self.value)

    def accepts(self, values):
        """True where a value is within the limit; False where it is over it or unknown (NaN)."""
        values = np.asarray(values, float)
        with np.errstate(invalid="ignore"):
            ok = values >= self.value if self.sign > 0 else values <= self.value
        return ok & ~np.isnan(values)


@dataclass(frozen=True)
class Acceptance:
    """The accuracy a design must reach to be recommended, one limit per quality metric the
    decision table can rank on (only the ranking metric's limit applies)."""
    max_delta_ppl_pct: float = DEFAULT_MAX_DELTA_PPL_PCT
    min_spearman: float = DEFAULT_MIN_SPEARMAN
    min_sqnr_db: float = DEFAULT_MIN_SQNR_DB

    def __post_init__(self):
        for name in ("max_delta_ppl_pct", "min_spearman", "min_sqnr_db"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, not {getattr(self, name)}")
        if self.max_delta_ppl_pct < 0:
            raise ValueError(f"max_delta_ppl_pct must be >= 0, not {self.max_delta_ppl_pct}")
        if not -1 <= self.min_spearman <= 1:
            raise ValueError(f"min_spearman must be in [-1, 1], not {self.min_spearman}")

    @property
    def limits(self):
        """{decision-frame quality column: its :class:`Limit`}."""
        return {"delta_ppl_pct": Limit("delta_ppl_pct", -1, self.max_delta_ppl_pct,
                                       "SmolLM2 Δ perplexity ≤ +{value:g} %", "--max-delta-ppl"),
                "spearman_fp32": Limit("spearman_fp32", +1, self.min_spearman,
                                       "MiniLM-L6 similarity Spearman vs fp32 ≥ {value:g}", "--min-spearman"),
                "gemm_out_sqnr_db": Limit("gemm_out_sqnr_db", +1, self.min_sqnr_db,
                                          "GEMM output SQNR ≥ {value:g} dB", "--min-sqnr")}

    def limit(self, metric):
        """The :class:`Limit` of ``metric`` (a column of :data:`limits`)."""
        return self.limits[metric]
