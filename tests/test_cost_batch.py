"""The batch cost model equals the scalar one, bit for bit, on every registered variant."""

import itertools

import numpy as np

from models import cost
from models.cost import CostConfig, evaluate
from models.cost_batch import evaluate_batch, point_model
from models.registry import PE_KINDS
from models.workloads import Gemm, get_workload
from sim.sweep import batch_metrics, cost_metrics

# shapes, nodes and buffer sizes (KiB) that reach every branch of the traffic model: buffers
# that hold everything, an act buffer too small (A re-fetched per n tile), an output buffer
# smaller than M (ws partial sums spill), a weight buffer too small (os W re-fetched)
SETTINGS = [
    dict(rows=2, cols=4, node=45, act_kib=64, weight_kib=64, out_kib=64),
    dict(rows=8, cols=8, node=7, act_kib=16, weight_kib=1, out_kib=0.5),
    dict(rows=16, cols=4, node=28, act_kib=1, weight_kib=0.25, out_kib=128, clock_mhz=333.0),
    dict(rows=4, cols=16, node=22, act_kib=256, weight_kib=64, out_kib=8, dram="hbm2"),
]
WORKLOAD = (*get_workload("minilm-l6"), *get_workload("llama2-7b-decode"), Gemm("odd", 37, 3, 129, 5))
TOTALS = ("area_total_um2", "cycles", "macs", "energy_total_pj", "utilisation", "macs_per_cycle",
          "tops", "tops_per_w", "tops_per_mm2", "latency_s", "tops_roofline", "tops_roofline_per_mm2")
LAYER = ("cycles", "folds", "utilisation", "energy_total_pj", "compute_s", "dram_s", "memory_bound",
         "tops", "tops_per_w")


def _configs():
    configs = []
    for kind in PE_KINDS.values():
        for (_, options), dataflow, setting in itertools.product(kind.variants, ("ws", "os"), SETTINGS):
            configs.append(CostConfig(kind.name, dataflow=dataflow, pe_options=tuple(options), **setting))
    return configs


def test_batch_equals_the_scalar_model_on_every_variant():
    configs = _configs()
    batch = evaluate_batch(configs, WORKLOAD)
    evaluated = refused = 0
    for i, config in enumerate(configs):
        try:
            scalar = evaluate(config, WORKLOAD)
        except Exception as e:   # the same refusal, with the same message
            assert type(batch.errors[i]) is type(e) and str(batch.errors[i]) == str(e), config
            refused += 1
            continue
        assert batch.errors[i] is None, (config, batch.errors[i])
        evaluated += 1
        for name in TOTALS:   # == on floats: equal to the last bit
            assert getattr(batch, name)[i] == getattr(scalar, name), (config, name)
        for group, value in scalar.area_um2.items():
            assert batch.area_um2[group][i] == value, (config, group)
        for group, value in scalar.energy_pj.items():
            assert batch.energy_pj[group][i] == value, (config, group)
        assert batch.memory_bound_layers(i) == scalar.memory_bound_layers
        for li, layer in enumerate(scalar.layers):
            for name in LAYER:
                assert getattr(batch, f"layer_{name}")[i, li] == getattr(layer, name), (config, li, name)
            for group, value in layer.energy_pj.items():
                assert batch.layer_energy_pj[group][i, li] == value, (config, li, group)
            for buffer, value in layer.dram_bytes.items():
                assert batch.layer_dram_bytes[buffer][i, li] == value, (config, li, buffer)
    # the sample reaches every kind, both memory-bound and compute-bound layers, and refusals
    assert evaluated > 100 and refused > 0
    assert {c.pe for c, e in zip(configs, batch.errors) if e is None} == set(PE_KINDS)
    assert batch.layer_memory_bound.any() and not batch.layer_memory_bound.all()


def test_point_model_equals_the_model_read_from_the_built_design():
    """The batch's per-point model (facts from a probe, depths from the shared functions) is the
    scalar model's (facts read from the accelerator built at the point's buffer depths)."""
    grouped = 0
    for config in _configs():
        try:
            expected = cost._model(config)
        except Exception:
            continue
        assert point_model(config) == expected, config
        grouped += "param" in expected.word_bits   # the group buffers' depths are derived too
    assert grouped > 0


def test_batch_errors_are_per_point_and_others_go_on():
    good = CostConfig("int8", 4, 4)
    bad = CostConfig("shiftadd", 3, 4, pe_options=(("group_size", 128),))   # 128 % (3 * 4) != 0
    batch = evaluate_batch([good, bad, good], [Gemm("g", 8, 64, 8)])
    assert batch.errors[0] is None and batch.errors[2] is None
    assert batch.errors[1] is not None and "group_size" in str(batch.errors[1])
    assert batch.cycles[0] == batch.cycles[2] == evaluate(good, (8, 64, 8)).cycles
    assert np.isnan(batch.energy_total_pj[1])


def test_counts_beyond_exact_int64_and_float_division_use_the_scalar_model():
    """A point whose cycles reach 2**53 (macs / cycles would round differently in numpy) and a
    workload whose MACs do: the scalar model's numbers, exactly, Python ints included."""
    config = CostConfig("int8", 8, 8)
    for count in (2 ** 50, 2 ** 60):
        workload = [Gemm("tiny", 1, 1, 1, count=count), Gemm("small", 16, 16, 16)]
        batch = evaluate_batch([config], workload)
        scalar = evaluate(config, workload)
        assert scalar.cycles >= 2 ** 53
        for name in TOTALS:
            assert getattr(batch, name)[0] == getattr(scalar, name), (count, name)


def test_sweep_rows_from_the_batch_equal_rows_from_the_scalar_model():
    configs = _configs()[::7]
    batch = evaluate_batch(configs, WORKLOAD)
    compared = 0
    for i, config in enumerate(configs):
        if batch.errors[i] is None:
            assert batch_metrics(batch, i) == cost_metrics(evaluate(config, WORKLOAD)), config
            compared += 1
    assert compared > 10
