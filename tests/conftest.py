"""Session fixtures shared by test files, and how ``make test`` spreads tests over its workers."""

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.report_fixture import CI_DESIGNS, build_small_report

# the test files reading :func:`small_report` (a file missing here still passes: its worker builds
# a second report)
SMALL_REPORT_FILES = ("tests/test_report.py", "tests/test_report_array_energy.py",
                      "tests/test_report_browser.py", "tests/test_report_energy_check.py",
                      "tests/test_report_post_array.py")


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """(folder, exit code) of the one report of :data:`CI_DESIGNS` the default run builds."""
    root = tmp_path_factory.mktemp("report")
    return root / "ci", build_small_report(root, "ci", tmp_path_factory, CI_DESIGNS)


class _SmallReportOnOneWorker(LoadScopeScheduling):
    """pytest-xdist's per-test load balancing, except that the tests of :data:`SMALL_REPORT_FILES`
    are one unit, sent to one worker first (the largest unit), so the report, the suite's longest
    step when cold (Verilator builds, synthesis, STA, gate simulation), is built once while the
    other workers share the rest. (``--dist loadgroup`` with ``xdist_group`` marks would do it, but
    with pytest 9.2 xdist 3.8's group suffix on the node id is lost: every worker built it.)"""

    def _split_scope(self, nodeid):
        return "small_report" if nodeid.split("::")[0] in SMALL_REPORT_FILES else nodeid


def pytest_xdist_make_scheduler(config, log):
    return _SmallReportOnOneWorker(config, log)
