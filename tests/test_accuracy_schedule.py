"""The accuracy runs' longest-first order of designs over the worker processes."""

import pytest

from sim import accuracy as run_acc
from sim.accuracy_schedule import ESTIMATED_CPU_S, estimate, longest_first


def _supported_labels():
    return [d.label for d in run_acc.registry_designs() if run_acc.supported(d) is None]


@pytest.mark.parametrize("model", run_acc.MODELS)
def test_every_design_and_the_reference_have_an_estimate(model):
    """A stale table (a renamed or new variant) would schedule that design first, blind."""
    missing = [label for label in ["fp32", *_supported_labels()] if estimate(model, label) is None]
    assert missing == []
    assert {m for m, _ in ESTIMATED_CPU_S} == set(run_acc.MODELS)


@pytest.mark.parametrize("model", run_acc.MODELS)
def test_longest_estimate_first(model):
    labels = _supported_labels()
    order = longest_first([(model, label) for label in labels])
    assert sorted(order) == list(range(len(labels)))
    costs = [estimate(model, labels[i]) for i in order]
    assert costs == sorted(costs, reverse=True)
    # the registry's own order is not already longest first: the schedule changes something
    assert order != list(range(len(labels)))


def test_unknown_designs_go_first_and_ties_keep_their_order():
    known = sorted((label for m, label in ESTIMATED_CPU_S if m == "smollm2"),
                   key=lambda label: estimate("smollm2", label))
    shortest, longest = known[0], known[-1]
    labels = [shortest, "new design A", longest, "new design B"]
    assert longest_first([("smollm2", label) for label in labels]) == [1, 3, 2, 0]


def test_a_long_last_design_no_longer_runs_alone(monkeypatch):
    """Greedy list scheduling on 2 workers (a worker takes the next task when it is free): the
    long design last in the given order runs alone at the end; longest first, it does not."""
    costs = {("m", "a"): 1.0, ("m", "b"): 1.0, ("m", "c"): 1.0, ("m", "d"): 1.0, ("m", "long"): 4.0}
    monkeypatch.setattr("sim.accuracy_schedule.ESTIMATED_CPU_S", costs)
    tasks = list(costs)

    def finish(order):
        loads = [0.0, 0.0]
        for i in order:
            loads[loads.index(min(loads))] += costs[tasks[i]]
        return max(loads)
    assert finish(range(len(tasks))) == 6.0
    assert longest_first(tasks) == [4, 0, 1, 2, 3]
    assert finish(longest_first(tasks)) == 4.0
