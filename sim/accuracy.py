"""Whole-model accuracy runs of designs, cached per design and data: rows for the CLI and the report.

A run evaluates SmolLM2-135M perplexity or MiniLM-L6 similarity Spearman (:mod:`models.accuracy`)
with every linear layer through a design's golden GEMM. Results are cached as one JSON file per
(model, design, data, code) under ``$PEARRAY_ACCURACY_DIR`` (default ``~/.cache/pearray/accuracy``):
the key hashes the design's kind and options, the scored token ids or documents, and the source
of ``models/`` and ``hw/`` (so a change to a quantiser or golden model recomputes). Only the
registry's own kinds are cached; any other kind object (a test's modified copy) always runs.

:func:`accuracy_table` is what the report calls: a pandas DataFrame, one row per design.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from models import accuracy, realdata, smollm2
from models.cache_file import write_atomic
from models.fast_golden import NO_FAST_PATH, has_fast_path
from models.registry import PE_KINDS
from models.source_digest import files_digest

from .accuracy_schedule import longest_first

MODELS = ("smollm2", "minilm")
DEFAULT_WINDOWS = 8
QUICK_WINDOWS = 1
QUICK_DOCUMENTS = 20          # --quick MiniLM: the first 20 lee.cor documents (190 pairs)
FLOAT_PARTS = {
    "smollm2": "attention scores/values, RMSNorm, RoPE, SiLU, softmax and the LM head (tied embedding) fp32",
    "minilm": "attention scores/values, LayerNorm, GELU, softmax, biases and pooling fp32",
}
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AccuracyDesign:
    """A design to score: a display label, a PE kind (a :class:`models.registry.PEKind`) and its
    options as sorted (name, value) pairs."""
    label: str
    kind: object
    options: tuple = ()

    def pe(self):
        return self.kind.prototype(**dict(self.options))


def registry_designs():
    """Every registry variant of every kind, in registry order."""
    return [AccuracyDesign(label, kind, tuple(sorted(options)))
            for kind in PE_KINDS.values() for label, options in kind.variants]


def supported(design):
    """None when the design can be scored in time, else the reason it cannot."""
    if not has_fast_path(design.kind) and design.kind is PE_KINDS.get(design.kind.name):
        why = NO_FAST_PATH.get(design.kind.name, "no fast path registered")
        return (f"PE kind {design.kind.name!r} has no exact fast path for its golden GEMM ({why}); "
                f"its numpy golden (a Python-level loop over K) is far beyond the table's time budget")
    return None


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class SmolLM2Data:
    windows: tuple
    source: str

    @property
    def digest(self):
        return hashlib.sha256(np.concatenate(self.windows).astype("<i8").tobytes()).hexdigest()

    @property
    def tokens(self):
        return sum(len(w) - 1 for w in self.windows)


@dataclass(frozen=True)
class MiniLMData:
    documents: tuple
    human: np.ndarray
    source: str

    @property
    def digest(self):
        return hashlib.sha256("\n".join(self.documents).encode()).hexdigest()


def smollm2_data(text=None, windows=DEFAULT_WINDOWS, source=None):
    """The scored windows of ``text`` (None: lee_background.cor); ValueError when too short."""
    if text is None:
        text, source = accuracy.lee_background_text(), "gensim lee_background.cor"
    ids = smollm2.encode(text)
    return SmolLM2Data(tuple(accuracy.windows(ids, windows, accuracy.WINDOW)), source or "text")


def minilm_data(quick=False):
    docs = accuracy.lee_documents()
    human = accuracy.lee_human_scores()
    if quick:
        keep = np.triu_indices(50, 1)
        mask = (keep[0] < QUICK_DOCUMENTS) & (keep[1] < QUICK_DOCUMENTS)
        docs, human = docs[:QUICK_DOCUMENTS], human[mask]
    return MiniLMData(tuple(docs), human, f"gensim lee.cor ({len(docs)} documents, {len(human)} pairs)")


# ---------------------------------------------------------------------------------------------
# cache


def cache_dir():
    return Path(os.environ.get("PEARRAY_ACCURACY_DIR") or Path.home() / ".cache" / "pearray" / "accuracy")


@functools.lru_cache(maxsize=1)
def code_digest():
    """Hash of the source that defines a design's arithmetic and the models (models/, hw/)."""
    return files_digest([path for folder in ("models", "hw") for path in sorted((ROOT / folder).rglob("*.py"))])


