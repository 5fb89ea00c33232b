"""Genotype job: VCF ingest, QC and ancestry PCA in one JVM.

Writes the MatrixTables ``<lake>/genotypes/<cohort>.mt`` (all calls, multi-allelics split) and
``<cohort>.qc.mt`` (QC-passed), the Delta tables ``sample_qc``, ``variant_qc`` and ``pcs``, and
``<results>/qc/`` (the per-step summary and plots).
"""
from __future__ import annotations

import sys

import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Ingest VCFs, run genotype QC and ancestry PCA.")


def mt_paths(config: dict) -> tuple[str, str]:
    root = f"{config['lake']}/genotypes/{config['cohort']}"
    return f"{root}.mt", f"{root}.qc.mt"


def run(ctx, args):
    from genomics.vcf_checks import check_vcfs
    cfg = ctx.config
    samples = check_vcfs(cfg["vcfs"])
    ctx.log(f"{len(cfg['vcfs'])} VCF file(s) checked, {len(samples)} samples")
    for p in cfg["vcfs"]:
        ctx.input_file(p)

    from jobs.session import start_hail
    hl = start_hail(cfg, ctx.job)
    from genomics.ancestry import compute_pcs
    from genomics.ingest import import_genotypes
    from genomics.qc import compute_qc, filter_to_qc_pass

    raw_path, qc_path = mt_paths(cfg)
    mt = import_genotypes(cfg["vcfs"], cfg["reference_genome"], cfg["spark"]["min_partitions"])
    mt = mt.checkpoint(ctx.output_path(raw_path, "matrixtable"), overwrite=True)
    n_variants, n_samples = mt.count()
    ctx.log(f"ingested {n_variants} variants (after splitting multi-allelics) x {n_samples} samples")

    q = cfg["qc"]
    qc = compute_qc(mt, q["sample_call_rate"], q["variant_call_rate"], q["maf"], q["hwe_p"])
    for step in qc.steps:
        ctx.log(f"QC {step['step']:<18} {step['unit']:<8} removed {step['removed']:>7}, "
                f"remaining {step['remaining']:>8}")
    qc_mt = filter_to_qc_pass(mt, qc).checkpoint(ctx.output_path(qc_path, "matrixtable"), overwrite=True)

    sqc = qc.sample_qc
    ctx.write_spark_table("sample_qc", sqc.to_spark())
    vqc = qc.variant_qc.key_by()
    vqc = vqc.select(
        chromosome=vqc.locus.contig, position=vqc.locus.position, ref=vqc.alleles[0], alt=vqc.alleles[1],
        variant_id=hl.delimit([vqc.locus.contig, hl.str(vqc.locus.position), vqc.alleles[0], vqc.alleles[1]], ":"),
        **{k: vqc[k] for k in ["call_rate", "alt_af", "maf", "p_hwe", "n_called", "pass_call_rate",
                               "pass_maf", "pass_hwe", "qc_pass"]})
    ctx.write_spark_table("variant_qc", vqc.to_spark())
    ctx.log("sample_qc and variant_qc written")

    p = cfg["pca"]
    scores, eigenvalues, n_pca_variants = compute_pcs(qc_mt, p["n_pcs"], p["min_maf"], p["ld_r2"], p["ld_window_bp"])
    pcs_df = scores.to_pandas()
    ctx.write_table("pcs", pcs_df)
    ctx.log(f"PCA on {n_pca_variants} LD-pruned common variants; eigenvalues "
            + ", ".join(f"{e:.2f}" for e in eigenvalues[:5]))

    steps = pd.DataFrame(qc.steps)
    steps.to_csv(ctx.output_path(ctx.result_path("qc", "qc_summary.tsv")), sep="\t", index=False)
    _plots(ctx, sqc.to_pandas(), pcs_df, q)
    ctx.details.update({"qc_steps": qc.steps, "pca_variants": n_pca_variants,
                        "eigenvalues": [float(e) for e in eigenvalues]})


def _plots(ctx, sample_qc_df, pcs_df, thresholds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from genomics.plots import pca_figure
    fig = pca_figure(pcs_df, title="Ancestry PCA (QC-passed samples)")
    fig.savefig(ctx.output_path(ctx.result_path("qc", "pca.png")), dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(sample_qc_df["call_rate"].dropna(), bins=50)
    ax.axvline(thresholds["sample_call_rate"], color="red", ls="--", label="threshold")
    ax.set_xlabel("sample call rate"); ax.set_ylabel("samples"); ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.output_path(ctx.result_path("qc", "sample_call_rate.png")), dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    return run_job("genotypes", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
