"""One figure style for every experiment: labelled axes, log scales where rates live, seed
intervals as bands, PNG (for the README) and PDF (for papers)."""
from pathlib import Path

import numpy as np

COLORS = {"SignSGD": "#d62728", "StoSignSGD": "#1f77b4", "SGD": "#2ca02c", "Signum": "#ff7f0e",
          "EF-SignSGD": "#9467bd", "StoSignSGD-practical": "#17becf", "AdaGrad": "#8c564b",
          "Adam": "#e377c2", "AdamW": "#7f7f7f", "Lion": "#bcbd22"}


def figure(ncols=1, nrows=1, width=5.0, height=3.8):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 7,
                         "axes.titlesize": 9, "axes.labelsize": 9, "figure.dpi": 110})
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def band(ax, t, samples, label, color=None, level=0.95, **kw):
    """The mean over seeds (rows) as a line, a bootstrap interval of the mean as a band."""
    from theory_bench.analysis.bootstrap import mean_interval
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    if samples.shape[0] > 1:
        m, lo, hi = mean_interval(samples, level=level, n_boot=500)
        ax.fill_between(t, lo, hi, color=color, alpha=0.25, linewidth=0)
    else:
        m = samples[0]
    ax.plot(t, m, label=label, color=color, **kw)


# Distinct colours and dashes for the variants of a figure with many lines (none of them the red
# of SignSGD or the blue of StoSignSGD, which stay the references), so that every line is
# identifiable in print as well as on screen.
DISTINCT = ["#e69f00", "#009e73", "#9467bd", "#000000", "#cc79a7", "#8c564b", "#56b4e9", "#7f7f7f", "#bcbd22"]
DASHES = ["-", "--", "-.", ":"]


def style(k):
    """The ``k``-th of the distinct (colour, line style) pairs: colours first, then dashes."""
    return DISTINCT[k % len(DISTINCT)], DASHES[(k // len(DISTINCT)) % len(DASHES)]


def legend_right(ax, **kw):
    """The legend outside the axes, to their right, so that it hides no data."""
    kw.setdefault("fontsize", 7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def legend_below(ax, ncol=1, offset=0.3, **kw):
    """The legend outside the axes, under them: ``offset`` (a fraction of the axes' height) clears
    the x label, more for rotated tick labels."""
    kw.setdefault("fontsize", 7)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -offset), borderaxespad=0.0, ncol=ncol, **kw)


def save(fig, outdir, name):
    """Write ``name.png`` and ``name.pdf`` under ``outdir``; return both paths."""
    import matplotlib.pyplot as plt
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # The tight box (legends outside kept), measured once for both files: "tight" in savefig draws
    # the figure twice per file, and a 16-panel figure spends most of its time measuring tick labels.
    box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
    paths = [outdir / f"{name}.png", outdir / f"{name}.pdf"]
    for p in paths:
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        fig.savefig(tmp, dpi=130 if p.suffix == ".png" else None, bbox_inches=box,
                    metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
        tmp.replace(p)
    plt.close(fig)
    return paths
