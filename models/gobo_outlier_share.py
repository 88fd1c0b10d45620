"""The share of outlier weights the GOBO quantiser (:func:`models.gobo_format.quantize_gobo`, 3
sigma) leaves in MiniLM-L6's 36 linear layers, measured: 75335 of 10616832 weights
(``tests/test_gobo_outlier.py`` re-measures it, ``slow``). The cost model charges GOBO's outlier
unit this many ops per MAC (:func:`models.inventory.outlier_items`).

A module of its own, importing nothing: :mod:`models.inventory` needs the figure and
:mod:`models.gobo_outlier` (which imports the FP16 inventory, which imports
:mod:`models.inventory`) documents it, so either holding it would close an import cycle.
"""

#: outlier weights / all weights of MiniLM-L6's linear layers under the GOBO quantiser
MINILM_OUTLIER_FRACTION = 75335 / 10616832