def _key(model, design_id, data_digest):
    text = json.dumps([model, design_id, data_digest, code_digest()], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cached(model, design_id, data_digest, compute, use_cache, compute_missing=True):
    """``compute()`` (a dict), read from / written to the cache when ``use_cache``; None for a
    result not in the cache when not ``compute_missing`` (the quick report's cache-only read)."""
    path = cache_dir() / f"{model}-{_key(model, design_id, data_digest)}.json"
    if use_cache and path.is_file():
        try:
            return {**json.loads(path.read_text()), "cached": True}
        except (OSError, ValueError):
            pass                                   # a torn or unreadable entry: recompute
    if not compute_missing:
        return None
    start = time.process_time()
    wall = time.perf_counter()
    # one BLAS thread for every computed result: the fp32 parts' float sums (and through the
    # quantisers every score) depend on how BLAS splits them over threads (FP8 E4M3's SmolLM2
    # perplexity on one window: 26.809 on one thread, 26.698 on two), so a cached result must
    # not depend on the thread count or on whether it was computed in a worker or here
    with threadpool_limits(1):
        result = {**compute(), "cpu_s": time.process_time() - start, "wall_s": time.perf_counter() - wall}
    if use_cache:
        write_atomic(path, json.dumps(result))
    return {**result, "cached": False}


def _design_id(design):
    return [design.kind.name, list(design.options)]


# ---------------------------------------------------------------------------------------------
# runs


def reference(model, data, use_cache=True, compute_missing=True):
    """The fp32 model's result on ``data``: {"ppl"} or {"similarities"} (None: not cached and
    not ``compute_missing``)."""
    if model == "smollm2":
        return _cached(model, "fp32", data.digest, lambda: {"ppl": accuracy.perplexity(data.windows)},
                       use_cache, compute_missing)
    return _cached(model, "fp32", data.digest,
                   lambda: {"similarities": accuracy.minilm_similarities(data.documents).tolist()},
                   use_cache, compute_missing)


def cached_score(model, design, data, ref):
    """:func:`score` from the cache only: the row, or None when the design's result (or the
    reference ``ref``) is not cached."""
    if ref is None or design.kind is not PE_KINDS.get(design.kind.name):
        return None
    got = _cached(model, _design_id(design), data.digest, None, True, compute_missing=False)
    return None if got is None else score(model, design, data, ref)


def score(model, design, data, ref, use_cache=True):
    """One row for ``design`` (see :func:`run`)."""
    return _compared(model, _scored(model, design, data, use_cache), data, ref)


def _scored(model, design, data, use_cache=True):
    """``design``'s row before the comparison with the fp32 reference (:func:`_compared`): its
    quantisation and its cached or computed result ("ppl" or "similarities", "cpu_s", "wall_s",
    "cached"). Needs no reference, so a worker can run it while another computes the reference."""
    pe = design.pe()
    cacheable = use_cache and design.kind is PE_KINDS.get(design.kind.name)
    linear = lambda: accuracy.design_linear(design.kind, pe)
    row = {"design": design.label, "pe": design.kind.name, "options": dict(design.options),
           **accuracy.quantisation_summary(design.kind, pe), "fp32_parts": FLOAT_PARTS[model]}
    if model == "smollm2":
        got = _cached(model, _design_id(design), data.digest,
                      lambda: {"ppl": accuracy.perplexity(data.windows, linear())}, cacheable)
    else:
        got = _cached(model, _design_id(design), data.digest,
                      lambda: {"similarities": accuracy.minilm_similarities(data.documents, linear()).tolist()},
                      cacheable)
    return {**row, "result": got}


def _compared(model, scored, data, ref):
    """The row of :func:`score` from :func:`_scored`'s and the fp32 reference ``ref``."""
    row = {k: v for k, v in scored.items() if k != "result"}
    got = scored["result"]
    if model == "smollm2":
        row.update(ppl=got["ppl"], ppl_fp32=ref["ppl"], delta_ppl=got["ppl"] - ref["ppl"])
    else:
        row.update(spearman_human=accuracy.spearman(got["similarities"], data.human),
                   spearman_fp32=accuracy.spearman(got["similarities"], ref["similarities"]))
    row.update(cpu_s=got["cpu_s"], wall_s=got["wall_s"], cached=got["cached"])
    return row


OUTLIER_LAYERS = "ffn_down"     # SmolLM2's FFN down projections: inputs are the SiLU-gated products


def int8_without_outlier_layers(data, use_cache=True, compute_missing=True):
    """SmolLM2 perplexity of the INT8 design with the :data:`OUTLIER_LAYERS` linears kept fp32
    (every other linear through the INT8 golden GEMM): how much of INT8's perplexity loss the
    per-tensor activation scales of those layers' outlier channels cause (LLM.int8). A dict
    {"ppl", "channel_ratio"}: per linear name (attn_q, ..., ffn_down) the largest ratio, over
    layers and windows, of the input's largest channel magnitude to its median channel's (the
    fp32 pass's inputs); or None when not cached and not ``compute_missing``."""
    kind = PE_KINDS["int8"]

    def compute():
        lin = accuracy.design_linear(kind, kind.prototype())
        ratio = {}

        def mixed(x, w, name):
            channels = np.abs(x).max(axis=0)
            short = name.split(".")[-1]
            ratio[short] = max(ratio.get(short, 0.0), float(channels.max() / max(np.median(channels), 1e-30)))
            return x @ w if name.endswith(OUTLIER_LAYERS) else lin(x, w, name)
        return {"ppl": accuracy.perplexity(data.windows, mixed), "channel_ratio": ratio}
    return _cached("smollm2", ["int8", [], f"{OUTLIER_LAYERS} fp32"], data.digest, compute, use_cache,
                   compute_missing)


def _one_blas_thread():
    """A forked worker's initialiser: BLAS on one thread for the whole worker (each result is
    also computed on one thread, see :func:`_cached`). The workers already use every core; a
    multi-threaded BLAS in each of them (OpenBLAS's default: one thread per core) only contends,
    spinning threads that inflate CPU time many times on a loaded machine. threadpoolctl sets
    the limit in the already loaded BLAS library (an environment variable would be read only
    when the library loads, which happened before the fork)."""
    threadpool_limits(1)


def _warm_before_fork(model):
    """Load the model's weights here, once, before the workers fork: they share them (copy on
    write). The reference run loads them too, but a cached reference does not, and then every
    worker would read and dequantise the GGUF (or the MiniLM file) on its own."""
    if model == "smollm2":
        smollm2.load_smollm2()
    else:
        realdata.load_minilm_weights()


def _registry_task(args):
    """A worker's :func:`_scored` row of registry design number ``index``, or for ``index`` None
    the fp32 :func:`reference` (a PEKind holds lambdas, so the worker finds the design by its
    index, not by pickling it)."""
    model, index, data, use_cache = args
    if index is None:
        return reference(model, data, use_cache)
    return _scored(model, registry_designs()[index], data, use_cache)


def _summary(model, data, ref):
    if model == "smollm2":
        summary = {"ppl": ref["ppl"], "windows": len(data.windows), "scored_tokens": data.tokens}
    else:
        summary = {"spearman_human": accuracy.spearman(ref["similarities"], data.human),
                   "pairs": len(data.human)}
    summary.update(source=data.source, cpu_s=ref["cpu_s"], wall_s=ref["wall_s"], cached=ref["cached"])
    return summary


def run(model, designs, data, use_cache=True, progress=None, workers=1):
    """(reference summary, rows): one row per design with ``design``, its quantisation, and
    ``ppl``, ``ppl_fp32``, ``delta_ppl`` (smollm2) or ``spearman_human``, ``spearman_fp32`` (minilm).
    ``workers`` > 1 scores registry designs in that many forked processes (:func:`run_many`);
    other designs run here."""
    return run_many([(model, designs, data)], use_cache, progress, workers)[0]


def run_many(runs, use_cache=True, progress=None, workers=1):
    """:func:`run` of each ``(model, designs, data)`` of ``runs``: a list of (summary, rows).

    With ``workers`` > 1 and registry designs only, every design of every run is one task in one
    pool of forked processes, and so is each fp32 reference not cached; the tasks start longest
    first (:func:`sim.accuracy_schedule.longest_first`), so no worker idles at the end while
    another runs a long design, nor between the runs. Each result is computed on one BLAS
    thread wherever it runs (:func:`_cached`), so the rows are the serial ones; rows keep the
    order of ``designs``."""
    registry = registry_designs()
    index = {(d.kind.name, d.options): i for i, d in enumerate(registry)}
    parallel = workers > 1 and all(d.kind is PE_KINDS.get(d.kind.name) and (d.kind.name, d.options) in index
                                   for _, designs, _ in runs for d in designs)
    if not parallel:
        return [_run_here(model, designs, data, use_cache, progress) for model, designs, data in runs]
    if progress:
        count = sum(len(designs) for _, designs, _ in runs)
        progress(f"{count} design{'s' * (count != 1)} in {workers} processes")
    # a cached reference is read here; one not cached is one more task
    refs = [reference(model, data, use_cache, compute_missing=False) for model, _, data in runs]
    tasks = [(r, None) for r, ref in enumerate(refs) if ref is None]
    tasks += [(r, index[(d.kind.name, d.options)]) for r, (_, designs, _) in enumerate(runs) for d in designs]
    for model in dict.fromkeys(model for model, _, _ in runs):
        _warm_before_fork(model)
    order = longest_first([(runs[r][0], "fp32" if i is None else registry[i].label) for r, i in tasks])
    # fork: the workers share the loaded models and data with this process (copy on write);
    # tasks start in submission order, so submitting longest first schedules longest first
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_one_blas_thread) as pool:
        futures = {}
        for t in order:
            (model, _, data), design_index = runs[tasks[t][0]], tasks[t][1]
            futures[t] = pool.submit(_registry_task, (model, design_index, data, use_cache))
        done = {tasks[t]: futures[t].result() for t in range(len(tasks))}
    out = []
    for r, (model, designs, data) in enumerate(runs):
        ref = refs[r] if refs[r] is not None else done[(r, None)]
        rows = [{**_compared(model, done[(r, index[(d.kind.name, d.options)])], data, ref), "design": d.label}
                for d in designs]
        out.append((_summary(model, data, ref), rows))
    return out


def _run_here(model, designs, data, use_cache, progress):
    """:func:`run` in this process, one design after another."""
    ref = reference(model, data, use_cache)
    rows = []
    for design in designs:
        if progress:
            progress(design.label)
        rows.append(score(model, design, data, ref, use_cache))
    return _summary(model, data, ref), rows


def accuracy_table(model="smollm2", designs=None, quick=False, windows=None, use_cache=True):
    """The report's entry point: a DataFrame, one row per design (every supported registry
    variant by default), with the fp32 reference's metric in its own columns."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    designs = [d for d in (designs or registry_designs()) if supported(d) is None]
    if model == "smollm2":
        data = smollm2_data(windows=windows or (QUICK_WINDOWS if quick else DEFAULT_WINDOWS))
    else:
        data = minilm_data(quick)
    summary, rows = run(model, designs, data, use_cache)
    table = pd.DataFrame(rows)
    if model == "minilm":
        table["spearman_human_fp32"] = summary["spearman_human"]
    return table
