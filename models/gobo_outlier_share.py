"""The share of outlier weights the GOBO quantiser (:func:`models.gobo_format.quantize_gobo`, 3
sigma) leaves in MiniLM-L6's 36 linear layers, measured: 75335 of 10616832 weights
(``tests/test_gobo_outlier.py`` re-measures it, ``slow``). The cost model gives a GOBO GEMM,
whose weights it does not see, this share of outliers (:func:`expected_outlier_columns`), which
the outlier pass then adds (:mod:`models.cost`).

A module of its own, importing nothing: :mod:`models.inventory` needs the figure and
:mod:`models.gobo_outlier` (which imports the FP16 inventory, which imports
:mod:`models.inventory`) documents it, so either holding it would close an import cycle.
"""

#: outlier weights / all weights of MiniLM-L6's linear layers under the GOBO quantiser
MINILM_OUTLIER_FRACTION = 75335 / 10616832


def expected_outlier_columns(k, n):
    """The column of each outlier the cost model assumes for a K x N GOBO weight matrix:
    ``round(MINILM_OUTLIER_FRACTION * k)`` in every column (the measured share, spread evenly)."""
    per_column = round(MINILM_OUTLIER_FRACTION * k)
    return [c for c in range(n) for _ in range(per_column)]
