"""The report's plots: each function takes report tables and returns one PNG (base64 text).

Colour = PE family (the registry kind), marker = weight bits, in every design plot, so a reader
learns the encoding once. Adding a plot: write a function here returning :func:`png` of a figure,
and call it from a section of :mod:`sim.report_html`.
"""

import base64
import io
import textwrap

import numpy as np

from models.cost import AREA_GROUPS, ENERGY_GROUPS
from models.registry import PE_KINDS

# the page is 1400 px wide; figures are drawn at this many pixels per inch
DPI = 90
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
# stacked-bar segments: (label, groups of models.cost.AREA_GROUPS / ENERGY_GROUPS)
AREA_SEGMENTS = (("PEs", ("pes",)), ("border units", ("act_borders", "weight_borders")),
                 ("registers between PEs", ("slot_regs", "edge_regs")),
                 ("post-array units", ("out_accumulate",)),
                 ("buffers", ("buffer_act", "buffer_weight", "buffer_out")))
ENERGY_SEGMENTS = (("PEs + registers", ("pes", "slot_regs", "edge_regs")),
                   ("border + post-array units", ("act_borders", "weight_borders", "out_accumulate")),
                   ("clock", ("clock",)), ("SRAM act", ("sram_act",)), ("SRAM weight", ("sram_weight",)),
                   ("SRAM out", ("sram_out",)), ("DRAM act", ("dram_act",)),
                   ("DRAM weight", ("dram_weight",)), ("DRAM out", ("dram_out",)))
assert {g for _, gs in AREA_SEGMENTS for g in gs} == set(AREA_GROUPS)
assert {g for _, gs in ENERGY_SEGMENTS for g in gs} == set(ENERGY_GROUPS)


def _pyplot():
    # deferred on purpose: the headless backend must be chosen before pyplot is first imported,
    # and only the report draws (every other command starts faster without matplotlib)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def png(fig):
    """The figure as base64 PNG text (no timestamp in it: the same data give the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def palette(n):
    """``n`` distinct colours (tab10, then tab20, then evenly spaced hues)."""
    plt = _pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def family_colours():
    """PE family (registry kind name) -> colour, in registry order."""
    return dict(zip(PE_KINDS, palette(len(PE_KINDS))))


def bit_markers(bits):
    return {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(sorted(set(bits)))}


def pareto_mask(xs, ys):
    """True where no other point is at least as good in both (higher is better in both)."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    return np.array([not np.any((xs >= x) & (ys >= y) & ((xs > x) | (ys > y))) for x, y in zip(xs, ys)])


