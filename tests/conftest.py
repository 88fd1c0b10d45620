"""Session fixtures shared by test files."""

import pytest

from tests.report_fixture import CI_DESIGNS, build_small_report


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """(folder, exit code) of the one report of :data:`CI_DESIGNS` the default run builds."""
    root = tmp_path_factory.mktemp("report")
    return root / "ci", build_small_report(root, "ci", tmp_path_factory, CI_DESIGNS)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n auto --dist loadgroup``) every test reading
    :func:`small_report` goes to one worker: a session fixture is built once per worker, and a
    cold report (Verilator builds, synthesis, STA, gate simulation) is the suite's longest step.
    Those tests come first (a stable sort: every other test keeps its place), so the report's
    worker starts on it while the others share the rest, rather than building it alone at the end."""
    for item in items:
        if _reads_small_report(item):
            item.add_marker(pytest.mark.xdist_group("small_report"))
    items.sort(key=lambda item: not _reads_small_report(item))


def _reads_small_report(item):
    return "small_report" in getattr(item, "fixturenames", ())
