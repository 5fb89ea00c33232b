"""Risk-model evaluation figures (ROC, calibration, predicted vs observed).

Functions return matplotlib ``Figure`` objects built without pyplot (nothing is kept in
a global registry). Pairs with a missing value in any input are dropped. Each figure
carries a few numbers it shows as attributes (``genolake_*``) for tests and logging.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

__all__ = ["roc_figure", "calibration_figure", "predicted_vs_observed_figure", "binned_means"]

_FULL, _BASE, _DIAG = "#1f4e79", "#e67e22", "#7f7f7f"


def _finite_rows(*arrays) -> list[np.ndarray]:
    arrs = [np.asarray(a, dtype=float).ravel() for a in arrays]
    n = arrs[0].size
    if any(a.size != n for a in arrs):
        raise ValueError("inputs must have the same length")
    ok = np.ones(n, dtype=bool)
    for a in arrs:
        ok &= np.isfinite(a)
    return [a[ok] for a in arrs]


def binned_means(pred, y, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantile bins of ``pred``: (mean predicted, mean observed, count) per non-empty bin.

    Bins are equal-count groups of the rows sorted by prediction (ties may straddle bins),
    so exactly ``min(n_bins, n)`` bins are returned."""
    pred, y = _finite_rows(pred, y)
    n = pred.size
    if n == 0:
        return np.array([]), np.array([]), np.array([], dtype=int)
    order = np.argsort(pred, kind="mergesort")
    groups = np.array_split(order, min(int(n_bins), n))
    mp = np.array([pred[g].mean() for g in groups])
    mo = np.array([y[g].mean() for g in groups])
    cnt = np.array([g.size for g in groups], dtype=int)
    return mp, mo, cnt


def _new_figure(w: float = 5.5, h: float = 5.5):
    fig = Figure(figsize=(w, h), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def roc_figure(y_true, pred_full, pred_base, title: str) -> Figure:
    """ROC curves of the full (covariates + PRS) and base (covariates) models, AUCs in the
    legend. ``fig.genolake_auc`` = {"full": ..., "base": ...}."""
    y, pf, pb = _finite_rows(y_true, pred_full, pred_base)
    fig, ax = _new_figure()
    aucs = {}
    for key, pred, colour, label in (("full", pf, _FULL, "covariates + PRS"),
                                     ("base", pb, _BASE, "covariates only")):
        if y.size and 0 < y.sum() < y.size:
            fpr, tpr, _ = roc_curve(y, pred)
            auc = float(roc_auc_score(y, pred))
        else:
            fpr, tpr, auc = np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
        aucs[key] = auc
        ax.plot(fpr, tpr, color=colour, linewidth=1.6, label=f"{label} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], color=_DIAG, linestyle="--", linewidth=1.0, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.genolake_auc = aucs  # type: ignore[attr-defined]
    return fig


def calibration_figure(y_true, pred, title: str, n_bins: int = 10) -> Figure:
    """Calibration of predicted probabilities: mean predicted vs observed event rate in
    ``n_bins`` equal-count bins of the prediction, with the y = x line.
    ``fig.genolake_bins`` = (mean predicted, observed rate, count) arrays."""
    y, p = _finite_rows(y_true, pred)
    mp, mo, cnt = binned_means(p, y, n_bins)
    fig, ax = _new_figure()
    top = float(max(mp.max() if mp.size else 0.0, mo.max() if mo.size else 0.0, 0.05)) * 1.1
    top = min(top, 1.0)
    ax.plot([0, top], [0, top], color=_DIAG, linestyle="--", linewidth=1.0, label="perfect calibration")
    ax.plot(mp, mo, marker="o", color=_FULL, linewidth=1.2, label=f"model ({len(mp)} bins)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Mean predicted probability")
    ax.set_ylabel("Observed event rate")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.genolake_bins = (mp, mo, cnt)  # type: ignore[attr-defined]
    return fig


def predicted_vs_observed_figure(y_true, pred_full, pred_base, title: str,
                                 n_bins: int = 10) -> Figure:
    """Calibration plot for a continuous outcome: mean observed vs mean predicted value in
    deciles (``n_bins``) of the prediction, for the full and base models, with y = x and
    R^2 in the legend. ``fig.genolake_r2`` = {"full": ..., "base": ...}."""
    y, pf, pb = _finite_rows(y_true, pred_full, pred_base)
    fig, ax = _new_figure()
    r2 = {}
    lo, hi = np.inf, -np.inf
    sst = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    for key, pred, colour, label in (("full", pf, _FULL, "covariates + PRS"),
                                     ("base", pb, _BASE, "covariates only")):
        r2[key] = 1.0 - float(np.sum((y - pred) ** 2)) / sst if sst > 0 else float("nan")
        mp, mo, _ = binned_means(pred, y, n_bins)
        if mp.size:
            lo, hi = min(lo, mp.min(), mo.min()), max(hi, mp.max(), mo.max())
        ax.plot(mp, mo, marker="o", color=colour, linewidth=1.2,
                label=f"{label} (R² = {r2[key]:.3f})")
    if not np.isfinite(lo):
        lo, hi = 0.0, 1.0
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_DIAG, linestyle="--",
            linewidth=1.0, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("Mean predicted value (decile of prediction)")
    ax.set_ylabel("Mean observed value")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.genolake_r2 = r2  # type: ignore[attr-defined]
    return fig
