"""Polygenic risk scores by clumping and thresholding (C+T): weight sets per p-value
threshold, and the choice of threshold on the validation split."""
from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHT_COLUMNS = ["trait", "p_threshold", "chromosome", "base_pair_location", "effect_allele",
                  "other_allele", "weight", "p_value", "variant_id"]


def threshold_weights(gwas: pd.DataFrame, index_mask: np.ndarray, thresholds: list[float]) -> pd.DataFrame:
    """Weights (GWAS betas of the clumped index variants) for every p-value threshold.

    ``gwas``: one trait's rows (GWAS_COLUMNS); ``index_mask`` aligned to it. A variant enters
    every threshold its p-value is at or below. Returns ``WEIGHT_COLUMNS``.
    """
    idx = gwas.loc[np.asarray(index_mask, dtype=bool)]
    out = []
    for t in sorted(thresholds):
        sel = idx[idx["p_value"] <= t]
        out.append(sel.assign(p_threshold=float(t), weight=sel["beta"])[WEIGHT_COLUMNS])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=WEIGHT_COLUMNS)


def _r2(y: np.ndarray, x: np.ndarray) -> float:
    x1 = np.column_stack([np.ones(len(y)), x])
    beta, *_ = np.linalg.lstsq(x1, y, rcond=None)
    resid = y - x1 @ beta
    return 1.0 - resid.var() / y.var()


def threshold_metric(y: np.ndarray, covariates: np.ndarray, prs: np.ndarray, trait_type: str) -> float:
    """What the PRS adds over the covariates in one sample: incremental R2 (quantitative) or
    the in-sample AUC gain of a logistic model (binary)."""
    if np.std(prs) == 0:
        return 0.0
    if trait_type == "quantitative":
        return _r2(y, np.column_stack([covariates, prs])) - _r2(y, covariates)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    def auc(x):
        x = StandardScaler().fit_transform(x)
        m = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)
        return roc_auc_score(y, m.decision_function(x))

    return auc(np.column_stack([covariates, prs])) - auc(covariates)


def choose_threshold(scores: pd.DataFrame, pheno: pd.DataFrame, trait_col: str, covariates: list[str],
                     trait_type: str) -> tuple[float, pd.DataFrame]:
    """Pick the p-value threshold whose score adds most over the covariates.

    ``scores``: participant_id, p_threshold, score (long); ``pheno``: participant_id, the trait
    and covariate columns (the validation split). Returns the threshold and a frame
    (p_threshold, n_variants if present, metric, n)."""
    d = pheno.dropna(subset=[trait_col, *covariates])
    rows = []
    for t, s in scores.groupby("p_threshold"):
        m = d.merge(s[["participant_id", "score"]], on="participant_id")
        y = m[trait_col].to_numpy(dtype=float)
        if len(m) < 10 or (trait_type == "binary" and len(np.unique(y)) < 2):
            metric = np.nan
        else:
            metric = threshold_metric(y, m[covariates].to_numpy(dtype=float), m["score"].to_numpy(), trait_type)
        rows.append({"p_threshold": float(t), "metric": metric, "n": len(m)})
    table = pd.DataFrame(rows)
    if table["metric"].notna().sum() == 0:
        raise ValueError(f"choose_threshold: no threshold could be evaluated for {trait_col!r}")
    best = float(table.loc[table["metric"].idxmax(), "p_threshold"])
    return best, table
