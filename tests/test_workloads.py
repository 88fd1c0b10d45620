import dataclasses

import pytest

from models.workloads import (
    LLAMA2_7B,
    WORKLOADS,
    Gemm,
    get_workload,
    total_macs,
    workload_table,
)


def _by_name(workload: str) -> dict[str, Gemm]:
    gemms = get_workload(workload)
    names = [g.name for g in gemms]
    assert len(names) == len(set(names)), f"duplicate GEMM names in {workload}"
    return {g.name: g for g in gemms}


def test_required_workloads_present():
    assert {"minilm-l6", "bert-base", "llama2-7b-prefill", "llama2-7b-decode"} <= set(WORKLOADS)


def test_minilm_shapes():
    g = _by_name("minilm-l6")
    assert g["ffn1"] == Gemm("ffn1", 128, 384, 1536, 6)
    assert g["ffn2"] == Gemm("ffn2", 128, 1536, 384, 6)
    for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
        assert (g[p].m, g[p].k, g[p].n, g[p].count) == (128, 384, 384, 6)
    # per head: (128 x 32) @ (32 x 128) and (128 x 128) @ (128 x 32); 12 heads x 6 layers
    assert g["attn_qk"] == Gemm("attn_qk", 128, 32, 128, 72)
    assert g["attn_pv"] == Gemm("attn_pv", 128, 128, 32, 72)
    assert set(g) == {"q_proj", "k_proj", "v_proj", "o_proj", "ffn1", "ffn2", "attn_qk", "attn_pv"}


def test_minilm_macs_hand_computed():
    # one layer: 4 projections 128*384*384, FFN 2*128*384*1536, attention 2 * 12 heads * 128*32*128
    # 4 * 18,874,368 + 150,994,944 + 2 * 6,291,456 = 239,075,328
    assert total_macs("minilm-l6") == 6 * 239_075_328 == 1_434_451_968
    assert total_macs(get_workload("minilm-l6")) == total_macs("minilm-l6")


def test_bert_base_shapes_and_macs():
    g = _by_name("bert-base")
    assert g["ffn1"] == Gemm("ffn1", 128, 768, 3072, 12)
    assert g["attn_qk"] == Gemm("attn_qk", 128, 64, 128, 144)
    # per layer: 4*128*768*768 + 2*128*768*3072 + 2*12*128*64*128
    #          = 301,989,888 + 603,979,776 + 25,165,824 = 931,135,488
    assert total_macs("bert-base") == 12 * 931_135_488


def test_llama_prefill_and_decode():
    pre, dec = _by_name("llama2-7b-prefill"), _by_name("llama2-7b-decode")
    assert pre["gate_proj"] == Gemm("gate_proj", 2048, 4096, 11008, 32)
    assert pre["up_proj"] == Gemm("up_proj", 2048, 4096, 11008, 32)
    assert pre["down_proj"] == Gemm("down_proj", 2048, 11008, 4096, 32)
    assert pre["attn_qk"] == Gemm("attn_qk", 2048, 128, 2048, 32 * 32)
    assert "ffn1" not in pre
    assert dec["q_proj"] == Gemm("q_proj", 1, 4096, 4096, 32)
    assert dec["attn_qk"] == Gemm("attn_qk", 1, 128, 2048, 1024)
    assert dec["attn_pv"] == Gemm("attn_pv", 1, 2048, 128, 1024)
    assert dec["lm_head"] == pre["lm_head"] == Gemm("lm_head", 1, 4096, 32000, 1)
    # decode, hand-computed:
    # 32 * (4*4096^2 + 3*4096*11008 + 2*32*128*2048) + 4096*32000
    assert total_macs("llama2-7b-decode") == 32 * (67_108_864 + 135_266_304 + 16_777_216) + 131_072_000
    assert total_macs("llama2-7b-prefill") > 2000 * total_macs("llama2-7b-decode")


def test_unknown_workload_lists_known_names():
    with pytest.raises(ValueError) as exc:
        get_workload("gpt-5")
    msg = str(exc.value)
    assert "gpt-5" in msg
    for name in WORKLOADS:
        assert name in msg
    with pytest.raises(ValueError):
        total_macs("nope")


def test_dataclasses_frozen_and_validated():
    g = Gemm("x", 2, 3, 4)
    assert g.count == 1 and g.macs == 24
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.m = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LLAMA2_7B.hidden = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        Gemm("bad", 0, 3, 4)


def test_workload_table():
    df = workload_table("minilm-l6")
    assert list(df.columns) == ["name", "m", "k", "n", "count", "macs", "share"]
    assert int(df["macs"].sum()) == total_macs("minilm-l6")
    assert df["share"].sum() == pytest.approx(1.0)
