"""The GOBO design: its GEMM golden model (array words and the outlier path after it) against an
exact-rational restatement, the quantiser's definition on real MiniLM tensors, Amaranth's
simulator and Verilator on the case table (a different table register per case), the
output-stationary-only rule, the quantiser's refusals and the command line."""

import json

import numpy as np
import pytest

from hw.accelerator import Accelerator, IncompatibleOptions
from hw.pe import facts_only
from hw.pe_gobo import CENTROIDS, OUTLIER_FLAG_BIT
from models.cycles import gemm_cycles, outlier_columns, outlier_pass_cycles
from models.design import DesignConfig
from models.fp16_gemm import decode_fp16, decode_fp32
from models.gobo_format import OUTLIER_SIGMAS, GoboDictionary, fit_centroids, gobo_weight_values, quantize_gobo
from models.gobo_gemm import DEFAULT_DICTIONARY, gobo_gemm
from models.quant import quantize, relative_error
from models.realdata import get_tensor, real_gemm
from models.registry import get_kind
from sim import cli
from tests.cases_gobo import GOBO_CASES
from tests.test_gobo_outlier import restated_pass_cycles
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params
from tests.test_pe_fp16 import fp16_value, fp32_add_rne, fp32_value

KIND = get_kind("gobo")


def _restated(acts, weights, table, outliers=()):
    """Plain Python: per output, the flag-0 steps' exact products added with one FP32 RNE each in
    k order, then (k, n, value) outliers of the column in k order (the module's steps 1-5)."""
    out = []
    for row in acts.tolist():
        words = []
        for n in range(weights.shape[1]):
            acc = 0
            for k, a in enumerate(row):
                code = int(weights[k, n])
                if not code >> OUTLIER_FLAG_BIT:
                    w = table[code & (CENTROIDS - 1)]
                    acc = fp32_add_rne(acc, fp16_value(a) * fp16_value(w), (a ^ w) >> 15)
            for k, on, v in sorted((k, on, v) for k, on, v in outliers if on == n):
                acc = fp32_add_rne(acc, fp16_value(row[k]) * fp16_value(v), (row[k] ^ v) >> 15)
            words.append(acc)
        out.append(words)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("case", [c for c in GOBO_CASES if c.k <= 40], ids=lambda c: c.id)
def test_golden_model_is_a_sequence_of_rounded_fp32_additions(case):
    acts, weights, table = case.make_job_operands()
    golden = KIND.golden_gemm(acts, weights, case.design().facts.pe, table)
    assert np.array_equal(golden & 0xFFFFFFFF, _restated(acts, weights, table.centroids, table.outliers))


def test_outliers_are_added_after_the_array_in_k_order():
    kind, pe = KIND, KIND.prototype()
    ops = kind.operands(*real_gemm("minilm:L0.ffn2", 3, 200, 6), pe)
    o = ops.weights_meta["outliers"]
    assert len(o["k"]) >= 3                              # the slice has outliers to add
    raw = kind.golden(ops, pe)
    got = kind.dequantize_output(raw, ops.acts, ops.acts_meta, ops.weights_meta, pe)
    want = _restated(ops.acts, ops.weights, ops.extra.centroids, list(zip(o["k"], o["n"], o["value"])))
    assert np.array_equal(got, np.vectorize(lambda w: float(fp32_value(int(w))))(want))


def test_quantiser_follows_its_definition_on_a_whole_minilm_tensor():
    w = np.asarray(get_tensor("minilm:L0.ffn1"), dtype=np.float64).T
    codes, meta = quantize_gobo(w)
    outlier = codes >> OUTLIER_FLAG_BIT == 1
    assert np.array_equal(outlier, np.abs(w - w.mean()) > OUTLIER_SIGMAS * w.std())
    assert 0 < outlier.mean() < 0.01                     # GOBO: ~99.9 % of weights in the dictionary
    assert np.all(codes[outlier] == 1 << OUTLIER_FLAG_BIT)
    table = decode_fp16(meta["centroids"])
    # every dictionary weight holds its nearest stored (FP16) centroid
    dist = np.abs(w[~outlier][:, None] - table[None, :])
    assert np.array_equal(dist.argmin(axis=1), codes[~outlier])
    # the refinement lowers the L1 error of the equal-population start
    g = np.sort(w[~outlier])
    start = np.array([b.mean() for b in np.array_split(g, CENTROIDS)])
    l1 = lambda c: np.abs(g[:, None] - c[None, :]).min(axis=1).sum()
    assert l1(fit_centroids(g)) < l1(start)
    values = gobo_weight_values(codes, meta)
    assert np.array_equal(values[outlier], w[outlier].astype(np.float16).astype(np.float64))


