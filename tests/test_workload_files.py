"""Workloads from files: ONNX models (shape inference) and SCALE-Sim topology CSVs, in `cost`
and `sweep`; per-layer sweep rows."""

import json
import math

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.cost import CostConfig, evaluate, evaluate_gemm
from models.sweep_space import load_space
from models.workload_files import WorkloadFileError, load_workload_file
from models.workloads import Gemm
from sim.cli import main


def run_cli(*argv):
    return main([str(a) for a in argv])


def _init(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def tiny_onnx(path):
    """x (1, 3, 9, 11) -> Conv 4x3x3x3 stride 2 pad 1 -> depth-wise Conv (group 4, 2x2) ->
    Flatten -> Gemm (transB) -> 1x10; and q (2, 5, 7, 6) MatMul k (5, 6, 8) (broadcast batch)."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], name="dw", group=4),
        helper.make_node("Flatten", ["c2"], ["f"]),
        helper.make_node("Gemm", ["f", "wg"], ["y"], name="fc", transB=1),
        helper.make_node("MatMul", ["q", "k"], ["s"], name="scores"),
        helper.make_node("Relu", ["s"], ["r"]),
    ]
    # conv1: 9x11 -> floor((9 + 2 - 3) / 2) + 1 = 5, floor((11 + 2 - 3) / 2) + 1 = 6; dw 2x2: 4x5
    flat = 4 * 4 * 5
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 11]),
         helper.make_tensor_value_info("q", TensorProto.FLOAT, [2, 5, 7, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        initializer=[_init("w1", (4, 3, 3, 3)), _init("w2", (4, 1, 2, 2)), _init("wg", (10, flat)),
                     _init("k", (5, 6, 8))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_onnx_gemms_by_shape_inference(tmp_path):
    gemms = load_workload_file(tiny_onnx(tmp_path / "tiny.onnx"))
    # conv: M = output pixels, K = kernel x input channels per group, N = output channels per
    # group, count = groups (SCALE-Sim's lowering)
    assert gemms == (Gemm("conv1", 5 * 6, 3 * 3 * 3, 4),
                     Gemm("dw", 4 * 5, 2 * 2 * 1, 1, count=4),
                     Gemm("fc", 1, 4 * 4 * 5, 10),
                     Gemm("scores", 7, 6, 8, count=2 * 5))


def test_onnx_symbolic_shape_and_garbage_are_one_line_errors(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"], name="mm")], "sym",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, None)], initializer=[_init("b", (4, 3))])
    onnx.save(helper.make_model(graph), tmp_path / "sym.onnx")
    with pytest.raises(WorkloadFileError, match=r"node mm \(MatMul\): the shape of 'a' is unknown"):
        load_workload_file(tmp_path / "sym.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00 not a model")
    with pytest.raises(WorkloadFileError, match="not a readable ONNX model"):
        load_workload_file(tmp_path / "junk.onnx")


CONV_CSV = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 224, 224, 7, 7, 3, 64, 2,
Conv2, 56, 30, 3, 5, 64, 128, 1, 2,
DP_conv, 28, 28, 3, 3, 32, 1, 1,
"""
GEMM_CSV = """Layer, M, N, K,
fc1, 128, 384, 1536,
fc2, 1, 10, 512,
"""


def test_scalesim_topology_conv_and_gemm_forms(tmp_path):
    (tmp_path / "conv.csv").write_text(CONV_CSV)
    (tmp_path / "gemm.csv").write_text(GEMM_CSV)

    def out(size, kernel, stride):   # SCALE-Sim: ceil((size - kernel + stride) / stride)
        return math.ceil((size - kernel + stride) / stride)

    assert load_workload_file(tmp_path / "conv.csv") == (
        Gemm("Conv1", out(224, 7, 2) ** 2, 7 * 7 * 3, 64),
        Gemm("Conv2", out(56, 3, 1) * out(30, 5, 2), 3 * 5 * 64, 128),   # its own stride width
        Gemm("DP_conv", out(28, 3, 1) ** 2, 3 * 3, 1, count=32))         # depth-wise: per channel
    # GEMM form columns are M, N, K (SCALE-Sim's -i gemm order)
    assert load_workload_file(tmp_path / "gemm.csv") == (Gemm("fc1", 128, 1536, 384),
                                                         Gemm("fc2", 1, 512, 10))


@pytest.mark.parametrize("text, named", [
    ("Layer, M, N, K,\nfc, 1, 2,\n", "line 2 (fc): expected 3 numbers"),
    ("Layer, M, N, K,\nfc, 1, two, 3,\n", "line 2 (fc): expected whole numbers"),
    ("h\nc, 4, 4, 5, 5, 1, 1, 1,\n", "line 2 (c): the filter (5x5) is larger than the IFMAP (4x4)"),
    ("Layer, M, N, K,\n", "no GEMM, MatMul or Conv layer"),
])
def test_bad_topology_is_one_line_exit_2(tmp_path, capsys, text, named):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert run_cli("cost", "--pe", "int8", "--rows", 4, "--cols", 4, "--workload", path) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and len(err.splitlines()) == 1, err
    assert run_cli("cost", "--pe", "int8", "--rows", 4, "--cols", 4, "--workload",
                   tmp_path / "missing.onnx") == 2
    assert "cannot read workload file" in capsys.readouterr().err


def test_cost_cli_takes_a_workload_file(tmp_path, capsys):
    path = tiny_onnx(tmp_path / "tiny.onnx")
    assert run_cli("cost", "--pe", "int8", "--rows", 4, "--cols", 4, "--workload", path, "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    # the command's default basis with its default (measured) activity: sim
    direct = evaluate(CostConfig("int8", 4, 4, energy_basis="sim"), load_workload_file(path))
    assert printed["cycles"] == direct.cycles and printed["energy_total_pj"] == direct.energy_total_pj
    assert [layer["name"] for layer in printed["layers"]] == ["conv1", "dw", "fc", "scores"]


def test_sweep_on_files_with_per_layer_rows(tmp_path, capsys):
    nets = tmp_path / "nets"
    nets.mkdir()
    tiny_onnx(nets / "tiny.onnx")
    (nets / "gemm.csv").write_text(GEMM_CSV)
    space_path = tmp_path / "space.toml"
    space_path.write_text("""
kinds = ["int8", "lut"]
rows = [2, 4]
cols = [4]
dataflows = ["ws"]
out_kib = [0.0625, 64]
workloads = ["nets/tiny.onnx", "nets/gemm.csv"]
per_layer = true
[options.lut]
weight_bits = [2, 7]
""")
    out = tmp_path / "out"
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    # 3 kind settings x 2 shapes x 2 output buffers x 2 workloads; lut weight_bits 7 refused
    assert "24 rows (16 ok, 8 refused; 24 evaluated in this run) and 48 per-layer rows" in \
        capsys.readouterr().out
    results = pd.read_parquet(out / "results.parquet")
    space = load_space(space_path)
    totals = results[results.layer.isna()]
    layers = results[results.layer.notna()]
    assert len(totals) == len(space.points) * 2
    assert len(layers) == 8 * (4 + 2)      # per ok point: 4 ONNX GEMMs, 2 CSV GEMMs
    for row in totals[totals.status == "ok"].itertuples():
        point = next(p for p in space.points if p.key == row.design_hash)
        workload = next(w for w in space.workloads if w.name == row.workload)
        config = point.cost_config()
        mine = layers[(layers.design_hash == row.design_hash) & (layers.workload == row.workload)]
        assert list(mine.layer) == [g.name for g in workload.gemms]
        # a layer row is one instance of its GEMM, exactly as the scalar model prices it
        for gemm, layer in zip(workload.gemms, mine.itertuples()):
            scalar = evaluate_gemm(config, gemm)
            assert (layer.layer_m, layer.layer_k, layer.layer_n, layer.layer_count) == \
                (gemm.m, gemm.k, gemm.n, gemm.count)
            assert layer.cycles == scalar.cycles and layer.energy_uj == scalar.energy_total_pj * 1e-6
            assert layer.tops == scalar.tops and layer.tops_per_w == scalar.tops_per_w
            assert layer.energy_dram_out_pj == scalar.energy_pj["dram_out"]
        assert (mine.cycles * mine.layer_count).sum() == row.cycles
    # the fronts use workload rows only
    fronts = pd.read_csv(out / "fronts" / "pareto.csv")
    assert fronts.layer.isna().all()


def test_resumed_with_per_layer_newly_on_adds_the_layer_rows(tmp_path, capsys):
    text = """
kinds = ["int8"]
rows = [2, 4]
cols = [4]
dataflows = ["ws"]
workloads = ["64x256x48", "minilm-l6"]
"""
    space_path = tmp_path / "space.toml"
    space_path.write_text(text)
    out = tmp_path / "out"
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    before = pd.read_parquet(out / "results.parquet")
    space_path.write_text(text + "per_layer = true\n")
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    assert "4 evaluated in this run) and 18 per-layer rows" in capsys.readouterr().out
    after = pd.read_parquet(out / "results.parquet")
    assert after.key.is_unique and len(after) == 4 + 2 * (1 + 8)
    totals = after[after.layer.isna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(totals.drop(columns="index"), before.drop(columns="index"))
    # and a third run has nothing left to do
    assert run_cli("sweep", space_path, "--out", out, "--workers", "0") == 0
    assert "0 evaluated in this run" in capsys.readouterr().out


def test_space_with_a_bad_workload_file_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("Layer, M, N, K,\nfc, 1, 2,\n")
    for name, named in (("bad.csv", "line 2 (fc): expected 3 numbers"),
                        ("missing.onnx", "cannot read workload file")):
        space = tmp_path / "space.toml"
        space.write_text(f'kinds = ["int8"]\nrows = [2]\ncols = [2]\nworkloads = ["{name}"]\n')
        assert run_cli("sweep", space, "--out", tmp_path / "out", "--workers", "0") == 2
        err = capsys.readouterr().err.strip()
        assert "workloads:" in err and named in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "out").exists()
