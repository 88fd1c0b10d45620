"""The claims table in the report (``claims.csv``, the page's "Papers' claims" section, the head of
summary.md) and in ``pearray claims``' text output. Rows: :func:`models.claims.claims_table`."""

from __future__ import annotations

import json

import pandas as pd

from models.claim_row import COLUMNS, DECOMPOSITION_TOLERANCE, TOLERANCE
from models.claims import claims_table

COLUMNS_DOC = (
    "paper, claim, paper_ratio (the paper's number as 'x times better'; the FP8-vs-INT8 row: x times "
    "more energy; L-Mul: 95 % saving = 20x, 80 % = 5x), paper_config (the paper's configuration, one "
    "line; models/claims_configs.py), measured_ratio_paper_config (cost model under that "
    "configuration; L-Mul: synthesis + OpenSTA), measured_ratio_common_array (the same designs, 32x32 "
    "each, 500 MHz, 45 nm, MiniLM-L6, system), verdict (reproduced: paper config within "
    f"+-{TOLERANCE:.0%} of the paper; differs; unreproducible: a GPU or unverified figure, the row "
    "measures the closest hardware comparison), like_for_like (yes/no/partly and why), decomposition "
    "(a claim that differs: the factors measured by changing one thing at a time from the common to "
    "the paper configuration, their product, then the factors measured past it, the gap paper / common, "
    f"whether all measured factors multiply to within +-{DECOMPOSITION_TOLERANCE:.0%} of it, the "
    "unexplained residual and its reason), decomposition_product (the chain to the paper config), gap, "
    "decomposition_within_15pct, metric (speedup / energy / density / energy_cost), note (baselines "
    "not built, unreproducible figures), factors (JSON: every step and its factor), residual_factors "
    "(JSON: steps measured past the paper configuration, each substituting one of the paper's own "
    "figures or formulas into this project's model (models/claim_factors.py) or e.g. the L-Mul parts "
    "in wider formats; they account for part of the residual, count in decomposition_within_15pct and "
    "never enter the verdict)")


def claims_frame(quick=False):
    """claims.csv as a DataFrame (``factors`` and ``residual_factors`` as JSON text)."""
    rows = claims_table(quick=quick)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("factors", "residual_factors"):
        frame[column] = [json.dumps(f) for f in frame[column]]
    return frame


def _x(value):
    return f"{value:.3g}x"


def claims_text(rows, quick=False):
    """The table as plain text for the terminal: one line per claim, then each decomposition."""
    head = f"{'paper':28s} {'claim':50s} {'paper':>7s} {'paper cfg':>9s} {'common':>8s}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['paper'][:28]:28s} {r['claim'][:50]:50s} {_x(r['paper_ratio']):>7s} "
                     f"{_x(r['measured_ratio_paper_config']):>9s} {_x(r['measured_ratio_common_array']):>8s}  "
                     f"{r['verdict']}")
    lines.append("")
    for r in rows:
        lines.append(f"* {r['paper']}: {r['claim']}")
        lines.append(f"    config: {r['paper_config']}")
        lines.append(f"    like for like: {r['like_for_like']}")
        if r["decomposition"]:
            lines.append(f"    decomposition: {r['decomposition']}")
        elif r["note"]:
            lines.append(f"    note: {r['note']}")
    lines.append(tally(rows))
    if quick:
        lines.append("(--quick: every paper workload replaced by MiniLM-L6)")
    return "\n".join(lines)


def tally(rows):
    """One line: how many claims are reproduced, and how many of the others have a decomposition
    within the tolerance of their gap (issue 16's target)."""
    differ = [r for r in rows if r["verdict"] != "reproduced"]
    explained = sum(bool(r["decomposition_within_15pct"]) for r in differ)
    unreproducible = sum(r["verdict"] == "unreproducible" for r in rows)
    return (f"{len(rows) - len(differ)} of {len(rows)} claims reproduced within +-{TOLERANCE:.0%} under "
            f"the paper's configuration ({unreproducible} cannot be measured here: GPU or unverified "
            f"figures); {explained} of the {len(differ)} not reproduced have factors within "
            f"+-{DECOMPOSITION_TOLERANCE:.0%} of their gap (the rest: see each residual)")


def claims_markdown(frame):
    """The summary's claims table (Markdown) and its tally."""
    shown = frame[["paper", "claim", "paper_ratio", "measured_ratio_paper_config",
                   "measured_ratio_common_array", "verdict", "like_for_like"]].copy()
    for c in ("paper_ratio", "measured_ratio_paper_config", "measured_ratio_common_array"):
        shown[c] = [_x(v) for v in shown[c]]
    shown.columns = ["paper", "claim", "paper", "measured (paper config)", "measured (common 32x32)",
                     "verdict", "like for like"]
    return shown.to_markdown(index=False) + "\n\n" + tally(frame.to_dict(orient="records"))


def claims_section(data, table, link):
    """The page section; ``table`` and ``link`` are :mod:`sim.report_html`'s helpers."""
    c = data["claims.csv"]
    return (f"<p class='note'>Each claim under its paper's configuration (models/claims_configs.py) and "
            f"in the common setting (32x32, 500 MHz, 45 nm, MiniLM-L6, system); reproduced = within "
            f"+-{TOLERANCE:.0%}. {link('claims.csv')}</p>"
            + table(c, {"paper": "paper", "claim": "claim", "paper_ratio": "paper",
                        "measured_ratio_paper_config": "measured, paper config",
                        "measured_ratio_common_array": "measured, common 32x32", "verdict": "verdict",
                        "like_for_like": "like for like?", "decomposition": "decomposition of the gap"},
                    {c: _x for c in ("paper_ratio", "measured_ratio_paper_config",
                                     "measured_ratio_common_array")}))

