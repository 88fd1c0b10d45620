"""GOBO's weight format (MICRO'20, Zadeh et al.): per weight tensor, a dictionary of 8 centroids
with a 3-bit index per weight, and the few outlier weights kept in FP16.

What is known of GOBO and how (``shared/specs/baselines.md`` section 2): no author code; the
abstract (~99.9 % of BERT weights to 3 bits, no fine-tuning); third-party reimplementations
(one Gaussian per layer, outliers by its log-likelihood, 8 equal-population bins, centroid = bin
mean); the paper's refinement recalled, not re-verified (nearest-centroid reassignment until the
L1 error stops falling). This quantiser, step by step, per tensor (all K x N weights together):

1. **Outliers.** ``mean`` and ``std`` (population) of the tensor in float64; a weight is an outlier
   when ``|w - mean| > OUTLIER_SIGMAS * std`` (3 sigma, the brief's reading of GOBO's Gaussian
   test; the reimplementations' log-likelihood <= -4 is a threshold in sigmas too, one that
   depends on the scale). Outliers are kept as FP16 (IEEE RNE) with their (k, n) positions.
2. **Initial centroids.** The other ("Gaussian") weights sorted and split into 8 bins of equal
   population (``numpy.array_split``: sizes differ by at most one); centroid = bin mean.
3. **Refinement.** Assign each Gaussian weight to the nearest centroid (ties to the lower index),
   recompute each centroid as the mean of its weights (a centroid without weights keeps its
   value), repeat while the total L1 error falls (at most ``MAX_REFINE_STEPS`` rounds); keep the
   centroids of the smallest L1 error.
4. **Storage.** Centroids rounded to FP16 (IEEE RNE); each Gaussian weight's index is its nearest
   FP16 centroid (ties to the lower index), so the stored code is the best of the stored table.

A weight's code is 4 bits: bits 0-2 the index, bit 3 the outlier flag (an outlier's index bits
are 0). The value a code stands for is ``table[index]`` (flag 0) or the outlier's FP16 value.
"""

from dataclasses import dataclass

import numpy as np

from hw.pe_gobo import CENTROIDS, OUTLIER_FLAG_BIT
from .fast_gobo import abs_errors, cluster_ends, index_counts, nearest_centroid, outlier_mask, sorted_round
from .fast_sort import sort_float64
from .fp16_gemm import decode_fp16, encode_fp16

OUTLIER_SIGMAS = 3.0
MAX_REFINE_STEPS = 50