def place_labels(ax, xs, ys, labels, fontsize=7, short=None):
    """Annotate each point with its label where the label overlaps no other label and no point:
    try 8 directions at growing distances, draw a leader line when far from the point. Where the
    full label finds no free place (a crowded cluster), the point's ``short`` label (a number) is
    placed the same way instead; returns the indices that carry their short label (the caller
    prints their key)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    points = [(x - 4, y - 4, x + 4, y + 4) for x, y in pts]
    frame = ax.get_window_extent(renderer)
    placed = []

    def free(box, own):
        x0, y0, x1, y1 = box
        if x0 < frame.x0 or x1 > frame.x1 or y0 < frame.y0 or y1 > frame.y1:
            return False
        others = placed + [p for i, p in enumerate(points) if i != own]
        return not any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in others)

    directions = ((1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1))

    def place(i, label, keep):
        """Place ``label`` at the first free spot; if none, keep the last try when ``keep``."""
        text = None
        for radius in (5, 12, 20, 30, 42, 56, 72):
            for dx, dy in directions:
                if text is not None:
                    text.remove()
                far = radius > 12
                text = ax.annotate(
                    label, (xs[i], ys[i]), xytext=(dx * radius, dy * radius), textcoords="offset points",
                    fontsize=fontsize, ha="left" if dx > 0 else "right" if dx < 0 else "center",
                    va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                    arrowprops=dict(arrowstyle="-", color="0.6", lw=0.6) if far else None)
                bb = text.get_window_extent(renderer)
                box = (bb.x0 - 1, bb.y0 - 1, bb.x1 + 1, bb.y1 + 1)
                if free(box, i):
                    placed.append(box)
                    return True
        if keep:
            placed.append(box)    # no free place: keep the last try (with its leader line)
        else:
            text.remove()
        return False

    numbered = []
    for i in np.argsort(-pts[:, 1]):
        if not np.isfinite(pts[i]).all():
            continue
        if place(i, labels[i], keep=short is None):
            continue
        numbered.append(int(i))
        place(i, short[i], keep=True)
    return numbered


def _better(ax, where="upper right"):
    """An arrow pointing to the better corner."""
    x, y = (0.97, 0.97) if where == "upper right" else (0.03, 0.97)
    dx = -0.12 if where == "upper right" else 0.12
    ax.annotate("better", xy=(x, y), xytext=(x + dx, y - 0.12), xycoords="axes fraction",
                textcoords="axes fraction", fontsize=8, color="0.3", ha="center", va="center",
                arrowprops=dict(arrowstyle="->", color="0.3"))


def _legends(fig, families, bits, front=True, greyed=False):
    plt = _pyplot()
    colours, markers = family_colours(), bit_markers(bits)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[f], label=f) for f in families]
    handles += [plt.Line2D([], [], ls="", marker=markers[b], color="0.4", label=f"{b}-bit weight codes")
                for b in sorted(markers)]
    if front:
        handles.append(plt.Line2D([], [], ls="--", color="0.5", label="Pareto front"))
    if greyed:
        handles.append(plt.Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor="0.6",
                                  color="0.6", label="over the accuracy threshold"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02), title="colour: PE family (registry kind); marker: bits per weight code",
               title_fontsize=8)


def pareto(frame, quality, quality_label, metrics, acceptable=None, threshold=None):
    """Quality (higher is better) against each (column, axis label) of ``metrics``, one panel each:
    the Pareto front drawn, colour by family (``pe``), marker by ``weight_bits``, labels placed
    without overlaps. ``frame``: one row per design with ``design``, ``pe``, ``weight_bits``.
    ``acceptable``: per row, whether the design's accuracy is acceptable; the others are drawn
    hollow and grey and left out of the front (None: every row counts). ``threshold``: the
    quality the acceptable designs reach, drawn as a dotted line (None: when the threshold is on
    another metric than the plotted one)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(7 * len(metrics), 5.2))
    axes = np.atleast_1d(axes)
    colours, markers = family_colours(), bit_markers(frame.weight_bits)
    numbers = [str(i + 1) for i in range(len(frame))]     # the same in every panel
    numbered = set()
    for ax, (column, label) in zip(axes, metrics):
        xs, ys = frame[column].to_numpy(float), frame[quality].to_numpy(float)
        ok = np.ones(len(xs), bool) if acceptable is None else np.asarray(acceptable, bool)
        for x, y, pe, bits, good in zip(xs, ys, frame.pe, frame.weight_bits, ok):
            if good:
                ax.scatter(x, y, color=colours[pe], marker=markers[bits], s=46, zorder=3, edgecolor="k", lw=0.4)
            else:
                ax.scatter(x, y, facecolor="none", marker=markers[bits], s=46, zorder=3, edgecolor="0.6", lw=0.8)
        # the front among the acceptable points: an unacceptable design dominates nothing
        front = np.zeros(len(xs), bool)
        front[ok] = pareto_mask(xs[ok], ys[ok])
        order = np.argsort(xs[front])
        ax.plot(xs[front][order], ys[front][order], "--", color="0.5", zorder=2, drawstyle="steps-pre")
        if threshold is not None:
            ax.axhline(threshold, ls=":", color="0.4", lw=1, zorder=1)
            ax.annotate("acceptable accuracy", (0.01, threshold), xycoords=("axes fraction", "data"),
                        xytext=(0, 2), textcoords="offset points", fontsize=7, color="0.4", va="bottom")
        ax.set(xlabel=label, ylabel=quality_label)
        ax.grid(alpha=0.3)
        ax.margins(0.18)
        _better(ax)
        numbered.update(place_labels(ax, xs, ys, list(frame.design), short=numbers))
    _legends(fig, [f for f in PE_KINDS if f in set(frame.pe)], frame.weight_bits,
             greyed=acceptable is not None and not np.all(acceptable))
    if numbered:
        # points in a cluster too dense for their names carry a number: its key, below the legend
        key = "   ".join(f"{numbers[i]} {frame.design.iloc[i]}" for i in sorted(numbered))
        lines = textwrap.wrap("numbered points: " + key, 230, break_on_hyphens=False)
        fig.text(0.5, -0.03, "\n".join(lines), ha="center", va="top", fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return png(fig)


def _stacked(ax, labels, segments, values, horizontal=True):
    """Bars of ``labels``, each stacked from ``values[label][segment]`` in segment order."""
    colours = palette(len(segments))
    left = np.zeros(len(labels))
    for colour, seg in zip(colours, segments):
        widths = np.array([values[label][seg] for label in labels])
        if horizontal:
            ax.barh(labels, widths, left=left, color=colour, label=seg)
        else:
            ax.bar(labels, widths, bottom=left, color=colour, label=seg)
        left += widths
    return left


def area_bars(area, synth_array_mm2=None):
    """Area per design at an equal PE count, stacked by :data:`AREA_SEGMENTS`; where synthesis
    ran, a marker at the synthesised PEs + border units of the same array."""
    plt = _pyplot()
    frame = area[area.budget == "equal PE count"].iloc[::-1]
    labels = list(frame.design)
    values = {row.design: {seg: sum(getattr(row, f"{g}_mm2") for g in groups) for seg, groups in AREA_SEGMENTS}
              for row in frame.itertuples()}
    fig, ax = plt.subplots(figsize=(12, 0.34 * len(labels) + 1.6))
    _stacked(ax, labels, [s for s, _ in AREA_SEGMENTS], values)
    if synth_array_mm2:
        ys = [i for i, label in enumerate(labels) if label in synth_array_mm2]
        ax.scatter([synth_array_mm2[labels[i]] for i in ys], ys, marker="|", s=260, color="k", zorder=4,
                   label="synthesised PEs + border units (Yosys, osu018 scaled to 45 nm)")
    shape = f"{int(frame.rows.iloc[0])}x{int(frame.cols.iloc[0])}"
    ax.set(xlabel=f"area (mm^2, 45 nm), every design on a {shape} array", title="Area by component")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return png(fig)


def energy_bars(energy, workloads):
    """pJ per MAC per design at an equal PE count, stacked by :data:`ENERGY_SEGMENTS`, one panel
    per workload."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(workloads), figsize=(14, 0.34 * energy.design.nunique() + 2), sharey=True)
    axes = np.atleast_1d(axes)
    segments = [s for s, _ in ENERGY_SEGMENTS]
    for ax, workload in zip(axes, workloads):
        frame = energy[(energy.budget == "equal PE count") & (energy.workload == workload)].iloc[::-1]
        values = {row.design: {seg: sum(getattr(row, f"{g}_pj_per_mac") for g in groups)
                               for seg, groups in ENERGY_SEGMENTS} for row in frame.itertuples()}
        _stacked(ax, list(frame.design), segments, values)
        ax.set(xlabel="energy per MAC (pJ, 45 nm)", title=workload)
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes[-1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return png(fig)


def roofline(layers, designs, workloads, bandwidth_gbps, peak_tops):
    """Per-layer roofline: arithmetic intensity (ops per DRAM byte) against attained (DRAM-bounded)
    TOPS, one panel per workload; the DRAM slope and the baseline array's peak drawn."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(workloads), figsize=(14, 4.6), sharey=True)
    axes = np.atleast_1d(axes)
    colours = family_colours()
    markers = bit_markers(designs.weight_bits)
    bits = designs.set_index("design").weight_bits
    for ax, workload in zip(axes, workloads):
        frame = layers[layers.workload == workload]
        for row in frame.itertuples():
            ax.scatter(row.ops_per_dram_byte, row.tops_bounded, color=colours[row.pe],
                       marker=markers[bits[row.design]], s=22, edgecolor="k", lw=0.3, zorder=3)
        x = np.geomspace(frame.ops_per_dram_byte.min() / 2, frame.ops_per_dram_byte.max() * 2, 50)
        ax.plot(x, np.minimum(bandwidth_gbps * 1e9 * x / 1e12, peak_tops), color="0.3", lw=1,
                label=f"roof: {bandwidth_gbps:g} GB/s DRAM, INT8 peak {peak_tops:.3g} TOPS")
        ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (ops per DRAM byte)", title=workload)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("attained TOPS (DRAM-bounded), per layer")
    _legends(fig, [f for f in PE_KINDS if f in set(layers.pe)], designs.weight_bits, front=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return png(fig)


def layer_cycles(layers, workloads):
    """Cycles per design split by layer, each layer's cycles x its count per forward pass, one
    panel per workload (so 72 attention instances weigh what they cost)."""
    plt = _pyplot()
    designs = list(dict.fromkeys(layers.design))[::-1]
    fig, axes = plt.subplots(1, len(workloads), figsize=(14, 0.34 * len(designs) + 2.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, workload in zip(axes, workloads):
        frame = layers[layers.workload == workload]
        names = list(dict.fromkeys(frame.layer))
        values = {d: dict(zip(g.layer, g.total_cycles)) for d, g in frame.groupby("design")}
        _stacked(ax, designs, names, values)
        ax.set(xlabel="cycles per forward pass (layer cycles x count)", title=workload)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, frameon=False)
    fig.tight_layout()
    return png(fig)
