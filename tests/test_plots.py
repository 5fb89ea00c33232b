"""GWAS figures (genomics/plots.py) and risk-model figures (models/plots.py)."""
from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from genomics.plots import (
    chromosome_sort_key,
    lambda_gc,
    manhattan_figure,
    normalize_chromosome,
    pca_figure,
    qq_figure,
)
from models.plots import (
    binned_means,
    calibration_figure,
    predicted_vs_observed_figure,
    roc_figure,
)


def _n_scatter_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections)


# ----------------------------------------------------------------------------- lambda GC
def test_lambda_gc_uniform_is_one():
    p = np.random.default_rng(0).uniform(size=20_000)
    assert 0.9 < lambda_gc(p) < 1.1


def test_lambda_gc_inflated_chi2():
    chi2 = stats.chi2.rvs(df=1, size=20_000, random_state=1) * 1.2
    p = stats.chi2.sf(chi2, df=1)
    assert lambda_gc(p) == pytest.approx(1.2, abs=0.06)


def test_lambda_gc_exact_and_edge_cases():
    # the median p of 0.5 corresponds to chi2 = 0.4549364 -> lambda 1
    assert lambda_gc([0.5]) == pytest.approx(1.0, rel=1e-6)
    assert lambda_gc([0.5, np.nan, np.nan]) == pytest.approx(1.0, rel=1e-6)
    assert np.isfinite(lambda_gc([0.0, 0.0, 0.0]))  # p = 0 clipped, not inf
    assert np.isnan(lambda_gc([np.nan]))


# ----------------------------------------------------------------------------- Manhattan
def _gwas(n_per_chrom=2000, chroms=("chr1", "chr2", "chr10", "chrX", "chr22"), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in chroms:
        pos = np.sort(rng.integers(1, 50_000_000, n_per_chrom))
        rows.append(pd.DataFrame({"chromosome": c, "base_pair_location": pos,
                                  "p_value": rng.uniform(size=n_per_chrom)}))
    return pd.concat(rows, ignore_index=True)


def test_chromosome_natural_order():
    names = ["chrX", "10", "chr2", "MT", "chrY", "1", "chrM", "22", "chr3"]
    got = sorted({normalize_chromosome(c) for c in names}, key=chromosome_sort_key)
    assert got == ["1", "2", "3", "10", "22", "X", "Y", "MT"]


def test_manhattan_points_order_and_significance():
    df = _gwas()
    df.loc[2005, "p_value"] = 0.0       # (chr2) must be clipped at 1e-300, not inf
    df.loc[6, "p_value"] = np.nan       # dropped
    df.loc[7, "p_value"] = 1e-12
    labels = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [int(df.loc[7, "base_pair_location"])],
                           "label": ["GENE1"]})
    fig = manhattan_figure(df, "Height GWAS", significance=5e-8, label_df=labels)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert _n_scatter_points(ax) == len(df) - 1 == fig.genolake_n_points
    assert all(c.get_rasterized() for c in ax.collections)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "10", "22", "X"]
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    assert np.isfinite(ys).all() and ys.max() == pytest.approx(300.0)
    hlines = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), -np.log10(5e-8))]
    assert len(hlines) == 1
    assert ax.get_ylim()[1] > 300
    assert [t.get_text() for t in ax.texts] == ["GENE1"]
    assert ax.texts[0].xy[1] == pytest.approx(12.0)
    # chromosomes do not overlap: chr2 points lie right of all chr1 points
    xs1 = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert xs1.min() >= ax.get_xlim()[0] and xs1.max() <= ax.get_xlim()[1]
    assert ax.get_title() == "Height GWAS"


def test_manhattan_mixed_prefix_and_alternating_colours():
    df = _gwas(n_per_chrom=100, chroms=("1", "chr2", "3"))
    fig = manhattan_figure(df, "t")
    ax = fig.axes[0]
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [200, 100]  # chromosomes 1 and 3 share a colour, 2 has the other
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]


def test_manhattan_large_is_fast():
    df = _gwas(n_per_chrom=50_000, chroms=[f"chr{i}" for i in range(1, 5)])
    t0 = time.perf_counter()
    fig = manhattan_figure(df, "200k variants")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    elapsed = time.perf_counter() - t0
    assert fig.genolake_n_points == 200_000
    assert buf.tell() > 1000
    assert elapsed < 10, elapsed


