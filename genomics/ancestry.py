"""Ancestry: principal components of LD-pruned common autosomal variants computed on
unrelated samples (related ones projected), and ancestry groups assigned on the PCs."""
from __future__ import annotations

import numpy as np
import pandas as pd


def hwe_normalized_pcs(codes: np.ndarray, fit: np.ndarray, k: int):
    """PCA as Hail's ``hwe_normalized_pca`` on the ``fit`` samples (bool mask), with every
    other sample projected on the same loadings.

    ``codes``: alt-allele counts, samples x variants, -1 missing. Each variant is centred on
    twice its allele frequency in the fitting samples and scaled by sqrt(2p(1-p) M) (M =
    variants used); missing entries count 0. Returns (scores (samples x k), eigenvalues)."""
    x = codes.astype(np.float32)
    miss = codes < 0
    f = x[fit]
    called = (~miss[fit]).sum(0)
    p = np.where(called > 0, np.where(miss[fit], 0, f).sum(0) / (2 * np.maximum(called, 1)), 0)
    ok = (p > 0) & (p < 1)
    x, miss, p = x[:, ok], miss[:, ok], p[ok]
    z = (x - 2 * p) / np.sqrt(2 * p * (1 - p) * ok.sum())
    z[miss] = 0.0
    u, sv, vt = np.linalg.svd(z[fit], full_matrices=False)
    k = min(k, len(sv))
    loadings = vt[:k].T
    scores = z @ loadings               # = U S for the fitting samples
    return scores, (sv[:k] ** 2)


def assign_ancestry(pcs: pd.DataFrame, n_pcs: int = 4, reference: pd.DataFrame | None = None,
                    min_probability: float = 0.75, seed: int = 0) -> pd.DataFrame:
    """Ancestry group per sample from its PCs.

    With a ``reference`` (columns ``s``, ``population``: labelled samples in the data), a
    random forest trained on their PCs assigns every sample its most probable population;
    below ``min_probability`` the group is 'other'. Without one, a Gaussian mixture (components
    chosen by BIC, 1-6) clusters the samples; groups are named 'cluster1'… by size.
    Returns ``s``, ``ancestry``, ``probability``, ``method``.
    """
    cols = [c for c in [f"PC{i + 1}" for i in range(n_pcs)] if c in pcs.columns]
    x = pcs[cols].to_numpy()
    if reference is not None and len(reference):
        from sklearn.ensemble import RandomForestClassifier
        ref = pcs.merge(reference[["s", "population"]], on="s")
        clf = RandomForestClassifier(n_estimators=200, random_state=seed).fit(ref[cols].to_numpy(), ref["population"])
        prob = clf.predict_proba(x)
        best = prob.argmax(1)
        group = np.where(prob.max(1) >= min_probability, clf.classes_[best], "other")
        return pd.DataFrame({"s": pcs["s"], "ancestry": group, "probability": prob.max(1), "method": "random_forest"})
    from sklearn.mixture import GaussianMixture
    xs = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    fits = [GaussianMixture(k, covariance_type="full", random_state=seed, n_init=2).fit(xs)
            for k in range(1, min(6, len(xs) // 50 + 1) + 1)]
    gm = min(fits, key=lambda f: f.bic(xs))
    prob = gm.predict_proba(xs)
    lab = prob.argmax(1)
    order = {c: f"cluster{i + 1}" for i, c in enumerate(pd.Series(lab).value_counts().index)}
    group = np.where(prob.max(1) >= min_probability, [order[c] for c in lab], "other")
    return pd.DataFrame({"s": pcs["s"], "ancestry": group, "probability": prob.max(1), "method": "gaussian_mixture"})


def unassigned_ancestry(samples) -> pd.DataFrame:
    """``assign_ancestry``'s columns for samples without PCs (PCA skipped): every ``ancestry``
    'unassigned', ``probability`` NaN, ``method`` 'none'."""
    s = pd.Series(list(samples), dtype=object)
    return pd.DataFrame({"s": s, "ancestry": "unassigned", "probability": np.nan, "method": "none"})


def describe_ancestry_labels(anc: pd.DataFrame) -> str:
    """One line saying what the ``ancestry`` labels of ``assign_ancestry``'s output mean."""
    methods = set(anc["method"]) if len(anc) else set()
    if "random_forest" in methods:
        return "ancestry groups are the reference panel's populations (ancestry.reference)"
    if "gaussian_mixture" in methods:
        return ("no reference panel was given (ancestry.reference), so ancestry groups are unlabelled "
                "clusters of the PCs (cluster1 the largest), not populations")
    return "no ancestry groups: PCA was skipped"
