"""A SmolLM2 linear's float weights for a test, or the test skipped when the model is missing."""

import pytest


def smollm2_linear(name):
    """The dequantised (K x N) weight of the SmolLM2 linear ``name`` (e.g. ``blk.3.ffn_down``);
    skips the calling test when the model package or file is not installed."""
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        return smollm2.load_smollm2().linears[name]
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
