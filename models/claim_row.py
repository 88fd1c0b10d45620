"""One row of ``claims.csv``: verdict and decomposition of a measured chain of ratios.

A chain is [(step, what changed, ratio after the step)], starting with ("common", "", the ratio
measured in the common configuration) and ending with the ratio measured in the paper's
configuration, each step changing one thing (:mod:`models.claims` for the cost-model claims,
:mod:`models.lmul_claims` for the synthesised L-Mul ones). Its factors telescope: their product is
exactly paper-config / common. A row may also carry ``beyond``: steps measured past the paper
configuration (the paper's own PE figures, cycle formula or bit widths run through this project's
model, :mod:`models.claim_factors`; another operand format), which account for part of the
residual paper / paper-config; they are reported as ``residual_factors``, never enter the verdict,
and count in ``decomposition_within_15pct``: all measured factors (chain x past) against the gap
(against the paper's range, widened by the tolerance at each end, when it states one).
"""

from __future__ import annotations

import math

#: a paper-config ratio within this relative distance of the paper's counts as reproduced
TOLERANCE = 0.30
#: the decomposition's product should be within this relative distance of the gap
DECOMPOSITION_TOLERANCE = 0.15
#: a factor closer to 1 than this is left out of the decomposition text (it stays in ``factors``)
NEGLIGIBLE = 0.005
COLUMNS = ("paper", "claim", "paper_ratio", "paper_config", "measured_ratio_paper_config",
           "measured_ratio_common_array", "verdict", "like_for_like", "decomposition",
           "decomposition_product", "gap", "decomposition_within_15pct", "metric", "note", "factors",
           "residual_factors")


def factors_of(steps):
    """[(step, what changed, factor)]: each step's ratio over the one before."""
    return [(name, what, r / prev) for (_, _, prev), (name, what, r) in zip(steps, steps[1:])]


def verdict(measured, claim_ratio, claim_range=None):
    lo, hi = claim_range or (claim_ratio, claim_ratio)
    ok = lo * (1 - TOLERANCE) <= measured <= hi * (1 + TOLERANCE)
    return "reproduced" if ok else "differs"


def row(paper, claim, paper_ratio, paper_config, steps, like_for_like, metric, note="",
        paper_range=None, beyond=(), unreproducible=False):
    """One claims.csv row from a measured chain ``steps`` (see the module docstring); ``beyond``:
    [(step, what changed, ratio after the step)] continuing from the paper configuration.
    ``unreproducible``: the paper's number is not one this tool can measure (a GPU result, an
    unverified figure; ``note`` says why), so the verdict is ``unreproducible`` whatever the ratio:
    a systolic stand-in that lands near a GPU figure has not reproduced it."""
    common, measured = steps[0][2], steps[-1][2]
    factors = factors_of(steps)
    product = math.prod(f for _, _, f in factors)
    extra = factors_of([("paper config", "", measured), *beyond])
    past = math.prod(f for _, _, f in extra)
    gap = paper_ratio / common
    v = "unreproducible" if unreproducible else verdict(measured, paper_ratio, paper_range)
    # every measured factor counts: the chain to the paper config and the factors past it; a
    # stated range is the target as the verdict reads it (its ends widened by the tolerance)
    lo, hi = paper_range or (paper_ratio, paper_ratio)
    explained = common * product * past
    within = lo * (1 - DECOMPOSITION_TOLERANCE) <= explained <= hi * (1 + DECOMPOSITION_TOLERANCE)
    text = ""
    if v != "reproduced":
        shown = [f"{name} ({what}): x{f:.3g}" for name, what, f in factors if abs(f - 1) >= NEGLIGIBLE]
        text = ("; ".join(shown) or "no measured factor") + f" = x{product:.3g} (common -> paper config)"
        if extra:
            text += ("; measured past the paper config: "
                     + "; ".join(f"{name} ({what}): x{f:.3g}" for name, what, f in extra)
                     + f" = x{past:.3g} of the residual x{paper_ratio / measured:.3g}")
        target = f"gap x{gap:.3g}" if paper_range is None else f"gap x{lo / common:.3g}..x{hi / common:.3g}"
        text += (f"; all measured factors x{product * past:.3g} vs {target} (paper / common): "
                 + ("within" if within else "NOT within") + f" +-{DECOMPOSITION_TOLERANCE:.0%}; "
                 f"unexplained residual x{paper_ratio / measured / past:.3g}" + (f": {note}" if note else ""))
    return {"paper": paper, "claim": claim, "paper_ratio": paper_ratio, "paper_config": paper_config,
            "measured_ratio_paper_config": round(measured, 4), "measured_ratio_common_array": round(common, 4),
            "verdict": v, "like_for_like": like_for_like, "decomposition": text,
            "decomposition_product": round(product, 4), "gap": round(gap, 4),
            "decomposition_within_15pct": within if v != "reproduced" else None, "metric": metric,
            "note": note,
            "factors": [{"step": name, "change": what, "factor": f} for name, what, f in factors],
            "residual_factors": [{"step": name, "change": what, "factor": f} for name, what, f in extra]}
