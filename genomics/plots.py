"""GWAS and population-structure figures: Manhattan, QQ (with lambda GC) and PCA plots.

Pure plotting helpers: they take pandas frames / numpy arrays and return matplotlib
``Figure`` objects (built without pyplot, so nothing accumulates in a global figure
registry when a job draws many plots). Saving is the caller's business
(``fig.savefig(path)`` or ``mlflow.log_figure``).
"""
from __future__ import annotations

from typing import Iterable

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

__all__ = [
    "MEDIAN_CHI2_1DF",
    "P_FLOOR",
    "lambda_gc",
    "chromosome_sort_key",
    "normalize_chromosome",
    "manhattan_figure",
    "qq_figure",
    "pca_figure",
]

#: median of the chi-squared distribution with 1 degree of freedom
MEDIAN_CHI2_1DF = 0.4549364
#: p-values are clipped to this floor before -log10 (p == 0 underflows in float64 output)
P_FLOOR = 1e-300

_COLOURS = ("#1f4e79", "#7fa7d1")  # alternating chromosome colours
_SPECIAL_ORDER = {"X": 1, "Y": 2, "XY": 3, "MT": 4}


# ----------------------------------------------------------------------------- helpers
def _clean_p(p_values) -> np.ndarray:
    """Float array of valid p-values (NaN and values outside [0, 1] removed), floored at P_FLOOR."""
    p = np.asarray(p_values, dtype=float).ravel()
    p = p[np.isfinite(p) & (p >= 0.0) & (p <= 1.0)]
    return np.clip(p, P_FLOOR, 1.0)


def lambda_gc(p_values) -> float:
    """Genomic inflation factor: median chi2(1) statistic of the p-values / 0.4549364.

    NaN (and out-of-range) p-values are ignored; p == 0 is clipped at 1e-300.
    Returns NaN when there are no valid p-values.
    """
    p = _clean_p(p_values)
    if p.size == 0:
        return float("nan")
    chi2 = stats.chi2.isf(p, df=1)
    return float(np.median(chi2) / MEDIAN_CHI2_1DF)


def normalize_chromosome(value) -> str:
    """'chr1' / '1' / 1 -> '1'; 'chrX' -> 'X'; 'chrM' / 'M' / 'MT' -> 'MT'."""
    s = str(value).strip()
    if s.lower().startswith("chr"):
        s = s[3:]
    s = s.upper() if not s.isdigit() else str(int(s))
    if s in ("M", "MT"):
        return "MT"
    return s


def chromosome_sort_key(value) -> tuple:
    """Natural chromosome order: 1..22 (numeric), X, Y, XY, MT, then anything else alphabetically."""
    s = normalize_chromosome(value)
    if s.isdigit():
        return (0, int(s), "")
    if s in _SPECIAL_ORDER:
        return (1, _SPECIAL_ORDER[s], "")
    return (2, 0, s)


def _new_figure(width: float = 10.0, height: float = 4.5) -> tuple[Figure, "matplotlib.axes.Axes"]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


