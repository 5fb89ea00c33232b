"""Heterozygosity QC: PLINK's --het F per sample and outliers within ancestry group (the
other QC metrics and filters are ``genomics.qc_arrays``).

Order used by the genotype job (documented in the README): sample call rate over all
variants (``--mind``); sex check; relatedness and ancestry on good common variants;
heterozygosity outliers within ancestry group; then the variant filters on the samples that
passed — call rate (``--geno``), minor allele frequency (``--maf``) and Hardy-Weinberg
(``--hwe``, computed in a chosen subset such as controls of the largest ancestry group). The
variant filters are independent of one another, so their order changes only the per-step
counts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def heterozygosity_outliers(df: pd.DataFrame, n_sd: float, group: str = "ancestry") -> pd.Series:
    """True where ``het_f`` lies more than ``n_sd`` standard deviations from its group's mean."""
    g = df.groupby(group)["het_f"]
    z = (df["het_f"] - g.transform("mean")) / g.transform("std").replace(0, float("nan"))
    return z.abs().gt(n_sd).fillna(False)


def inbreeding_f(codes: np.ndarray) -> np.ndarray:
    """PLINK --het's F per sample: 1 - observed / expected heterozygous counts, expected from
    the allele frequencies of all samples, over each sample's called variants."""
    called = codes >= 0
    p = np.where(called, codes, 0).sum(0) / np.maximum(2 * called.sum(0), 1)
    e_het = 2 * p * (1 - p)
    obs_hom = ((codes == 0) | (codes == 2)).sum(1)
    exp_hom = (called * (1 - e_het)).sum(1)
    n = called.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (obs_hom - exp_hom) / (n - exp_hom)