def test_quantisation_error_on_whole_minilm_tensors():
    """Whole-tensor relative error of GOBO (3-bit, FP16 outliers) next to OVP W4 weight-only: an
    8-level quantiser of Gaussian weights cannot beat Lloyd-Max's 0.186 by much (the exact
    outliers help a little), and 16-level OVP int4 is better. Measured (L0, L5 q/k/v/o/ffn1/ffn2):
    GOBO 0.177-0.183, OVP int4 0.110-0.130."""
    for spec in ("minilm:L0.ffn1", "minilm:L5.ffn2", "minilm:L0.q"):
        w = np.asarray(get_tensor(spec), dtype=np.float64)
        codes, meta = quantize_gobo(w.T)
        gobo = relative_error(w, gobo_weight_values(codes, meta).T)
        ovp = relative_error(w, quantize(w, "ovp-int4"))
        assert 0.15 < gobo < 0.19 and ovp < gobo, (spec, gobo, ovp)


def test_real_tensors_track_float64_of_the_quantised_weights():
    pe = KIND.prototype()
    ops = KIND.operands(*real_gemm("minilm:L0.ffn1", 16, 384, 32), pe)
    out = KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    exact = decode_fp16(ops.acts) @ gobo_weight_values(ops.weights, ops.weights_meta)
    err = np.linalg.norm(out - exact) / np.linalg.norm(exact)
    assert 0 < err < 1e-6          # FP32 rounding of 384 steps