# ----------------------------------------------------------------------------- QQ
def test_qq_values_and_lambda_in_title():
    p = np.random.default_rng(2).uniform(size=5000)
    p[:3] = [0.0, np.nan, 1e-20]
    fig = qq_figure(p, "QQ")
    ax = fig.axes[0]
    off = ax.collections[0].get_offsets()
    assert len(off) == 4999
    exp = np.sort(np.asarray(off[:, 0]))
    assert exp.max() == pytest.approx(-np.log10(0.5 / 4999))
    assert np.asarray(off[:, 1]).max() == pytest.approx(300.0)
    lam = lambda_gc(p)
    assert f"{lam:.3f}" in ax.get_title() and "λGC" in ax.get_title()
    assert any(f"{lam:.3f}" in t.get_text() for t in ax.get_legend().get_texts())
    diag = ax.get_lines()[0]
    np.testing.assert_allclose(diag.get_xdata(), diag.get_ydata())


# ----------------------------------------------------------------------------- PCA
def test_pca_categories_and_continuous():
    rng = np.random.default_rng(3)
    pcs = pd.DataFrame(rng.normal(size=(300, 4)), columns=["PC1", "PC2", "PC3", "PC4"])
    pcs["pop"] = rng.choice(["AFR", "EUR", "EAS"], 300)
    pcs.loc[0, "pop"] = None
    pcs.loc[1, "PC1"] = np.nan
    fig = pca_figure(pcs, color_col="pop", title="PCA", explained_variance=[0.12, 0.05])
    ax = fig.axes[0]
    assert _n_scatter_points(ax) == 299
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AFR", "EAS", "EUR", "missing"]
    assert ax.get_xlabel() == "PC1 (12.0%)" and ax.get_ylabel() == "PC2 (5.0%)"
    pcs["age"] = rng.uniform(20, 80, 300)
    fig2 = pca_figure(pcs, color_col="age", title="by age")
    assert len(fig2.axes) == 2  # scatter + colour bar
    fig3 = pca_figure(pcs[["PC1", "PC2"]])
    assert _n_scatter_points(fig3.axes[0]) == 299
    with pytest.raises(KeyError):
        pca_figure(pcs[["PC1"]])


# ----------------------------------------------------------------------------- model plots
def _binary_preds(n=2000, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(-1 + x)))
    y = (rng.random(n) < p_true).astype(int)
    return y, p_true, 1 / (1 + np.exp(-(-1 + 0.2 * x + rng.normal(size=n))))


def test_roc_figure_aucs():
    from sklearn.metrics import roc_auc_score

    y, pf, pb = _binary_preds()
    fig = roc_figure(y, pf, pb, "ROC")
    ax = fig.axes[0]
    assert fig.genolake_auc["full"] == pytest.approx(roc_auc_score(y, pf))
    assert fig.genolake_auc["base"] == pytest.approx(roc_auc_score(y, pb))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"AUC = {roc_auc_score(y, pf):.3f}" in legend[0]
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert len(ax.get_lines()) == 3


def test_calibration_figure_bins():
    y, pf, _ = _binary_preds()
    pf = pf.copy()
    pf[0] = np.nan
    fig = calibration_figure(y, pf, "Calibration", n_bins=10)
    mp, mo, cnt = fig.genolake_bins
    assert len(mp) == 10 and cnt.sum() == 1999
    assert np.all(np.diff(mp) > 0)
    # true probabilities are calibrated: observed ~ predicted in every decile
    assert np.max(np.abs(mp - mo)) < 0.08
    line = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 10][0]
    np.testing.assert_allclose(line.get_xdata(), mp)


def test_binned_means_hand_checked():
    mp, mo, cnt = binned_means([4, 3, 2, 1], [40, 30, 20, 10], n_bins=2)
    np.testing.assert_allclose(mp, [1.5, 3.5])
    np.testing.assert_allclose(mo, [15, 35])
    assert list(cnt) == [2, 2]


def test_predicted_vs_observed_figure():
    rng = np.random.default_rng(5)
    pf = rng.normal(size=3000)
    y = pf + rng.normal(scale=0.5, size=3000)
    pb = 0.3 * pf + rng.normal(scale=0.1, size=3000)
    fig = predicted_vs_observed_figure(y, pf, pb, "LDL")
    ax = fig.axes[0]
    r2 = fig.genolake_r2
    assert r2["full"] == pytest.approx(1 - np.sum((y - pf) ** 2) / np.sum((y - y.mean()) ** 2))
    assert r2["full"] > r2["base"]
    decile_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 10]
    assert len(decile_lines) == 2
    full_line = decile_lines[0]
    np.testing.assert_allclose(full_line.get_ydata(), full_line.get_xdata(), atol=0.1)
    lo, hi = ax.get_xlim()
    assert lo < pf.min() / 2 and hi > 0