# ----------------------------------------------------------------------------- Manhattan
def manhattan_figure(
    df: pd.DataFrame,
    title: str,
    significance: float = 5e-8,
    label_df: pd.DataFrame | None = None,
    label_window_bp: int = 500_000,
) -> Figure:
    """Manhattan plot of GWAS results.

    ``df`` needs columns ``chromosome`` (e.g. 'chr1' or '1'), ``base_pair_location`` (int)
    and ``p_value``. Rows with missing/invalid values are not drawn; p == 0 is clipped at
    1e-300. Chromosomes are laid out in natural order with alternating colours; a dashed
    line marks ``significance``. ``label_df`` (chromosome, base_pair_location, label) adds
    annotations; each label is placed at the smallest p-value within ``label_window_bp``
    of its position (or at the significance line if there is none).

    Points are drawn with two rasterized scatter calls (one per colour), so 10^6 points
    are fine. ``fig.genolake_n_points`` holds the number of points drawn.
    """
    missing = {"chromosome", "base_pair_location", "p_value"} - set(df.columns)
    if missing:
        raise KeyError(f"manhattan_figure: missing column(s) {sorted(missing)}")

    chrom = df["chromosome"].astype("string")
    pos = pd.to_numeric(df["base_pair_location"], errors="coerce").to_numpy(dtype=float)
    p = pd.to_numeric(df["p_value"], errors="coerce").to_numpy(dtype=float)
    ok = chrom.notna().to_numpy() & np.isfinite(pos) & np.isfinite(p) & (p >= 0) & (p <= 1)

    chrom_ok = chrom[ok].to_numpy(dtype=object)
    pos = pos[ok]
    y = -np.log10(np.clip(p[ok], P_FLOOR, 1.0))

    # Normalise chromosome names once per distinct value (fast for millions of rows).
    codes, uniques = pd.factorize(pd.Series(chrom_ok, dtype=object))
    norm_uniques = [normalize_chromosome(u) for u in uniques]
    norm_names = sorted(set(norm_uniques), key=chromosome_sort_key)
    order = {c: i for i, c in enumerate(norm_names)}
    chrom_idx = np.array([order[n] for n in norm_uniques], dtype=int)[codes] if len(codes) else np.array([], int)

    n_chrom = len(norm_names)
    x = np.empty_like(pos)
    ticks, offsets, spans = [], {}, {}
    offset = 0.0
    if n_chrom:
        chrom_min = np.full(n_chrom, np.nan)
        chrom_max = np.full(n_chrom, np.nan)
        # per-chromosome extent, vectorised
        grouped = pd.Series(pos).groupby(chrom_idx)
        gmin, gmax = grouped.min(), grouped.max()
        chrom_min[gmin.index.to_numpy()] = gmin.to_numpy()
        chrom_max[gmax.index.to_numpy()] = gmax.to_numpy()
        total = float(np.nansum(chrom_max - chrom_min)) or float(n_chrom)
        gap = 0.01 * total
        starts = np.empty(n_chrom)
        for i in range(n_chrom):
            starts[i] = offset - chrom_min[i]
            spans[norm_names[i]] = (chrom_min[i], chrom_max[i])
            offsets[norm_names[i]] = starts[i]
            ticks.append(offset + (chrom_max[i] - chrom_min[i]) / 2.0)
            offset += (chrom_max[i] - chrom_min[i]) + gap
        x = pos + starts[chrom_idx]

    fig, ax = _new_figure(12.0, 4.5)
    for parity in (0, 1):
        m = (chrom_idx % 2) == parity
        ax.scatter(
            x[m], y[m], s=3, c=_COLOURS[parity], linewidths=0, rasterized=True,
            label=None,
        )

    sig_y = -np.log10(significance) if significance and significance > 0 else None
    if sig_y is not None:
        ax.axhline(sig_y, color="#c0392b", linestyle="--", linewidth=1.0,
                   label=f"p = {significance:.0e}")

    if label_df is not None and len(label_df) and n_chrom:
        placed = []
        for _, row in label_df.iterrows():
            cname = normalize_chromosome(row["chromosome"])
            if cname not in order:
                continue
            bp = float(row["base_pair_location"])
            in_chrom = chrom_idx == order[cname]
            near = in_chrom & (np.abs(pos - bp) <= label_window_bp)
            ly = float(y[near].max()) if near.any() else (sig_y if sig_y is not None else 0.0)
            lx = bp + offsets[cname]
            placed.append((lx, ly, str(row["label"])))
        # labels closer than a tenth of the axis to the one before are lifted a line higher
        width = max(offset, 1.0)
        prev_x, lift = -np.inf, 0
        for lx, ly, text in sorted(placed):
            lift = lift + 1 if lx - prev_x < 0.1 * width else 0
            prev_x = lx
            ax.annotate(
                text, xy=(lx, ly), xytext=(0, 12 + 11 * lift), textcoords="offset points",
                ha="center", fontsize=8, arrowprops={"arrowstyle": "-", "lw": 0.6},
            )

    ymax = max([float(y.max()) if y.size else 1.0, sig_y or 0.0, 1.0])
    ax.set_ylim(0.0, ymax * 1.08 + 0.5)
    if n_chrom:
        ax.set_xlim(-0.005 * max(offset, 1.0), offset)
        ax.set_xticks(ticks)
        ax.set_xticklabels(norm_names, fontsize=7 if n_chrom > 12 else 9)
    ax.set_xlabel("Chromosome")
    ax.set_ylabel(r"$-\log_{10}(p)$")
    ax.set_title(title)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if sig_y is not None:
        ax.legend(loc="upper right", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.genolake_n_points = int(y.size)  # type: ignore[attr-defined]
    return fig


# ----------------------------------------------------------------------------- QQ
def qq_figure(p_values, title: str) -> Figure:
    """QQ plot: expected vs observed -log10 p (uniform null), y = x diagonal, lambda GC in
    the title and the legend. NaN p-values are ignored, p == 0 is clipped at 1e-300.
    ``fig.genolake_lambda_gc`` holds the lambda GC shown."""
    p = np.sort(_clean_p(p_values))
    n = p.size
    lam = lambda_gc(p)
    observed = -np.log10(p)
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / n) if n else np.array([])

    fig, ax = _new_figure(5.5, 5.5)
    lam_txt = "nan" if not np.isfinite(lam) else f"{lam:.3f}"
    ax.scatter(expected, observed, s=4, c=_COLOURS[0], linewidths=0, rasterized=True,
               label=f"observed (λGC = {lam_txt})")
    lim_x = float(expected.max()) if n else 1.0
    lim_y = float(observed.max()) if n else 1.0
    ax.plot([0, lim_x], [0, lim_x], color="#c0392b", linestyle="--", linewidth=1.0,
            label="expected under null")
    ax.set_xlim(0, lim_x * 1.05 + 0.1)
    ax.set_ylim(0, max(lim_x, lim_y) * 1.05 + 0.1)
    ax.set_xlabel(r"Expected $-\log_{10}(p)$")
    ax.set_ylabel(r"Observed $-\log_{10}(p)$")
    ax.set_title(f"{title} (λGC = {lam_txt})")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.genolake_lambda_gc = lam  # type: ignore[attr-defined]
    fig.genolake_n_points = int(n)  # type: ignore[attr-defined]
    return fig


