"""Whole-model quality under a design's exact arithmetic: every linear layer through its golden GEMM.

:func:`design_linear` turns a PE kind and prototype into the ``linear(x, w, name)`` the SmolLM2
and MiniLM forward passes take (:mod:`models.smollm2`, :func:`models.realdata.embeddings_with`):
the activations (one perplexity window, or one sentence: a MiniLM call's segment) and the weight are
quantised by the kind's own quantisers, the extra operand is built from their metadata, the
integers are exactly ``kind.golden`` (through :func:`models.fast_golden.fast_raw`), and the
float output is ``kind.dequantize_output``: what the verified RTL computes, dequantised as the
design defines. Attention score / value matmuls, norms, softmax, activations functions and the
SmolLM2 LM head (the tied embedding) stay fp32.

Metrics: perplexity over consecutive non-overlapping 512-token windows from the start of the
tokenised text (no BOS), each scored on its tokens 2..512 (511 predictions per window); Spearman
rank correlation (average ranks for ties) of the 1,225 pairwise cosine similarities of the 50
``lee.cor`` documents against the human scores of Lee, Pincombe & Welsh (2005).

Data ship in the PyPI wheel ``gensim==4.4.0`` (install with ``--no-deps``); the files are read
from its folder, found through its import spec, without importing gensim.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np

from . import realdata, smollm2
from .fast_golden import fast_output_f32, fast_raw, has_fast_path, prepare_weights
from .registry import GemmOperands

WINDOW = 512
GENSIM_HINT = 'pip install --no-deps "gensim==4.4.0"'


# ---------------------------------------------------------------------------------------------
# data


def gensim_data_dir() -> Path:
    """``gensim/test/test_data`` of the installed wheel (gensim itself is not imported)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise smollm2.MissingModelError(f"the accuracy data need the package 'gensim'; run: {GENSIM_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "test" / "test_data"
        if (path / "lee_background.cor").is_file():
            return path
    raise smollm2.MissingModelError(f"gensim is installed without its test data; run: {GENSIM_HINT}")


def lee_background_text() -> str:
    """The perplexity corpus: 300 news articles, one per line (latin-1 file)."""
    return (gensim_data_dir() / "lee_background.cor").read_text(encoding="latin-1")


def lee_documents() -> tuple[str, ...]:
    """The 50 documents the human similarity scores are about, in matrix order."""
    docs = (gensim_data_dir() / "lee.cor").read_text(encoding="latin-1").splitlines()
    docs = tuple(d.strip() for d in docs if d.strip())
    if len(docs) != 50:
        raise ValueError(f"lee.cor holds {len(docs)} documents, not 50")
    return docs


def lee_human_scores() -> np.ndarray:
    """The 1,225 human similarity scores (upper triangle of the 50 x 50 matrix, row-major)."""
    matrix = np.loadtxt(gensim_data_dir() / "similarities0-1.txt")
    if matrix.shape != (50, 50):
        raise ValueError(f"similarities0-1.txt is {matrix.shape}, not 50 x 50")
    return matrix[np.triu_indices(50, 1)]


# ---------------------------------------------------------------------------------------------
# metrics


def windows(ids: np.ndarray, count: int, length: int = WINDOW) -> list[np.ndarray]:
    """The first ``count`` consecutive non-overlapping ``length``-token windows of ``ids``;
    ValueError when ``ids`` holds fewer."""
    ids = np.asarray(ids, dtype=np.int64)
    if count < 1 or len(ids) < count * length:
        raise ValueError(f"the text has {len(ids)} tokens: {len(ids) // length} whole {length}-token "
                         f"windows, not the {count} asked for")
    return [ids[i * length:(i + 1) * length] for i in range(count)]


#: rows of logits per step of :func:`window_nll`: a step's float64 copy (8 x 49152 x 8 bytes,
#: 3 MB) stays in cache through its four passes
NLL_ROWS = 8


def window_nll(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Negative log-likelihoods (float64) of tokens 2..L of a window from its (L, vocab) logits.

    Every step is per row (the row's max, its shifted target, exp and the row sum of the
    contiguous row), so it runs :data:`NLL_ROWS` rows at a time, the same values bit for bit
    (tests/test_fast_paths2.py) as the whole (L, vocab) float64 array at once, which costs far
    more in memory traffic than in arithmetic."""
    rows = len(ids) - 1
    nll = np.empty(rows)
    z = np.empty((min(rows, NLL_ROWS), logits.shape[1]))
    for r0 in range(0, rows, NLL_ROWS):
        r1 = min(rows, r0 + NLL_ROWS)
        zb = z[:r1 - r0]
        zb[...] = logits[r0:r1]
        zb -= zb.max(axis=1, keepdims=True)
        target = zb[np.arange(r1 - r0), ids[r0 + 1:r1 + 1]]
        nll[r0:r1] = np.log(np.exp(zb, out=zb).sum(axis=1)) - target
    return nll


def perplexity(window_list, linear=smollm2.fp32_linear) -> float:
    """SmolLM2 perplexity: exp of the mean NLL over every scored token of every window."""
    nll = [window_nll(smollm2.logits(w, linear), w) for w in window_list]
    return float(np.exp(np.mean(np.concatenate(nll))))


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    average = (starts + ends + 1) / 2.0                      # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks."""
    rx, ry = rank(x), rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx @ ry) / np.sqrt((rx @ rx) * (ry @ ry)))


