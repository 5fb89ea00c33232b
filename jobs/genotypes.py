"""Genotype job: VCF ingest, QC, relatedness and ancestry in one JVM.

Writes the MatrixTables ``<lake>/genotypes/<cohort>.mt`` (all calls, multi-allelics split) and
``<cohort>.qc.mt`` (QC-passed), the Delta tables ``sample_qc``, ``variant_qc``, ``pcs``,
``ancestry``, ``relatedness`` and ``genotype_calls`` (carrier queries), and ``<results>/qc/`` (the per-step summary, plots, report).
"""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Ingest VCFs, run genotype QC, relatedness and ancestry.")


def mt_paths(config: dict) -> tuple[str, str]:
    root = f"{config['lake']}/genotypes/{config['cohort']}"
    return f"{root}.mt", f"{root}.qc.mt"


def run(ctx, args):
    import os
    from genomics.vcf_inputs import prepare_vcfs
    cfg, q = ctx.config, ctx.config["qc"]
    ref_genome = cfg["reference_genome"]
    # BCF and plain-gzip inputs become bgzipped VCFs (kept between runs); contigs are renamed
    # to the reference's convention at import.
    prep = prepare_vcfs(cfg["vcfs"], os.path.join(cfg["results"], "work", "vcf_inputs"), ref_genome)
    ctx.log(prep.summary())
    for p in cfg["vcfs"]:
        ctx.input_file(p)
    participants = ctx.read_table("participants")

    from jobs.session import start_hail
    hl = start_hail(cfg, ctx.job)
    from genomics import ancestry, qc, relatedness, sex_check
    from genomics.ingest import hail_input_errors, import_genotypes_with_counts

    raw_path, qc_path = mt_paths(cfg)
    mt, counts = import_genotypes_with_counts(prep.paths, ref_genome, cfg["spark"]["min_partitions"],
                                              contig_recoding=prep.contig_recoding, sources=prep.source_of)
    ctx.log(f"{counts.n_records} records: {counts.n_skipped_invalid_locus} skipped (contig not in {ref_genome}), "
            f"{counts.n_multiallelic} multi-allelic split, "
            f"{counts.n_dropped_star + counts.n_dropped_symbolic + counts.n_dropped_breakend} star/symbolic/"
            f"breakend alleles and {counts.n_no_alt} ALT '.' records dropped")
    with hail_input_errors(prep.paths, sources=prep.source_of):
        mt = mt.checkpoint(ctx.output_path(raw_path, "matrixtable"), overwrite=True)
    n_variants, n_samples = mt.count()
    ctx.log(f"ingested {n_variants} variants (after splitting multi-allelics) x {n_samples} samples")
    ctx.details["ingest"] = {**counts.as_dict(), "inputs": prep.counts}
    steps = [{"step": "input", "unit": "samples", "threshold": None, "removed": 0, "remaining": n_samples},
             {"step": "input", "unit": "variants", "threshold": None, "removed": 0, "remaining": n_variants}]

    # 1. sample call rate over all variants (--mind)
    sqc = qc.compute_sample_call_rate(mt, q["sample_call_rate"]).to_pandas()
    keep = set(sqc.loc[sqc["pass_call_rate"], "s"])
    steps.append(_step("sample_call_rate", q["sample_call_rate"], n_samples - len(keep), len(keep)))
    cr_mt = mt.filter_cols(hl.literal(keep).contains(mt.s))

    # 2. variants for relatedness / PCA / heterozygosity: autosomal, common, good call rate, pruned
    pre = qc.compute_variant_qc(cr_mt, q["variant_call_rate"], cfg["pca"]["min_maf"], 0.0).persist()
    good = cr_mt.annotate_rows(alt_af=pre[cr_mt.row_key].alt_af)
    good = good.filter_rows(pre[good.row_key].pass_call_rate)
    p = cfg["pca"]
    pca_mt = ancestry.select_pca_variants(good, p["min_maf"], p["ld_r2"], p["ld_window_bp"])
    pca_mt = pca_mt.checkpoint(ctx.result_path("tmp", ctx.job, "pca_variants.mt"), overwrite=True)
    n_pca_variants = pca_mt.count_rows()
    ctx.log(f"{n_pca_variants} LD-pruned common autosomal variants for relatedness, PCA and F")

    # 3. sex check on chrX non-PAR
    reported = dict(zip(participants["participant_id"], participants["sex"].astype(int)))
    sex_df = None
    if q["sex_check"]:
        genetic = sex_check.impute_genetic_sex(cr_mt, q["sex_female_max_f"], q["sex_male_min_f"])
        if genetic is None:
            ctx.log("sex check skipped: no non-PAR chrX variants")
        else:
            sex_df = sex_check.compare_sex(genetic, reported).to_pandas()
            ctx.log(f"sex check: {int(sex_df['sex_mismatch'].sum())} reported/genetic mismatches, "
                    f"{int((sex_df['genetic_sex'] == 'U').sum())} undetermined")

    # 4. relatedness: KING-robust on the common variants (unpruned), the unrelated set
    #    chosen greedily, phenotyped people preferred
    from genomics.kinship import genotype_codes, king_robust, kinship_pairs
    good_common = good.filter_rows(good.locus.in_autosome() & (hl.min(good.alt_af, 1 - good.alt_af) >= p["min_maf"]))
    codes, kin_samples = genotype_codes(good_common)
    pairs = kinship_pairs(king_robust(codes), kin_samples, 0.0442)
    pairs["degree"] = relatedness.king_degree(pairs["kinship"])
    ctx.log(f"KING on {codes.shape[1]} common variants: "
            + (", ".join(f"{k} {v}" for k, v in pairs["degree"].value_counts().items()) or "no pairs") + " pairs")
    del codes
    phenotyped = set(participants["participant_id"])
    drop = relatedness.related_to_drop(hl.Table.from_pandas(pairs), q["related_kinship"], phenotyped) \
        if len(pairs) else set()
    ctx.log(f"{len(drop)} samples left out of the unrelated set (kinship > {q['related_kinship']})")

    # 5. PCA fitted on the unrelated, the related projected; ancestry groups
    unrelated = keep - drop
    pca_codes, pca_samples = genotype_codes(pca_mt)
    fit = np.array([s_ in unrelated for s_ in pca_samples])
    scores, eigenvalues = ancestry.hwe_normalized_pcs(pca_codes, fit, p["n_pcs"])
    pcs_df = pd.DataFrame(scores, columns=[f"PC{i + 1}" for i in range(scores.shape[1])])
    pcs_df.insert(0, "s", pca_samples)
    pcs_df.insert(1, "projected", ~fit)
    het = pd.DataFrame({"s": pca_samples, "het_f": qc.inbreeding_f(pca_codes)})
    del pca_codes
    a = cfg["ancestry"]
    ref = None
    if a["reference"]:
        ref = pd.read_csv(ctx.input_file(a["reference"]), sep=None, engine="python", dtype=str)
    anc = ancestry.assign_ancestry(pcs_df, a["n_pcs"], ref, a["min_probability"])
    ctx.log("ancestry groups: " + ", ".join(f"{k} {v}" for k, v in anc["ancestry"].value_counts().items()))

    # 6. heterozygosity outliers within ancestry group
    het = het.merge(anc[["s", "ancestry"]], on="s")
    het["het_outlier"] = qc.heterozygosity_outliers(het, q["heterozygosity_sd"])

    # sample verdicts
    s = sqc.merge(het[["s", "het_f", "het_outlier"]], on="s", how="left").merge(anc, on="s", how="left")
    if sex_df is not None:
        s = s.merge(sex_df[["s", "f_stat", "genetic_sex", "reported_sex", "sex_mismatch"]].rename(
            columns={"f_stat": "sex_f"}), on="s", how="left")
    else:
        s = s.assign(sex_f=float("nan"), genetic_sex=None, reported_sex=None, sex_mismatch=False)
    s["sex_mismatch"] = s["sex_mismatch"].fillna(False).astype(bool)
    s["het_outlier"] = s["het_outlier"].fillna(False).astype(bool)
    s["pass_sex"] = ~(s["sex_mismatch"] & q["drop_sex_mismatches"])
    s["pass_heterozygosity"] = ~s["het_outlier"]
    s["qc_pass"] = s["pass_call_rate"] & s["pass_sex"] & s["pass_heterozygosity"]
    s["unrelated"] = s["qc_pass"] & ~s["s"].isin(drop)
    alive = s["pass_call_rate"].copy()
    for name, col, thr in [("sex_mismatch", "pass_sex", q["drop_sex_mismatches"]),
                           ("heterozygosity", "pass_heterozygosity", q["heterozygosity_sd"])]:
        removed = int((alive & ~s[col]).sum())
        alive &= s[col]
        steps.append(_step(name, thr, removed, int(alive.sum())))
    steps.append({"step": "related (flagged, kept)", "unit": "samples", "threshold": q["related_kinship"],
                  "removed": 0, "remaining": int(s["unrelated"].sum())})
    passed = set(s.loc[s["qc_pass"], "s"])

    # 7. variant filters on the passing samples; HWE in the chosen subset
    hwe_samples = _hwe_subset(q["hwe_subset"], s[s["qc_pass"]], participants, cfg["traits"])
    final = mt.filter_cols(hl.literal(passed).contains(mt.s))
    vqc = qc.compute_variant_qc(final, q["variant_call_rate"], q["maf"], q["hwe_p"], hwe_samples).persist()
    steps += qc.variant_steps(vqc, q)
    for st in steps:
        ctx.log(f"QC {st['step']:<24} {st['unit']:<8} removed {st['removed']:>7}, remaining {st['remaining']:>8}")
    final = final.annotate_rows(_v=vqc[final.row_key])
    final = final.filter_rows(final._v.qc_pass)
    final = final.transmute_rows(alt_af=final._v.alt_af)
    final = final.checkpoint(ctx.output_path(qc_path, "matrixtable"), overwrite=True)

    # carrier queries: the non-reference calls of the QC-passed genotypes, chromosome-partitioned
    if cfg["carriers"]["genotype_calls"]:
        from genomics.carriers import non_ref_calls
        from jobs.carriers_io import write_calls_by_participant, write_genotype_calls
        version = write_genotype_calls(ctx.lake, non_ref_calls(final))
        ctx.outputs.append({"kind": "delta", "name": "genotype_calls", "version": version})
        ctx.log(f"genotype_calls written (version {version})")
        if cfg["carriers"]["by_participant"]:
            version = write_calls_by_participant(ctx.lake)
            ctx.outputs.append({"kind": "delta", "name": "genotype_calls_by_participant", "version": version})

    # outputs
    ctx.write_table("sample_qc", s)
    v = vqc.key_by()
    v = v.select(chromosome=v.locus.contig, position=v.locus.position, ref=v.alleles[0], alt=v.alleles[1],
                 variant_id=hl.delimit([v.locus.contig, hl.str(v.locus.position), v.alleles[0], v.alleles[1]], ":"),
                 **{k: v[k] for k in ["call_rate", "alt_af", "maf", "p_hwe", "n_called", "pass_call_rate",
                                      "pass_maf", "pass_hwe", "qc_pass"]})
    ctx.write_spark_table("variant_qc", v.to_spark())
    ctx.write_table("pcs", pcs_df[pcs_df["s"].isin(passed)].reset_index(drop=True))
    ctx.write_table("ancestry", anc)
    ctx.write_table("relatedness", pairs if len(pairs) else
                    pd.DataFrame({"i": pd.Series(dtype=str), "j": pd.Series(dtype=str),
                                  "kinship": pd.Series(dtype=float), "degree": pd.Series(dtype=str)}))
    pd.DataFrame(steps).to_csv(ctx.output_path(ctx.result_path("qc", "qc_summary.tsv")), sep="\t", index=False)
    from jobs.qc_report import write_qc_report
    write_qc_report(ctx, s, pcs_df, anc, pairs, steps, q)
    ctx.details.update({"qc_steps": steps, "pca_variants": n_pca_variants, "hwe_subset_size": len(hwe_samples or []),
                        "eigenvalues": [float(e) for e in eigenvalues]})


def _step(name, threshold, removed, remaining):
    return {"step": name, "unit": "samples", "threshold": threshold, "removed": int(removed),
            "remaining": int(remaining)}


def _hwe_subset(mode: str, passed: pd.DataFrame, participants: pd.DataFrame, traits: list[dict]):
    if mode == "all":
        return None
    groups = passed.loc[passed["ancestry"] != "other", "ancestry"].value_counts()
    chosen = passed[passed["ancestry"] == groups.index[0]] if len(groups) else passed
    ids = set(chosen["s"])
    if mode == "largest_ancestry_controls":
        binary = [t["column"] for t in traits if t["type"] == "binary"]
        if binary:
            ph = participants.set_index("participant_id")
            case = ph[binary].fillna(0).astype(float).max(axis=1) > 0
            ids -= set(case.index[case])
    return ids


def main(argv=None) -> int:
    return run_job("genotypes", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