# ----------------------------------------------------------------------------- PCA
def pca_figure(
    pcs_df: pd.DataFrame,
    color_col: str | None = None,
    title: str = "Principal components",
    explained_variance: Iterable[float] | None = None,
    max_categories: int = 20,
) -> Figure:
    """PC1 vs PC2 scatter. ``pcs_df`` has columns PC1, PC2, ... (plus optionally ``color_col``).

    ``color_col`` non-numeric (or numeric with <= ``max_categories`` distinct values) is
    drawn as categories with a legend (missing values as 'missing'); otherwise as a
    continuous colour map with a colour bar. ``explained_variance`` (fractions per PC)
    is added to the axis labels when given. Rows with missing PC1/PC2 are not drawn.
    """
    for c in ("PC1", "PC2"):
        if c not in pcs_df.columns:
            raise KeyError(f"pca_figure: column {c!r} missing")
    if color_col is not None and color_col not in pcs_df.columns:
        raise KeyError(f"pca_figure: color column {color_col!r} missing")

    x = pd.to_numeric(pcs_df["PC1"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(pcs_df["PC2"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)

    fig, ax = _new_figure(6.0, 5.5)
    if color_col is None:
        ax.scatter(x[ok], y[ok], s=8, c=_COLOURS[0], alpha=0.7, linewidths=0, rasterized=True)
    else:
        col = pcs_df[color_col]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and col.nunique(dropna=True) > max_categories:
            vals = col.to_numpy(dtype=float)
            sc = ax.scatter(x[ok], y[ok], s=8, c=vals[ok], cmap="viridis", alpha=0.8,
                            linewidths=0, rasterized=True)
            fig.colorbar(sc, ax=ax, label=str(color_col))
        else:
            labels = col.astype("string").fillna("missing").to_numpy(dtype=object)
            cats = sorted(set(labels[ok]), key=lambda v: (v == "missing", v))
            cmap = matplotlib.colormaps["tab10" if len(cats) <= 10 else "tab20"]
            for i, cat in enumerate(cats):
                m = ok & (labels == cat)
                ax.scatter(x[m], y[m], s=8, color=cmap(i % cmap.N), alpha=0.8, linewidths=0,
                           rasterized=True, label=str(cat))
            ax.legend(title=str(color_col), frameon=False, fontsize=8, markerscale=2)

    ev = list(explained_variance) if explained_variance is not None else None
    ax.set_xlabel("PC1" + (f" ({100 * ev[0]:.1f}%)" if ev and len(ev) > 0 else ""))
    ax.set_ylabel("PC2" + (f" ({100 * ev[1]:.1f}%)" if ev and len(ev) > 1 else ""))
    ax.set_title(title)
    fig.tight_layout()
    fig.genolake_n_points = int(ok.sum())  # type: ignore[attr-defined]
    return fig
