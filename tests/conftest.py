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
    cold report (Verilator builds, synthesis, STA, gate simulation) is the suite's longest step."""
    for item in items:
        if "small_report" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("small_report"))