def pair_similarities(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarities of the upper-triangle pairs (row-major), as :func:`lee_human_scores`."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return (e @ e.T)[np.triu_indices(len(e), 1)]


def minilm_similarities(documents, linear=None) -> np.ndarray:
    """MiniLM-L6 pairwise cosine similarities of ``documents`` (``linear`` None: fp32)."""
    linear = linear or (lambda x, w, name: x @ w)
    return pair_similarities(realdata.embeddings_with(documents, linear))


# ---------------------------------------------------------------------------------------------
# the design's GEMM as a linear layer


def design_operands(kind, pe, x, weight_codes, weight_meta, quantised_acts=None):
    """The :class:`~models.registry.GemmOperands` ``kind.operands(x, w, pe)`` gives, for weights
    quantised once ahead (``kind.quantize_weights(w, pe)``): activations quantised here, codes
    checked, the extra operand built from both metadata. ``quantised_acts``: the checked
    ``(acts, acts_meta)`` of ``x`` when already known (:func:`quantise_acts`)."""
    acts, acts_meta = quantised_acts or quantise_acts(kind, pe, x)
    extra = None
    if kind.extra_operand is not None:
        extra = kind.extra_operand(acts, weight_codes, pe, acts_meta, weight_meta)
    return GemmOperands(acts, weight_codes, extra, acts_meta, weight_meta)


def quantise_acts(kind, pe, x):
    """``x``'s activation codes, checked, and their metadata: ``(acts, acts_meta)``."""
    acts, acts_meta = kind.quantize_acts(np.asarray(x), pe)
    # the quantiser's own fresh codes: checked without a copy
    return kind.check_acts(acts, pe, copy=False), acts_meta


def freeze(codes):
    """``codes`` as an array that owns its data, read-only (a view is copied first): its values
    can no longer change, so a decoder may keep what it made of them
    (:func:`models.mx_gemm.decoded_lanes`)."""
    if not isinstance(codes, np.ndarray):
        return codes
    codes = np.array(codes) if codes.base is not None else codes
    codes.flags.writeable = False
    return codes


class _LastActs:
    """The activations quantised for the previous call, reused when the next call's input is
    the same bytes (SmolLM2's q, k and v projections read one normed input, as do its FFN gate
    and up; MiniLM's q, k and v): a kind's quantisers are pure functions of the input and the PE,
    so the codes and metadata are the same. Compared bit for bit (``-0.0`` is not ``+0.0``);
    the codes are :func:`freeze` d so that no later step can change what a reuse returns."""

    def __init__(self):
        self.key = self.x = self.value = None

    def get(self, kind, pe, x, segments):
        x = np.ascontiguousarray(x)
        key = (x.shape, x.dtype.str, segments)
        if key != self.key or not np.array_equal(x.view(np.uint8), self.x.view(np.uint8)):
            value = [quantise_acts(kind, pe, x[a:b]) for a, b in (segments or ((0, len(x)),))]
            value = [(freeze(acts), meta) for acts, meta in value]
            self.key, self.x, self.value = key, x.copy(), value
        return self.value


def design_linear(kind, pe):
    """``linear(x, w, name, segments=None)`` computing ``x @ w`` with the design's golden GEMM
    (module docstring). Weight codes are cached by ``name`` (a layer's weight never changes
    within a model). ``segments``: row bounds ``((start, stop), ...)`` of separate inputs (MiniLM's
    sentences, :func:`models.realdata.embeddings_with`): each segment's activations are quantised
    on their own (a per-tensor scale is its sentence's), and the result is the concatenation of
    the calls on each segment. Their integers come from one GEMM over all rows when the segments'
    extra operands are equal (every row of the golden's output depends only on that row of the
    activations, tests/test_exact_speedups.py), else (or for a golden without a fast path: a
    test's deliberately changed copy) from one GEMM per segment. A call whose input is the same
    bytes as the previous call's reuses its activation codes (:class:`_LastActs`)."""
    weights = {}
    last = _LastActs()

    def linear(x, w, name, segments=None):
        if name not in weights:
            codes, meta = kind.quantize_weights(np.asarray(w), pe)
            codes = freeze(kind.check_weights(codes, pe, copy=False))       # the quantiser's own
            weights[name] = (codes, meta, prepare_weights(kind, codes, pe))
        codes, meta, prepared = weights[name]
        x = np.asarray(x)
        segments = None if segments is None else tuple(tuple(map(int, s)) for s in segments)
        parts = [design_operands(kind, pe, x[a:b], codes, meta, quantised)
                 for (a, b), quantised in zip(segments or ((0, len(x)),), last.get(kind, pe, x, segments))]
        if len(parts) > 1 and has_fast_path(kind) and _same_extra(parts):
            stacked = GemmOperands(np.concatenate([p.acts for p in parts]), codes, parts[0].extra, None, meta)
            raws = np.split(fast_raw(kind, stacked, pe, prepared), np.cumsum([len(p.acts) for p in parts])[:-1])
        else:
            raws = [fast_raw(kind, p, pe, prepared) for p in parts]
        out = [fast_output_f32(kind, raw, p, pe) for raw, p in zip(raws, parts)]
        return out[0] if len(out) == 1 else np.concatenate(out)     # one part: no copy

    linear.takes_segments = True
    return linear


def _same_extra(parts):
    """True when every operand set has the same extra operand (equal pickles: equal values; a
    false "different" only costs the per-segment GEMMs)."""
    first = pickle.dumps(parts[0].extra)
    # the same object is equal to itself (GOBO's dictionary: one per linear)
    return all(p.extra is parts[0].extra or pickle.dumps(p.extra) == first for p in parts[1:])


def quantisation_summary(kind, pe) -> dict:
    """How the design quantises a linear layer: its quantisers' format and granularity."""
    rng = np.random.default_rng(0)
    _, a_meta = kind.quantize_acts(rng.standard_normal((4, 256)), pe)
    _, w_meta = kind.quantize_weights(rng.standard_normal((256, 4)), pe)
    return {"act_format": a_meta["format"], "act_granularity": a_meta["granularity"],
            "weight_format": w_meta["format"], "weight_granularity": w_meta["granularity"]}