@dataclass(frozen=True)
class GoboDictionary:
    """One weight tensor's side data: ``centroids``, ``CENTROIDS`` FP16 patterns (Python ints,
    index order), and ``outliers``, the tensor's sparse outlier list: ``(k, n, value)`` triples
    (FP16 ``value`` patterns), kept sorted by ``(n, k)``, the order the outlier unit adds them
    (default none: codes given without a list have outlier-flagged weights that contribute 0).
    ``table_entries`` is what the accelerator loads into its table register (one entry per
    parameter-buffer address) and ``outliers`` what it loads into its outlier buffer
    (:mod:`hw.gobo_outlier_pass`)."""
    centroids: tuple
    outliers: tuple = ()

    def __post_init__(self):
        codes = tuple(int(c) for c in self.centroids)
        if len(codes) != CENTROIDS:
            raise ValueError(f"a GOBO dictionary has {CENTROIDS} centroids, not {len(codes)}")
        decode_fp16(codes, "GOBO centroid")          # refuses non-16-bit, infinity and NaN codes
        object.__setattr__(self, "centroids", codes)
        triples = []
        for entry in self.outliers:
            k, n, value = (int(x) for x in entry)
            if k < 0 or n < 0:
                raise ValueError(f"an outlier's position (k, n) is >= 0, not {(k, n)}")
            triples.append((k, n, value))
        if triples:
            decode_fp16([v for _, _, v in triples], "outlier")
        triples.sort(key=lambda t: (t[1], t[0]))
        if len({(k, n) for k, n, _ in triples}) != len(triples):
            raise ValueError("two outliers at one (k, n) position")
        object.__setattr__(self, "outliers", tuple(triples))

    @classmethod
    def of_meta(cls, meta):
        """The dictionary and outlier list of :func:`quantize_gobo`'s ``meta``: equal to
        ``cls(centroids, zip(k, n, value))`` (its checks and errors). An accuracy run builds one
        per GEMM call, so lists of integers are checked and sorted as arrays
        (:func:`_checked_outliers`) instead of entry by entry; anything else takes the constructor."""
        o = meta["outliers"]
        triples = _checked_outliers(o["k"], o["n"], o["value"])
        if triples is None:
            return cls(tuple(meta["centroids"]), tuple(zip(o["k"], o["n"], o["value"])))
        table = cls(tuple(meta["centroids"]))
        object.__setattr__(table, "outliers", triples)       # what __post_init__ would store
        return table

    @property
    def table_entries(self):
        return self.centroids

    @property
    def outlier_lists(self):
        """The outliers as ``{"k", "n", "value"}`` lists (the quantiser's ``meta["outliers"]`` form)."""
        return {f: [t[i] for t in self.outliers] for i, f in enumerate(("k", "n", "value"))}

    def dump_arrays(self):
        lists = self.outlier_lists
        return {"centroids": np.asarray(self.centroids, dtype=np.int64),
                **{f"outlier_{f}": np.asarray(v, dtype=np.int64) for f, v in lists.items()}}

    description = ("gobo_table.npz (centroids: the 8 FP16 patterns of the table register, index "
                   "order; weight code = index | outlier flag << 3; outlier_k, outlier_n, "
                   "outlier_value: the outlier list the outlier buffer holds, FP16 values)")
    output_description = ("FP32 patterns of the whole GEMM: the array's sums of the dictionary "
                          "weights (outlier-flagged steps add nothing), then the outlier unit's "
                          "products of each column's outliers added in increasing k")

    @property
    def values(self):
        """The centroids as float64."""
        return decode_fp16(self.centroids, "GOBO centroid")


def _checked_outliers(ks, ns, values):
    """The ``(k, n, value)`` triples :class:`GoboDictionary` stores for these lists (Python ints,
    sorted by ``(n, k)``), or None unless the three are equally long 1-D integer lists (int64)
    that its checks accept (positions >= 0, FP16 values it decodes, no position twice): the
    constructor then checks them itself (and raises). With distinct positions the ``(n, k)``
    order is total, so ``np.lexsort`` gives the constructor's sorted order."""
    k, n, v = (np.asarray(x) for x in (ks, ns, values))
    if not all(x.dtype == np.int64 and x.ndim == 1 and len(x) == len(k) for x in (k, n, v)):
        return None
    if len(k) == 0:
        return ()
    if k.min() < 0 or n.min() < 0:
        return None
    try:
        decode_fp16(v, "outlier")
    except ValueError:
        return None
    order = np.lexsort((k, n))
    k, n, v = k[order], n[order], v[order]
    if np.any((k[1:] == k[:-1]) & (n[1:] == n[:-1])):
        return None
    return tuple(zip(k.tolist(), n.tolist(), v.tolist()))


def _nearest(values, centroids):
    """Index of the nearest centroid per value (ties: the lower index): exactly ``np.abs(values[:,
    None] - centroids[None, :]).argmin(axis=1)`` for finite inputs (the same float64 distances,
    and a running minimum that moves only on a strictly smaller one keeps the first minimum, as
    ``argmin`` does), without the (values x centroids) array: a compiled loop
    (:func:`models.fast_gobo.nearest_centroid`)."""
    return nearest_centroid(values, centroids)


def _group_means(values, assign, fallback):
    """Per centroid ``j`` the mean of ``values[assign == j]`` (``fallback[j]`` when none): each
    group's values in their order as one contiguous slice, so its numpy mean is that of the array
    the boolean mask gives, without a mask and a copy per centroid. Sorted values assigned to
    ascending centroids have non-decreasing indices (the usual case): the groups are already
    slices of ``values``; otherwise a stable sort by index (which keeps each group's order)."""
    counts, ordered = index_counts(assign, CENTROIDS)
    grouped = values if ordered else values[np.argsort(assign.astype(np.uint8), kind="stable")]
    ends = np.cumsum(counts)
    starts = ends - counts
    return np.array([grouped[a:b].mean() if b > a else fallback[j]
                     for j, (a, b) in enumerate(zip(starts, ends))])