@pytest.mark.parametrize("case", amaranth_cases(GOBO_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(GOBO_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


def test_weight_stationary_is_rejected():
    with pytest.raises(IncompatibleOptions, match="os"):
        DesignConfig("gobo", 2, 2, "ws", 8, 8, 8).facts


@pytest.mark.parametrize("bad, message", [(np.inf, "NaN or infinity"), (np.nan, "NaN or infinity"),
                                          (1e6, "exceed the FP16 range")])
def test_quantiser_refuses_non_finite_and_out_of_range(bad, message):
    w = np.random.default_rng(0).normal(size=(40, 3))
    w[1, 2] = bad
    with pytest.raises(ValueError, match=message):
        KIND.operands(np.ones((2, 40)), w, KIND.prototype())


def test_accelerator_refuses_a_run_without_its_table():
    design = DesignConfig("gobo", 2, 2, "os", 8, 8, 8)
    with pytest.raises(ValueError, match="table"):
        design.facts.extra_buffer_words(design.layout(2, 4, 2), None)


def test_cli_sim_json_and_dump(tmp_path, capsys):
    code = cli.main(["sim", "--pe", "gobo", "--dataflow", "os", "--rows", "2", "--cols", "2",
                     "--m", "3", "--k", "10", "--n", "3", "--json", "--dump", str(tmp_path / "d")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    table = np.load(tmp_path / "d" / "gobo_table.npz")["centroids"]
    assert table.shape == (CENTROIDS,)
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert "outlier" in meta["rtl_out"]
    code = cli.main(["sim", "--pe", "gobo", "--rows", "2", "--cols", "2", "--m", "3", "--k", "10",
                     "--n", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "dataflow 'os' only" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("case", [c for c in GOBO_CASES if c.operands.startswith(("outliers", "minilm"))],
                         ids=lambda c: c.id)
def test_outlier_cases_exercise_the_outlier_pass(case):
    """The compared output holds the outliers (it differs from the array's words wherever a column
    has one, so an accelerator that skipped the pass fails the RTL check), and the run's model
    cycles include the pass's entries for the case's list."""
    acts, weights, extra = case.make_job_operands()
    pe = case.design().facts.pe
    golden = KIND.golden_gemm(acts, weights, pe, extra)
    array = gobo_gemm(acts, weights, extra)
    cols = sorted({n for _, n, _ in extra.outliers})
    changed = np.nonzero((golden != array).any(axis=0))[0]
    assert set(changed) <= set(cols)
    if case.operands == "outliers-none":
        assert not extra.outliers and np.array_equal(golden, array)
    else:
        assert len(changed) > 0
    if case.operands == "outliers-col":
        assert sorted(n for _, n, _ in extra.outliers) == list(range(case.n))
    timing = case.design().timing()
    columns = outlier_columns(extra)
    with_list = gemm_cycles(timing, case.m, case.k, case.n, columns).cycles
    # the pass overlaps the array fold by fold (restated in plain Python); more entries never
    # shorten it, and the dense case is pass-bound: its folds queue for the pass
    added, _, queued = restated_pass_cycles(timing, case.m, case.k, case.n, columns)
    assert outlier_pass_cycles(timing, case.m, case.k, case.n, columns) == added
    assert with_list >= gemm_cycles(timing, case.m, case.k, case.n).cycles
    if case.operands == "outliers-none":
        assert queued == 0 and added == 2 * case.rows + 1 + timing.outlier_fold_cycles
    if case.operands == "outliers-dense":
        assert queued > 0 and added > with_list / 2


def test_outlier_lists_are_checked():
    pe = KIND.prototype()
    design = DesignConfig("gobo", 2, 2, "os", 8, 8, 8, outlier_depth=4)
    acts = np.full((2, 4), 0x3C00)
    weights = np.array([[8, 0], [1, 8], [2, 3], [8, 8]])
    table = DEFAULT_DICTIONARY.centroids
    with pytest.raises(ValueError, match="not outlier-flagged"):
        KIND.golden_gemm(acts, weights, pe, GoboDictionary(table, ((2, 0, 0x3C00),)))
    with pytest.raises(ValueError, match="outside"):
        KIND.golden_gemm(acts, weights, pe, GoboDictionary(table, ((4, 0, 0x3C00),)))
    with pytest.raises(ValueError, match="two outliers"):
        GoboDictionary(table, ((0, 0, 0x3C00), (0, 0, 0x4000)))
    with pytest.raises(ValueError, match="outlier"):
        GoboDictionary(table, ((0, 0, 0x7C00),))                       # infinity
    full = GoboDictionary(table, ((0, 0, 1), (3, 0, 2), (1, 1, 3), (3, 1, 4)))
    words = design.facts.extra_buffer_words(design.layout(2, 4, 2), full)
    assert [len(w) for _, w in words] == [8, 4]
    small = facts_only(Accelerator(KIND.pe_factory(), rows=2, cols=2, dataflow="os", act_depth=8,
                                   weight_depth=8, out_depth=8))      # the default: 2 words
    assert small.outlier_depth == 2 and small.outlier_words(design.layout(2, 4, 2), full) == 4
    with pytest.raises(ValueError, match="needs 4 outlier buffer words, the design has 2"):
        small.extra_buffer_words(design.layout(2, 4, 2), full)


def _meta(k, n, value, centroids=DEFAULT_DICTIONARY.centroids):
    return {"centroids": list(centroids), "outliers": {"k": k, "n": n, "value": value}}


def test_of_meta_is_the_constructor():
    """``GoboDictionary.of_meta`` checks and sorts integer lists as arrays: the same dictionary
    as the constructor on quantiser metadata (real and heavy-tailed weights, unsorted lists, ties
    in n or k), and the constructor's error for what it refuses (or other element types)."""
    rng = np.random.default_rng(3)
    metas = [quantize_gobo(rng.standard_t(2, (70, 50)))[1], quantize_gobo(np.asarray(get_tensor("minilm:L0.ffn2"), dtype=np.float64).T)[1]]
    k, n = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    keep = np.unique(k * 4 + n, return_index=True)[1]            # distinct positions, shuffled
    order = rng.permutation(keep)
    metas.append(_meta(k[order].tolist(), n[order].tolist(), rng.integers(0, 0x7C00, len(order)).tolist()))
    metas.append(_meta([], [], []))
    for meta in metas:
        o = meta["outliers"]
        want = GoboDictionary(tuple(meta["centroids"]), tuple(zip(o["k"], o["n"], o["value"])))
        got = GoboDictionary.of_meta(meta)
        assert got == want and type(got.outliers) is tuple
        assert all(type(x) is int for t in got.outliers for x in t)
    for bad, message in [((0, -1, 0x3C00), "position"), ((-2, 0, 0x3C00), "position"),
                         ((1, 0, 0x7C00), "infinity"), ((1, 0, 1 << 16), "16-bit"), ((0, 0, 0x3C00), "two outliers")]:
        with pytest.raises(ValueError, match=message):
            GoboDictionary.of_meta(_meta([0, bad[0]], [0, bad[1]], [0x3C00, bad[2]]))
    floats = _meta([1.0, 0.0], [0, 0], [0x3C00, 0x4000])           # not int64: the constructor
    assert GoboDictionary.of_meta(floats).outliers == ((0, 0, 0x4000), (1, 0, 0x3C00))
