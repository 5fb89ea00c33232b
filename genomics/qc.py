"""Genotype QC: sample call rate, then variant call rate, minor allele frequency and
Hardy-Weinberg equilibrium, with the counts each step removes.

Order (documented in the README): samples are filtered on call rate over all variants first
(PLINK's ``--mind``); the variant filters are then computed on the remaining samples
(``--geno``, ``--maf``, ``--hwe``). The variant filters are independent of one another, so
their order changes only the per-step counts, not the variants kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import hail as hl


@dataclass
class QcResult:
    sample_qc: hl.Table    # s, call_rate, n_called, n_not_called, n_het, n_hom_var, qc_pass
    variant_qc: hl.Table   # locus, alleles, call_rate, alt_af, maf, p_hwe, pass_* flags, qc_pass
    steps: list[dict]      # one dict per step: step, threshold, removed, remaining, unit


def compute_qc(mt: hl.MatrixTable, sample_call_rate: float, variant_call_rate: float,
               maf: float, hwe_p: float) -> QcResult:
    """Per-sample and per-variant QC metrics and pass flags (thresholds as PLINK's --mind,
    --geno, --maf, --hwe: keep call rate >= threshold, MAF >= threshold, HWE p >= threshold)."""
    n_variants = mt.count_rows()
    sqc = hl.sample_qc(mt).cols()
    sqc = sqc.select(
        call_rate=sqc.sample_qc.call_rate,
        n_called=sqc.sample_qc.n_called,
        n_not_called=sqc.sample_qc.n_not_called,
        n_het=sqc.sample_qc.n_het,
        n_hom_var=sqc.sample_qc.n_hom_var,
    )
    sqc = sqc.annotate(qc_pass=hl.coalesce(sqc.call_rate, 0.0) >= sample_call_rate).persist()
    counts = sqc.aggregate(hl.struct(n=hl.agg.count(), kept=hl.agg.count_where(sqc.qc_pass)))

    kept = mt.filter_cols(sqc[mt.s].qc_pass)
    vqc = hl.variant_qc(kept).rows()
    af = hl.or_else(vqc.variant_qc.AF[1], 0.0)
    vqc = vqc.select(
        call_rate=hl.or_else(vqc.variant_qc.call_rate, 0.0),
        alt_af=af,
        maf=hl.min(af, 1 - af),
        p_hwe=vqc.variant_qc.p_value_hwe,
        n_called=vqc.variant_qc.n_called,
    )
    vqc = vqc.annotate(
        pass_call_rate=vqc.call_rate >= variant_call_rate,
        pass_maf=vqc.maf >= maf,
        pass_hwe=hl.or_else(vqc.p_hwe, 1.0) >= hwe_p,
    )
    vqc = vqc.annotate(qc_pass=vqc.pass_call_rate & vqc.pass_maf & vqc.pass_hwe).persist()
    v = vqc.aggregate(hl.struct(
        cr=hl.agg.count_where(~vqc.pass_call_rate),
        maf=hl.agg.count_where(vqc.pass_call_rate & ~vqc.pass_maf),
        hwe=hl.agg.count_where(vqc.pass_call_rate & vqc.pass_maf & ~vqc.pass_hwe),
    ))
    steps = [
        {"step": "input", "unit": "samples", "threshold": None, "removed": 0, "remaining": counts.n},
        {"step": "input", "unit": "variants", "threshold": None, "removed": 0, "remaining": n_variants},
        {"step": "sample_call_rate", "unit": "samples", "threshold": sample_call_rate,
         "removed": counts.n - counts.kept, "remaining": counts.kept},
    ]
    remaining = n_variants
    for name, thr, removed in [("variant_call_rate", variant_call_rate, v.cr), ("maf", maf, v.maf),
                               ("hwe", hwe_p, v.hwe)]:
        remaining -= removed
        steps.append({"step": name, "unit": "variants", "threshold": thr, "removed": removed,
                      "remaining": remaining})
    return QcResult(sample_qc=sqc, variant_qc=vqc, steps=steps)


def filter_to_qc_pass(mt: hl.MatrixTable, qc: QcResult) -> hl.MatrixTable:
    """The QC-passed MatrixTable, rows annotated with ``alt_af`` (in the passing samples)."""
    mt = mt.filter_cols(qc.sample_qc[mt.s].qc_pass)
    mt = mt.annotate_rows(_vqc=qc.variant_qc[mt.row_key])
    mt = mt.filter_rows(mt._vqc.qc_pass)
    return mt.transmute_rows(alt_af=mt._vqc.alt_af)