def _round(values, centroids):
    """One refinement step's figures for ``centroids`` on the sorted ``values``: (the L1 error
    of the nearest-centroid assignment, the means of its groups, a group without values keeping
    its centroid). With provably ordered groups (:func:`models.fast_gobo.cluster_ends`) by
    their boundaries and numpy's summation in one compiled pass; otherwise per value."""
    ends = cluster_ends(values, centroids)
    if ends is not None:
        return sorted_round(values, centroids, ends, centroids)
    assign = _nearest(values, centroids)
    # abs_errors(v, c, i) is np.abs(v - c[i]) exactly (the same array, so the same sum)
    return abs_errors(values, centroids, assign).sum(), _group_means(values, assign, centroids)


def fit_centroids(values):
    """Steps 2-3 of the module docstring: float64 centroids (``CENTROIDS``, ascending before the
    refinement) of the 1-D ``values`` (at least one). The sort is ``np.sort``'s, bit for bit
    (:func:`models.fast_sort.sort_float64`: a radix sort for float32-origin weights)."""
    values = sort_float64(np.asarray(values, dtype=np.float64))
    centroids = np.array([b.mean() if b.size else values[-1] for b in np.array_split(values, CENTROIDS)])
    # a round's means are those of the groups whose L1 error it measures: computed with it, used
    # by the next round if this one's centroids are kept
    best_l1, means = _round(values, centroids)
    best = centroids
    for _ in range(MAX_REFINE_STEPS):
        centroids = means
        l1, means = _round(values, centroids)
        if not l1 < best_l1:
            break
        best, best_l1 = centroids, l1
    return best


def quantize_gobo(w):
    """K x N float weights -> (4-bit codes K x N int64, meta) by the module docstring's steps.

    ``meta``: ``centroids`` (8 FP16 patterns), ``outliers`` (``k``, ``n``, ``value``: FP16
    patterns, in (k, n) order), ``outlier_sigmas``, ``mean``, ``std``, ``scale`` [1.0] (no scale:
    the values are the weights). ValueError for NaN / infinity or outliers beyond FP16's range."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinity: GOBO quantises finite weights")
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must be a non-empty K x N matrix, not shape {w.shape}")
    mean, std = float(w.mean()), float(w.std())
    outlier = outlier_mask(w, mean, OUTLIER_SIGMAS * std)   # np.abs(w - mean) > 3 std, one pass
    gaussian = w[~outlier]                     # never empty: not every value is beyond 3 sigma
    table = encode_fp16(fit_centroids(gaussian), "GOBO centroids")
    codes = _nearest(w.ravel(), decode_fp16(table)).reshape(w.shape).astype(np.int64, copy=False)
    np.putmask(codes, outlier, 1 << OUTLIER_FLAG_BIT)        # in place: np.where(outlier, flag, index)
    ks, ns = np.divmod(np.flatnonzero(outlier), w.shape[1])  # np.nonzero(outlier)'s (k, n), row-major
    values = encode_fp16(w[ks, ns], "outlier weights")
    meta = {"format": "gobo", "granularity": "tensor", "scale": [1.0],
            "centroids": [int(c) for c in table],
            "outliers": {"k": ks.tolist(), "n": ns.tolist(), "value": values.tolist()},
            "outlier_sigmas": OUTLIER_SIGMAS, "mean": mean, "std": std,
            "dequantise": "value = fp16(centroids[code & 7]) if code < 8 else fp16(outlier value)"}
    return codes, meta


def gobo_weight_values(codes, meta):
    """The float64 weights the codes and ``meta`` stand for (what GOBO's GEMM multiplies)."""
    codes = np.asarray(codes, dtype=np.int64)
    values = decode_fp16(meta["centroids"], "GOBO centroid")[codes & (CENTROIDS - 1)]
    o = meta["outliers"]
    values[np.asarray(o["k"], dtype=np.int64), np.asarray(o["n"], dtype=np.int64)] = decode_fp16(
        np.asarray(o["value"], dtype=np.int64), "outlier")
    return values
