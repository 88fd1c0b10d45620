"""GEMM shape tables of real networks, for the cost model and the reports.

Every GEMM is ``(M x K) @ (K x N)`` and ``count`` says how many times it runs in
one forward pass (e.g. per head x layers). Shapes are derived from the model
hyper-parameters in :class:`TransformerConfig` and the run shape in
:class:`RunConfig` (one source of truth); nothing is typed per GEMM.

Workloads (batch 1 everywhere):

* ``minilm-l6``        all-MiniLM-L6-v2 encoder, sequence 128.
* ``bert-base``        BERT-base encoder, sequence 128.
* ``llama2-7b-prefill`` Llama-2-7B, prompt of 2048 tokens (its full context).
* ``llama2-7b-decode``  Llama-2-7B, one new token attending over a KV cache of
  2048 positions (the new token included).

Per layer, an encoder contributes Q, K, V, O projections, FFN1, FFN2; a Llama
layer contributes Q, K, V, O, gate, up, down. Attention contributes per head
``QK^T`` (q_len x d) @ (d x kv_len) and ``PV`` (q_len x kv_len) @ (kv_len x d).
Counted as dense GEMMs: causal masking in Llama prefill is *not* exploited
(a causal kernel can skip about half of the attention MACs).

Not included: embeddings lookups, LayerNorm/RMSNorm, softmax, activation
functions, rotary embeddings, BERT's pooler (unused for MiniLM sentence
embeddings). Llama workloads include the LM head (hidden x vocab) for one
token only, since generation needs the logits of the last position only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence, Union

import pandas as pd

__all__ = [
    "Gemm",
    "TransformerConfig",
    "RunConfig",
    "MINILM_L6",
    "BERT_BASE",
    "LLAMA2_7B",
    "transformer_gemms",
    "WORKLOADS",
    "WORKLOAD_SPECS",
    "get_workload",
    "total_macs",
    "workload_table",
]


@dataclass(frozen=True)
class Gemm:
    """``(m x k) @ (k x n)``, executed ``count`` times per forward pass."""

    name: str
    m: int
    k: int
    n: int
    count: int = 1

    def __post_init__(self) -> None:
        for field in ("m", "k", "n", "count"):
            v = getattr(self, field)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"Gemm {self.name!r}: {field} must be a positive int, got {v!r}")

    @property
    def macs_each(self) -> int:
        return self.m * self.k * self.n

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` instances."""
        return self.macs_each * self.count


@dataclass(frozen=True)
class TransformerConfig:
    """Model hyper-parameters that determine GEMM shapes."""

    name: str
    hidden: int
    heads: int
    ffn: int
    layers: int
    gated_ffn: bool = False  # SwiGLU: gate + up + down instead of ffn1 + ffn2
    vocab: int | None = None  # set -> include the LM head (hidden x vocab)

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"{self.name}: hidden {self.hidden} not divisible by heads {self.heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class RunConfig:
    """How the model is run: ``q_len`` new tokens per sequence attending over ``kv_len`` positions."""

    q_len: int
    kv_len: int
    batch: int = 1
    lm_head_tokens: int = 1  # positions whose logits are computed (per sequence)

    @property
    def tokens(self) -> int:
        return self.q_len * self.batch


MINILM_L6 = TransformerConfig("minilm-l6", hidden=384, heads=12, ffn=1536, layers=6)
BERT_BASE = TransformerConfig("bert-base", hidden=768, heads=12, ffn=3072, layers=12)
LLAMA2_7B = TransformerConfig(
    "llama2-7b", hidden=4096, heads=32, ffn=11008, layers=32, gated_ffn=True, vocab=32000
)

ENCODER_SEQ = 128
LLAMA_CONTEXT = 2048


def transformer_gemms(cfg: TransformerConfig, run: RunConfig) -> tuple[Gemm, ...]:
    """All GEMMs of one forward pass of ``cfg`` run as ``run``."""
    t, h, f, L = run.tokens, cfg.hidden, cfg.ffn, cfg.layers
    gemms = [Gemm(f"{p}_proj", t, h, h, L) for p in ("q", "k", "v", "o")]
    if cfg.gated_ffn:
        gemms += [Gemm("gate_proj", t, h, f, L), Gemm("up_proj", t, h, f, L), Gemm("down_proj", t, f, h, L)]
    else:
        gemms += [Gemm("ffn1", t, h, f, L), Gemm("ffn2", t, f, h, L)]
    per_head = cfg.heads * L * run.batch
    gemms += [
        Gemm("attn_qk", run.q_len, cfg.head_dim, run.kv_len, per_head),
        Gemm("attn_pv", run.q_len, run.kv_len, cfg.head_dim, per_head),
    ]
    if cfg.vocab is not None:
        gemms.append(Gemm("lm_head", run.lm_head_tokens * run.batch, h, cfg.vocab, 1))
    return tuple(gemms)


#: workload name -> (model, run); the tables below are derived from these only.
WORKLOAD_SPECS: Mapping[str, tuple[TransformerConfig, RunConfig]] = {
    "minilm-l6": (MINILM_L6, RunConfig(q_len=ENCODER_SEQ, kv_len=ENCODER_SEQ)),
    "bert-base": (BERT_BASE, RunConfig(q_len=ENCODER_SEQ, kv_len=ENCODER_SEQ)),
    "llama2-7b-prefill": (LLAMA2_7B, RunConfig(q_len=LLAMA_CONTEXT, kv_len=LLAMA_CONTEXT)),
    "llama2-7b-decode": (LLAMA2_7B, RunConfig(q_len=1, kv_len=LLAMA_CONTEXT)),
}

WORKLOADS: dict[str, tuple[Gemm, ...]] = {
    name: transformer_gemms(cfg, run) for name, (cfg, run) in WORKLOAD_SPECS.items()
}


def get_workload(name: str) -> tuple[Gemm, ...]:
    try:
        return WORKLOADS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown workload {name!r}; known: {', '.join(sorted(WORKLOADS))}"
        ) from None


Workload = Union[str, Iterable[Gemm]]


def _resolve(workload: Workload) -> Sequence[Gemm]:
    return get_workload(workload) if isinstance(workload, str) else tuple(workload)


def total_macs(workload: Workload) -> int:
    """Total multiply-accumulates of a workload (name or iterable of :class:`Gemm`)."""
    return sum(g.macs for g in _resolve(workload))


def workload_table(workload: Workload):
    """pandas DataFrame, one row per GEMM: name, m, k, n, count, macs, share of total MACs."""

    gemms = _resolve(workload)
    df = pd.DataFrame(
        [{"name": g.name, "m": g.m, "k": g.k, "n": g.n, "count": g.count, "macs": g.macs} for g in gemms]
    )
    df["share"] = df["macs"] / df["macs"].sum()
    return df
