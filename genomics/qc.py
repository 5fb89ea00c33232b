"""Genotype QC metrics and filters, each as PLINK 2 defines it.

Order used by the genotype job (documented in the README): sample call rate over all
variants (``--mind``); sex check; relatedness and ancestry on good common variants;
heterozygosity outliers within ancestry group; then the variant filters on the samples that
passed — call rate (``--geno``), minor allele frequency (``--maf``) and Hardy-Weinberg
(``--hwe``, computed in a chosen subset such as controls of the largest ancestry group). The
variant filters are independent of one another, so their order changes only the per-step
counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import hail as hl
import numpy as np
import pandas as pd


@dataclass
class QcResult:
    sample_qc: hl.Table    # s, call_rate, n_called, n_not_called, n_het, n_hom_var, qc_pass
    variant_qc: hl.Table   # locus, alleles, call_rate, alt_af, maf, p_hwe, pass_* flags, qc_pass
    steps: list[dict]      # one dict per step: step, unit, threshold, removed, remaining


def compute_sample_call_rate(mt: hl.MatrixTable, threshold: float) -> hl.Table:
    """Per sample over all variants: call_rate, n_called, n_not_called, n_het, n_hom_var and
    ``pass_call_rate`` (call_rate >= threshold, PLINK's --mind 1-threshold)."""
    sqc = hl.sample_qc(mt).cols()
    sqc = sqc.select(call_rate=sqc.sample_qc.call_rate, n_called=sqc.sample_qc.n_called,
                     n_not_called=sqc.sample_qc.n_not_called, n_het=sqc.sample_qc.n_het,
                     n_hom_var=sqc.sample_qc.n_hom_var)
    return sqc.annotate(pass_call_rate=hl.coalesce(sqc.call_rate, 0.0) >= threshold)


def compute_variant_qc(mt: hl.MatrixTable, variant_call_rate: float, maf: float, hwe_p: float,
                       hwe_samples: set[str] | None = None) -> hl.Table:
    """Per variant over ``mt``'s samples: call_rate, alt_af, maf, n_called, p_hwe (exact test,
    in ``hwe_samples`` only when given) and pass flags (PLINK's --geno, --maf, --hwe)."""
    # HWE on diploid calls only (on non-PAR chrX that is the females, as PLINK does).
    in_hwe = mt.GT.ploidy == 2
    if hwe_samples is not None:
        in_hwe = in_hwe & hl.literal(hwe_samples).contains(mt.s)
    mt = mt.annotate_rows(_hwe=hl.agg.filter(in_hwe, hl.agg.hardy_weinberg_test(mt.GT)))
    mt = mt.annotate_rows(_n=hl.agg.count(), _called=hl.agg.count_where(hl.is_defined(mt.GT)),
                          _ac=hl.agg.sum(mt.GT.n_alt_alleles()),
                          _an=hl.agg.sum(hl.or_else(mt.GT.ploidy, 0)))
    v = mt.rows()
    af = hl.if_else(v._an > 0, v._ac / v._an, 0.0)
    v = v.select(call_rate=hl.if_else(v._n > 0, v._called / v._n, 0.0), alt_af=af,
                 maf=hl.min(af, 1 - af), p_hwe=v._hwe.p_value, n_called=v._called)
    v = v.annotate(pass_call_rate=v.call_rate >= variant_call_rate, pass_maf=v.maf >= maf,
                   pass_hwe=hl.or_else(v.p_hwe, 1.0) >= hwe_p)
    return v.annotate(qc_pass=v.pass_call_rate & v.pass_maf & v.pass_hwe)


def variant_steps(vqc: hl.Table, thresholds: dict) -> list[dict]:
    """Removed/remaining counts of the variant filters, in order."""
    c = vqc.aggregate(hl.struct(
        n=hl.agg.count(),
        cr=hl.agg.count_where(~vqc.pass_call_rate),
        maf=hl.agg.count_where(vqc.pass_call_rate & ~vqc.pass_maf),
        hwe=hl.agg.count_where(vqc.pass_call_rate & vqc.pass_maf & ~vqc.pass_hwe)))
    steps, remaining = [], c.n
    for name, key, removed in [("variant_call_rate", "variant_call_rate", c.cr), ("maf", "maf", c.maf),
                               ("hwe", "hwe_p", c.hwe)]:
        remaining -= removed
        steps.append({"step": name, "unit": "variants", "threshold": thresholds[key],
                      "removed": removed, "remaining": remaining})
    return steps


def compute_qc(mt: hl.MatrixTable, sample_call_rate: float, variant_call_rate: float,
               maf: float, hwe_p: float, hwe_samples: set[str] | None = None) -> QcResult:
    """The four PLINK filters: --mind on all variants, then --geno/--maf/--hwe on the
    samples that passed."""
    n_variants = mt.count_rows()
    sqc = compute_sample_call_rate(mt, sample_call_rate)
    sqc = sqc.annotate(qc_pass=sqc.pass_call_rate).persist()
    counts = sqc.aggregate(hl.struct(n=hl.agg.count(), kept=hl.agg.count_where(sqc.qc_pass)))
    kept = mt.filter_cols(sqc[mt.s].qc_pass)
    vqc = compute_variant_qc(kept, variant_call_rate, maf, hwe_p, hwe_samples).persist()
    steps = [
        {"step": "input", "unit": "samples", "threshold": None, "removed": 0, "remaining": counts.n},
        {"step": "input", "unit": "variants", "threshold": None, "removed": 0, "remaining": n_variants},
        {"step": "sample_call_rate", "unit": "samples", "threshold": sample_call_rate,
         "removed": counts.n - counts.kept, "remaining": counts.kept},
        *variant_steps(vqc, {"variant_call_rate": variant_call_rate, "maf": maf, "hwe_p": hwe_p}),
    ]
    return QcResult(sample_qc=sqc, variant_qc=vqc, steps=steps)


def compute_heterozygosity(mt: hl.MatrixTable) -> hl.Table:
    """Per-sample inbreeding coefficient F on autosomes (PLINK --het's method-of-moments F),
    using the row field ``alt_af``: ``het_f``, ``het_n_called``."""
    mt = mt.filter_rows(mt.locus.in_autosome())
    ht = mt.select_cols(_ib=hl.agg.inbreeding(mt.GT, mt.alt_af)).cols()
    return ht.select(het_f=ht._ib.f_stat, het_n_called=ht._ib.n_called)


def heterozygosity_outliers(df: pd.DataFrame, n_sd: float, group: str = "ancestry") -> pd.Series:
    """True where ``het_f`` lies more than ``n_sd`` standard deviations from its group's mean."""
    g = df.groupby(group)["het_f"]
    z = (df["het_f"] - g.transform("mean")) / g.transform("std").replace(0, float("nan"))
    return z.abs().gt(n_sd).fillna(False)


def filter_to_qc_pass(mt: hl.MatrixTable, qc: QcResult) -> hl.MatrixTable:
    """The QC-passed MatrixTable, rows annotated with ``alt_af`` (in the passing samples)."""
    mt = mt.filter_cols(qc.sample_qc[mt.s].qc_pass)
    mt = mt.annotate_rows(_vqc=qc.variant_qc[mt.row_key])
    mt = mt.filter_rows(mt._vqc.qc_pass)
    return mt.transmute_rows(alt_af=mt._vqc.alt_af)


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
