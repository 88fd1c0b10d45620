"""Session fixtures shared by test files."""

import pytest

from tests.report_fixture import CI_DESIGNS, build_small_report


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """(folder, exit code) of the one report of :data:`CI_DESIGNS` the default run builds."""
    root = tmp_path_factory.mktemp("report")
    return root / "ci", build_small_report(root, "ci", tmp_path_factory, CI_DESIGNS)
