"""Ancestry: principal components of LD-pruned common autosomal variants computed on
unrelated samples (related ones projected), and ancestry groups assigned on the PCs."""
from __future__ import annotations

import hail as hl
import numpy as np
import pandas as pd


def select_pca_variants(mt: hl.MatrixTable, min_maf: float = 0.05, ld_r2: float = 0.2,
                        ld_window_bp: int = 500_000) -> hl.MatrixTable:
    """Autosomal variants with MAF >= ``min_maf`` (row field ``alt_af`` required), pruned to
    pairwise r2 < ``ld_r2`` within ``ld_window_bp``."""
    mt = mt.filter_rows(mt.locus.in_autosome() & (hl.min(mt.alt_af, 1 - mt.alt_af) >= min_maf))
    pruned = hl.ld_prune(mt.GT, r2=ld_r2, bp_window_size=ld_window_bp)
    return mt.filter_rows(hl.is_defined(pruned[mt.row_key]))


def compute_pcs(mt: hl.MatrixTable, n_pcs: int = 10, min_maf: float = 0.05, ld_r2: float = 0.2,
                ld_window_bp: int = 500_000):
    """Return ``(scores_ht, eigenvalues, n_variants)`` from ``hwe_normalized_pca`` on all
    samples of ``mt`` (after ``select_pca_variants``). ``scores_ht``: ``s``, ``PC1``…"""
    mt = select_pca_variants(mt, min_maf, ld_r2, ld_window_bp)
    n_variants = mt.count_rows()
    k = min(n_pcs, mt.count_cols() - 1, n_variants - 1)
    eigenvalues, scores, _ = hl.hwe_normalized_pca(mt.GT, k=k, compute_loadings=False)
    scores = scores.select(**{f"PC{i + 1}": scores.scores[i] for i in range(k)})
    return scores, eigenvalues, n_variants


def pcs_with_projection(pca_mt: hl.MatrixTable, fit_samples: set[str], n_pcs: int = 10):
    """PCA fitted on ``fit_samples`` (e.g. the unrelated set) of the already-selected variants
    in ``pca_mt``; every other sample is projected onto the same axes, as gnomAD does.

    Returns ``(scores_df, eigenvalues)``: pandas with ``s``, ``PC1``… and ``projected``.
    """
    fit = pca_mt.filter_cols(hl.literal(fit_samples).contains(pca_mt.s))
    k = min(n_pcs, fit.count_cols() - 1, fit.count_rows() - 1)
    eigenvalues, scores, loadings = hl.hwe_normalized_pca(fit.GT, k=k, compute_loadings=True)
    fit = fit.annotate_rows(pca_af=hl.agg.mean(fit.GT.n_alt_alleles()) / 2)
    loadings = loadings.annotate(pca_af=fit.rows()[loadings.key].pca_af)
    scores_df = scores.to_pandas()
    scores_df["projected"] = False
    rest = pca_mt.filter_cols(~hl.literal(fit_samples).contains(pca_mt.s))
    if rest.count_cols() > 0:
        proj = project_pcs(rest, loadings.persist(), fit.count_rows()).to_pandas()
        proj["projected"] = True
        scores_df = pd.concat([scores_df, proj], ignore_index=True)
    pcs = pd.DataFrame(scores_df["scores"].tolist(), columns=[f"PC{i + 1}" for i in range(k)])
    out = pd.concat([scores_df[["s", "projected"]].reset_index(drop=True), pcs], axis=1)
    return out, eigenvalues


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


def project_pcs(mt: hl.MatrixTable, loadings: hl.Table, n_variants: int) -> hl.Table:
    """Scores of ``mt``'s samples on loadings from ``hwe_normalized_pca`` (fields ``loadings``,
    ``pca_af``): genotypes normalised with the fitting samples' frequencies, missing -> 0."""
    mt = mt.annotate_rows(_l=loadings[mt.row_key])
    mt = mt.filter_rows(hl.is_defined(mt._l) & (mt._l.pca_af > 0) & (mt._l.pca_af < 1))
    af = mt._l.pca_af
    norm = hl.or_else((mt.GT.n_alt_alleles() - 2 * af) / hl.sqrt(n_variants * 2 * af * (1 - af)), 0.0)
    return mt.select_cols(scores=hl.agg.array_sum(mt._l.loadings * norm)).cols()


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
