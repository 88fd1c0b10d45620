"""The external tools the tests need: under CI (``CI=true``) a missing tool fails the test (CI
installs them), elsewhere the test is skipped with the reason."""

import os

import pytest

from models import sta, synth


def require(check, errors, what):
    """Run ``check``; on one of ``errors`` fail under CI, else skip, naming ``what`` is missing."""
    try:
        check()
    except errors as e:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"CI must run the {what}: {e}")
        pytest.skip(str(e))


def require_synthesis():
    """Yosys and the osu018 liberty."""
    require(lambda: (synth.find_yosys(), synth.liberty_path()), synth.SynthesisError,
            "synthesis checks")


def require_sta():
    """Yosys, the liberty and OpenSTA."""
    require_synthesis()
    require(sta.find_sta, sta.StaError, "timing and power checks")


def signed_field(value, lo, n):
    """The two's-complement ``n``-bit field of ``value`` starting at bit ``lo``."""
    x = (int(value) >> lo) & ((1 << n) - 1)
    return x - (1 << n) if x >> (n - 1) else x
