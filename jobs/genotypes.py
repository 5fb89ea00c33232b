"""Genotype job: VCF ingest, QC, relatedness and ancestry.

The VCFs are read once into an int8 alt-allele-count matrix (``genomics.genotype_arrays``; one
``jobs.read_genotypes`` job per input file, which this job combines) and
every QC step runs on it in numpy (``genomics.qc_arrays``, ``kinship``, ``relatedness``,
``ancestry``). The QC-passed genotypes go to a PLINK 1 fileset (``bed_prefix``), which the GWAS
and PRS jobs read; Hail starts only when ``genotypes.export_matrix_table`` asks for them as the
MatrixTable ``<lake>/genotypes/<cohort>.qc.mt`` too. Writes the Delta tables
``sample_qc``, ``variant_qc``, ``pcs``, ``ancestry``, ``relatedness`` and ``genotype_calls``
(carrier queries), and ``<results>/qc/`` (the per-step summary, plots, report).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Ingest VCFs, run genotype QC, relatedness and ancestry.")


def bed_prefix(config: dict) -> str:
    """The QC-passed genotypes as a PLINK 1 fileset (.bed/.bim/.fam), for the GWAS."""
    return os.path.join(config["results"], "genotypes", f"{config['cohort']}.qc")


def qc_store_name(config: dict) -> str:
    """The QC-passed genotypes in the lake's genotype store (``jobs.genotype_store``), which the
    GWAS and PRS jobs read block by block: ``<lake>/genotypes/<cohort>.qc``."""
    return f"{config['cohort']}.qc"


def block_variants(n_variants: int, n_samples: int, block_mb: int, min_blocks: int) -> int:
    """Variants per store block: at most ``block_mb`` MiB of int8 calls (n_samples per variant),
    and at most n_variants / ``min_blocks`` (so the cores get tasks), never below 100."""
    cap = (block_mb << 20) // max(n_samples, 1)
    return int(max(100, min(cap, -(-max(n_variants, 1) // min_blocks))))


def mt_path(config: dict) -> str:
    """The QC-passed genotypes as a Hail MatrixTable, written when ``genotypes.export_matrix_table``
    is on (for Hail users; no job reads it)."""
    return f"{config['lake']}/genotypes/{config['cohort']}.qc.mt"


def run(ctx, args):
    """``run_genotype_qc``; the job's scratch (``<results>/tmp/genotypes``) is removed whether it
    succeeds or fails."""
    import shutil
    shutil.rmtree(ctx.result_path("tmp", ctx.job), ignore_errors=True)    # a killed run's scratch
    try:
        run_genotype_qc(ctx, args)
    finally:
        shutil.rmtree(ctx.result_path("tmp", ctx.job), ignore_errors=True)


def run_genotype_qc(ctx, args):
    import os
    from genomics import ancestry, qc, qc_arrays as qa, relatedness
    from genomics.kinship import king_robust, kinship_pairs
    from genomics.vcf_inputs import prepare_vcfs
    cfg, q, p = ctx.config, ctx.config["qc"], ctx.config["pca"]
    ref_genome = cfg["reference_genome"]
    # BCF and plain-gzip inputs become bgzipped VCFs (kept between runs); contigs are renamed
    # to the reference's convention as they are read.
    from jobs import privacy
    work = privacy.vcf_work_dir(cfg)        # converted copies hold source sample IDs
    privacy.make_private_dir(cfg)
    with privacy.owner_only():
        prep = prepare_vcfs(cfg["vcfs"], work, ref_genome)
    ctx.log(prep.summary())
    for w in prep.warnings:
        ctx.log(f"WARNING: {w}")
    ctx.log(f"reference build: {prep.build_check}")
    for path in cfg["vcfs"]:
        ctx.input_file(path)
    from jobs.cohort import participants_with_traits
    participants = participants_with_traits(ctx, cfg)      # reported sex; trait status for the HWE controls

    # each input was read into arrays by its own job (jobs.read_genotypes, scattered by Snakemake)
    # (their samples are pseudonyms: the same keyed hash as the phenotype sources)
    from jobs.read_genotypes import key_check, load_arrays, pseudonymised
    pseudo = privacy.pseudonymiser(cfg, ctx.log)
    ga = load_arrays(cfg, lambda i: pseudonymised(read_genotypes(prepare_vcfs([cfg["vcfs"][i]], work, ref_genome),
                                                                 keep_phase=cfg["carriers"]["genotype_calls"]),
                                                  pseudo), key_check=key_check(pseudo))
    loci = _Loci(ga.variants, ref_genome)
    c = ga.counts
    n_invalid = int((~loci.valid).sum())
    ctx.log(f"{c.n_records} records: {n_invalid} rows skipped (contig or position not in {ref_genome}), "
            f"{c.n_multiallelic} multi-allelic split, "
            f"{c.n_dropped_star + c.n_dropped_symbolic + c.n_dropped_breakend} star/symbolic/breakend alleles and "
            f"{c.n_no_alt} ALT '.' records dropped, {c.n_half_calls} half-calls read as missing")
    if n_invalid:
        ga, loci = _take_rows(ga, loci.valid), _Loci(ga.variants[loci.valid].reset_index(drop=True), ref_genome)
    # the same variant twice after renaming (`20` in one file, `chr20` in another): keep the
    # first in config file order (README "Genotype QC")
    from genomics.genotype_arrays import duplicate_rows
    dup = duplicate_rows(ga.variants)
    n_dup = int(dup.sum())
    if n_dup:
        ctx.log(f"WARNING: {n_dup} row(s) repeat an earlier (contig, position, ref, alt) after contig "
                "renaming; the first (in config file order) is kept")
        ga, loci = _take_rows(ga, ~dup), _Loci(ga.variants[~dup].reset_index(drop=True), ref_genome)
    # withdrawn participants are left out of everything this job writes
    pids = list(ga.samples)
    check_linkage(ctx, pids, participants)
    gone = np.isin(pids, list(privacy.withdrawn(cfg)))
    # the genotyped sample IDs' linkage rows (the phenotype ingest never reads the VCFs); the
    # source IDs are read again from the VCF headers
    from genomics.vcf_checks import read_header
    source_of = {pseudo(s_): s_ for path in cfg["vcfs"] for s_ in read_header(path).samples}
    privacy.update_linkage(cfg, pd.DataFrame({"source_kind": "sample_id",
                                              "source_id": [source_of[p] for p, g in zip(pids, gone) if not g],
                                              "participant_id": [p for p, g in zip(pids, gone) if not g]}))
    if gone.any():
        ga = _take_cols(ga, ~gone)
        ctx.log(f"{int(gone.sum())} withdrawn participant(s) left out")
    gt, samples = ga.gt, np.asarray(ga.samples, dtype=object)
    n_variants, n_samples = gt.shape
    ctx.log(f"read {n_variants} variants (after splitting multi-allelics) x {n_samples} samples")
    ctx.details["ingest"] = {**c.as_dict(), "n_skipped_invalid_locus": n_invalid, "inputs": prep.counts,
                             "build_check": prep.build_check, "n_input_warnings": len(prep.warnings),
                             "n_duplicate_rows_dropped": n_dup}
    hap = (ga.haploid_rows, ga.haploid)
    steps = [{"step": "input", "unit": "samples", "threshold": None, "removed": 0, "remaining": n_samples},
             {"step": "input", "unit": "variants", "threshold": None, "removed": 0, "remaining": n_variants}]

    # 1. sample call rate over all variants (--mind)
    all_counts, missing = qa.count_calls(gt, *hap)
    n_het, n_hom_var = qa.sample_genotype_counts(gt, *hap)
    keep = missing <= qa.max_missing(n_variants, 1 - q["sample_call_rate"])
    sqc = pd.DataFrame({"s": samples, "call_rate": 1 - missing / max(n_variants, 1),
                        "n_called": n_variants - missing, "n_not_called": missing,
                        "n_het": n_het, "n_hom_var": n_hom_var, "pass_call_rate": keep})
    steps.append(_step("sample_call_rate", q["sample_call_rate"], n_samples - keep.sum(), keep.sum()))

    # 2. variants for relatedness / PCA / heterozygosity: autosomal, common, good call rate
    pre = qa.variant_filters(qa.counts_over(gt, keep, *hap, all_counts=all_counts), all_counts,
                             geno=1 - q["variant_call_rate"], maf=p["min_maf"], hwe=0.0)
    common = loci.autosome & pre["pass_call_rate"] & (pre["maf"] >= p["min_maf"])
    from genomics.genotype_arrays import locus_order
    kin_rows = locus_order(ga.variants, common)       # sorted by locus, as LD pruning needs
    from genomics.ld_prune import ld_prune
    pruned = ld_prune(gt[kin_rows][:, keep], loci.position[kin_rows], loci.contig[kin_rows],
                      r2=p["ld_r2"], window_bp=p["ld_window_bp"])
    pca_rows = kin_rows[pruned]
    ctx.log(f"{len(pca_rows)} LD-pruned common autosomal variants for PCA and F "
            f"({len(kin_rows)} common variants for relatedness)")

    # 3. sex check on chrX non-PAR: F with haploid calls counted as homozygous (PLINK 1.9)
    reported = dict(zip(participants["participant_id"], participants["sex"].astype(int)))
    sex_df = None
    notes = []                     # what the QC report says about the evidence, counts only
    notes += [f"Reference build: {prep.build_check}."] + [f"Input: {w}." for w in prep.warnings]
    if n_dup:
        notes.append(f"{n_dup} duplicate (contig, position, ref, alt) row(s) after contig renaming: the first kept.")
    if q["sex_check"]:
        x_rows = np.flatnonzero(loci.x_nonpar)
        if len(x_rows) == 0:
            notes.append("sex check skipped: no non-PAR chrX variants, so no genetic sex is called")
            ctx.log(notes[-1])
            ctx.details.setdefault("evidence", {})["sex_check"] = {"step": "sex_check", "n_variants": 0,
                                                                   "verdict": "skip", "message": notes[-1]}
        # the sites F is computed over: polymorphic in the call-rate-passed samples
        elif _judge(ctx, notes, "sex_check", int(((pre["maf"] > 0) & loci.x_nonpar).sum()), q).verdict != "skip":
            sex_df = _sex_check(gt, hap, x_rows, keep, samples, reported, q)
            ctx.log(f"sex check: {int(sex_df['sex_mismatch'].sum())} reported/genetic mismatches, "
                    f"{int((sex_df['genetic_sex'] == 'U').sum())} undetermined")

    # 4. relatedness: KING-robust on the common variants, the unrelated set chosen greedily,
    #    phenotyped people preferred
    kept_samples = samples[keep]
    kin_ev = _judge(ctx, notes, "kinship", len(kin_rows), q)
    codes = np.ascontiguousarray(gt[kin_rows][:, keep].T)
    if kin_ev.verdict == "skip":        # nobody flagged related on noise
        pairs = kinship_pairs(np.full((0, 0), np.nan, np.float32), [], 0.0442)
    else:
        pairs = kinship_pairs(king_robust(codes), list(kept_samples), 0.0442)
    pairs["degree"] = relatedness.king_degree(pairs["kinship"])
    if kin_ev.verdict != "skip":
        ctx.log(f"KING on {codes.shape[1]} common variants: "
                + (", ".join(f"{k} {v}" for k, v in pairs["degree"].value_counts().items()) + " pairs"
                   if len(pairs) else "no pairs at kinship >= 0.0442"))
    pca_codes = np.ascontiguousarray(codes[:, pruned])
    del codes
    drop = relatedness.related_to_drop(pairs, q["related_kinship"], set(participants["participant_id"]))
    ctx.log(f"{len(drop)} samples left out of the unrelated set (kinship > {q['related_kinship']})")

    # 5. PCA fitted on the unrelated, the related projected; ancestry groups
    fit = np.array([s_ not in drop for s_ in kept_samples])
    pca_ev = _judge(ctx, notes, "pca", len(pca_rows), q)
    a = cfg["ancestry"]
    if pca_ev.verdict == "skip":        # no PCs, ancestry groups or heterozygosity outliers
        eigenvalues = np.zeros(0)
        pcs_df = pd.DataFrame({"s": kept_samples, "projected": ~fit})
        anc = ancestry.unassigned_ancestry(kept_samples)
        het = pd.DataFrame({"s": kept_samples, "het_f": np.nan, "ancestry": anc["ancestry"].to_numpy(),
                            "het_outlier": False})
    else:
        scores, eigenvalues = ancestry.hwe_normalized_pcs(pca_codes, fit, p["n_pcs"])
        pcs_df = pd.DataFrame(scores, columns=[f"PC{i + 1}" for i in range(scores.shape[1])])
        pcs_df.insert(0, "s", kept_samples)
        pcs_df.insert(1, "projected", ~fit)
        het = pd.DataFrame({"s": kept_samples, "het_f": qc.inbreeding_f(pca_codes)})
        ref = None
        if a["reference"]:
            ref = pd.read_csv(ctx.input_file(a["reference"]), sep=None, engine="python", dtype=str)
            ref["s"] = pseudo.many(ref["s"])      # the file names VCF sample IDs
        anc = ancestry.assign_ancestry(pcs_df, a["n_pcs"], ref, a["min_probability"])
        # 6. heterozygosity outliers within ancestry group
        het = het.merge(anc[["s", "ancestry"]], on="s")
        het["het_outlier"] = qc.heterozygosity_outliers(het, q["heterozygosity_sd"])
    del pca_codes
    labels = ancestry.describe_ancestry_labels(anc)
    notes.append(labels)
    ctx.log("ancestry groups: " + ", ".join(f"{k} {v}" for k, v in anc["ancestry"].value_counts().items())
            + f" ({labels})")

    # sample verdicts
    s = _sample_verdicts(sqc, het, anc, sex_df, drop, q, steps)
    passed = s["qc_pass"].to_numpy()

    # 7. variant filters on the passing samples; HWE in the chosen subset, diploid calls only
    hwe_ids = _hwe_subset(q["hwe_subset"], s[s["qc_pass"]], participants, cfg["traits"])
    counts = qa.counts_over(gt, passed, *hap, all_counts=all_counts)
    hwe_cols = passed if hwe_ids is None else passed & np.isin(samples, list(hwe_ids))
    hwe_counts = counts if hwe_ids is None else qa.counts_over(gt, hwe_cols, *hap, all_counts=all_counts)
    vq = qa.variant_filters(counts, hwe_counts, geno=1 - q["variant_call_rate"], maf=q["maf"], hwe=q["hwe_p"],
                            hwe_variants=~(loci.y | loci.mt), mac=q["mac"])
    steps += _variant_steps(vq, q)
    for st in steps:
        ctx.log(f"QC {st['step']:<24} {st['unit']:<8} removed {st['removed']:>7}, remaining {st['remaining']:>8}")
    rows = np.flatnonzero(vq["qc_pass"])

    # the QC-passed genotypes as a PLINK 1 fileset (the GWAS and PRS jobs read it), and as a Hail
    # MatrixTable when genotypes.export_matrix_table asks for one (the only use of Hail here)
    _write_qc_genotypes(ctx, ga, loci, rows, passed, vq["alt_af"])

    # carrier queries: the non-reference calls of the QC-passed genotypes, chromosome-partitioned
    if cfg["carriers"]["genotype_calls"]:
        from genomics.genotype_arrays import calls_table
        from jobs.carriers_io import write_calls_by_participant, write_calls_tables
        by_contig = (calls_table(ga, rows[loci.contig[rows] == contig], passed)
                     for contig in pd.unique(loci.contig[rows]))
        version = write_calls_tables(ctx.lake, by_contig)
        ctx.outputs.append({"kind": "delta", "name": "genotype_calls", "version": version})
        ctx.log(f"genotype_calls written (version {version})")
        if cfg["carriers"]["by_participant"]:      # re-sorted by Spark: the one other use of the JVM
            from jobs.session import start_hail
            start_hail(cfg, ctx.job)
            version = write_calls_by_participant(ctx.lake)
            ctx.outputs.append({"kind": "delta", "name": "genotype_calls_by_participant", "version": version})

    # outputs
    ctx.write_table("sample_qc", s)
    v = ga.variants[["contig", "position", "ref", "alt"]].rename(columns={"contig": "chromosome"}).astype(
        {"chromosome": str, "ref": str, "alt": str})
    v = v.assign(position=v["position"].astype("int32"),
                 variant_id=v["chromosome"] + ":" + v["position"].astype(str) + ":" + v["ref"] + ":" + v["alt"],
                 **{k: vq[k] for k in ["call_rate", "alt_af", "maf", "mac", "p_hwe", "n_called", "pass_call_rate",
                                       "pass_maf", "pass_hwe", "qc_pass"]})
    ctx.write_table("variant_qc", v)
    ctx.write_table("pcs", pcs_df[pcs_df["s"].isin(set(s.loc[s["qc_pass"], "s"]))].reset_index(drop=True))
    ctx.write_table("ancestry", anc)
    ctx.write_table("relatedness", pairs if len(pairs) else
                    pd.DataFrame({"i": pd.Series(dtype=str), "j": pd.Series(dtype=str),
                                  "kinship": pd.Series(dtype=float), "degree": pd.Series(dtype=str)}))
    pd.DataFrame(steps).to_csv(ctx.output_path(ctx.result_path("qc", "qc_summary.tsv")), sep="\t", index=False)
    from jobs.qc_report import write_qc_report
    write_qc_report(ctx, s, pcs_df, anc, pairs, steps, q, notes)
    ctx.details.update({"qc_steps": steps, "pca_variants": int(len(pca_rows)), "qc_notes": notes,
                        "ancestry_labels": labels,
                        "hwe_subset_size": len(hwe_ids or []), "eigenvalues": [float(e) for e in eigenvalues]})


class _Loci:
    """Each variant row's place in the reference: valid, autosomal, chrX non-PAR, chrY, MT."""

    def __init__(self, variants: pd.DataFrame, ref_genome: str):
        from genomics.sex_arrays import x_nonpar_rows
        from genomics.vcf_inputs import SEX_AND_MT_CONTIGS, reference_contigs
        contig = variants["contig"].astype(str)
        self.contig = contig.to_numpy(dtype=object)
        self.position = variants["position"].to_numpy(dtype=np.int64)
        lengths = contig.map(reference_contigs(ref_genome)).astype(float)
        self.valid = lengths.notna().to_numpy() & (self.position >= 1) & (self.position <= lengths.fillna(0).to_numpy())
        x, y, mt = (self.contig == SEX_AND_MT_CONTIGS[ref_genome][k] for k in ("x", "y", "mt"))
        self.autosome = self.valid & ~x & ~y & ~mt
        self.x_nonpar = x_nonpar_rows(variants, ref_genome)
        self.y, self.mt = y, mt


def read_genotypes(prep, keep_phase: bool):
    """``read_vcfs`` on the prepared inputs; a file it cannot parse stops the job with the
    file, the line and the problem (never the line's content). A POS beyond its contig's length
    in the build, POS < 1, REF empty or '.', a GT allele index above the ALT count, a row with
    the wrong column count or an empty line is refused with its line: small files (up to
    ``CONTIG_SCAN_LIMIT``) always get the full streaming check, large ones when a read row
    shows one of these (htslib wraps a POS above 2^31-1, so it is caught in small files only
    unless it lands beyond the contig's length)."""
    import os
    from genomics.errors import InputDataError
    from genomics.genotype_arrays import read_vcfs
    from genomics.vcf_checks import find_first_problem
    from genomics.vcf_inputs import CONTIG_SCAN_LIMIT
    lengths = prep.contig_lengths()

    def refuse_first_problem(paths):
        for path in paths:
            found = find_first_problem(path, lengths, prep.reference_genome)
            if found is not None:
                src = prep.source_of.get(path, path)
                problem = found[1]
                if src != path and src.lower().endswith(".bcf"):
                    problem += " (line numbers count the VCF text converted from this BCF)"
                raise InputDataError(src, problem, line=found[0]) from None

    # small files first (htslib can crash on a GT it cannot parse), large ones on a sign of trouble
    refuse_first_problem([p for p in prep.paths if os.path.getsize(p) <= CONTIG_SCAN_LIMIT])
    try:
        ga = read_vcfs(prep.paths, workers=2, contig_recoding=prep.contig_recoding, keep_phase=keep_phase)
    except Exception:           # htslib's parse errors: find the line ourselves
        refuse_first_problem(prep.paths)
        raise
    v = ga.variants
    ref_len = v["contig"].astype(str).map(
        {prep.contig_recoding.get(c, c): n for c, n in lengths.items()}).astype(float)
    bad = ((v["position"] < 1) | (v["position"] > ref_len.fillna(np.inf))
           | v["ref"].astype(str).isin(["", "."])).any()
    if not bad:
        return ga
    refuse_first_problem(prep.paths)
    raise InputDataError(prep.source_of.get(prep.paths[0], prep.paths[0]),
                         f"a record with POS < 1, POS beyond its contig in {prep.reference_genome} or REF '.'")


def _take_cols(ga, mask: np.ndarray):
    """``ga`` restricted to the samples in ``mask``."""
    import dataclasses
    idx = np.flatnonzero(mask)
    changes = dict(gt=np.ascontiguousarray(ga.gt[:, idx]), samples=[ga.samples[i] for i in idx],
                   haploid=ga.haploid[:, idx])
    n = ga.gt.shape[1]
    for k in ("phased", "alt_first"):
        packed = getattr(ga, k, None)
        if packed is not None:
            bits = np.unpackbits(packed, axis=1, count=n, bitorder="little").astype(bool)
            changes[k] = np.packbits(bits[:, idx], axis=1, bitorder="little")
    return dataclasses.replace(ga, **changes)


def _take_rows(ga, mask: np.ndarray):
    """``ga`` restricted to the rows in ``mask`` (haploid bookkeeping renumbered)."""
    import dataclasses
    idx = np.flatnonzero(mask)
    new_of_old = np.full(len(mask), -1, np.int64)
    new_of_old[idx] = np.arange(len(idx))
    keep_h = mask[ga.haploid_rows] if len(ga.haploid_rows) else np.zeros(0, bool)
    changes = dict(gt=ga.gt[idx], variants=ga.variants[mask].reset_index(drop=True),
                   haploid_rows=new_of_old[ga.haploid_rows[keep_h]], haploid=ga.haploid[keep_h])
    if getattr(ga, "phased_rows", None) is not None:      # sparse like the haploid rows
        keep_p = mask[ga.phased_rows] if len(ga.phased_rows) else np.zeros(0, bool)
        changes.update(phased_rows=new_of_old[ga.phased_rows[keep_p]], phased=ga.phased[keep_p],
                       alt_first=ga.alt_first[keep_p])
    return dataclasses.replace(ga, **changes)


def _sex_check(gt, hap, x_rows, keep, samples, reported, q) -> pd.DataFrame:
    """Per kept sample: chrX non-PAR F (haploid calls as homozygous, as PLINK codes them),
    called sex and the comparison with the reported sex."""
    from genomics.sex_arrays import genetic_sex_f
    df = genetic_sex_f(gt, hap, x_rows, q["sex_female_max_f"], q["sex_male_min_f"], cols=keep)
    df.insert(0, "s", samples[keep])
    rep = pd.Series([reported.get(s_) for s_ in samples[keep]], dtype=object).map({1: "M", 0: "F"})
    df["reported_sex"] = rep.to_numpy()
    df["sex_mismatch"] = df["reported_sex"].notna() & (df["genetic_sex"] != "U") & (df["genetic_sex"] != df["reported_sex"])
    return df


def _sample_verdicts(sqc, het, anc, sex_df, drop, q, steps) -> pd.DataFrame:
    s = sqc.merge(het[["s", "het_f", "het_outlier"]], on="s", how="left").merge(anc, on="s", how="left")
    if sex_df is not None:
        s = s.merge(sex_df[["s", "f_stat", "genetic_sex", "reported_sex", "sex_mismatch"]].rename(
            columns={"f_stat": "sex_f"}), on="s", how="left")
    else:
        s = s.assign(sex_f=float("nan"), genetic_sex=None, reported_sex=None, sex_mismatch=False)
    s["sex_mismatch"] = s["sex_mismatch"].astype("boolean").fillna(False).astype(bool)
    s["het_outlier"] = s["het_outlier"].astype("boolean").fillna(False).astype(bool)
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
    # relatives stay in QC (and in the cohort); one of each related pair is only left out of the
    # unrelated set, which the GWAS and PCA fit use: "removed" counts those left out
    n_passed = int(s["qc_pass"].sum())
    steps.append({"step": "left out of unrelated set", "unit": "samples", "threshold": q["related_kinship"],
                  "removed": n_passed - int(s["unrelated"].sum()), "remaining": int(s["unrelated"].sum())})
    return s


def _variant_steps(vq: dict, q: dict) -> list[dict]:
    """Removed/remaining counts of the variant filters, in order (call rate, MAF, HWE)."""
    alive = np.ones(len(vq["qc_pass"]), bool)
    out = []
    for name, key, col in [("variant_call_rate", "variant_call_rate", "pass_call_rate"), ("maf", "maf", "pass_maf"),
                           ("hwe", "hwe_p", "pass_hwe")]:
        removed = int((alive & ~vq[col]).sum())
        alive &= vq[col]
        out.append({"step": name, "unit": "variants", "threshold": q[key], "removed": removed,
                    "remaining": int(alive.sum())})
    return out


def _write_qc_genotypes(ctx, ga, loci, rows, cols, alt_af) -> None:
    """The QC-passed genotypes as ``bed_prefix``'s PLINK 1 fileset and, when
    ``genotypes.export_matrix_table`` is on, as the Hail MatrixTable ``mt_path``; when it is
    off, a MatrixTable an earlier run exported is removed (it would hold the old QC)."""
    import shutil
    prefix = ctx.result_path("tmp", ctx.job, "qc")
    qc_path = mt_path(ctx.config)
    try:
        _write_qc_bed(ga, loci, rows, cols, prefix)
        if ctx.config["genotypes"]["export_matrix_table"]:
            _export_matrix_table(ctx, ga, loci, rows, alt_af, qc_path, prefix)
        elif os.path.exists(qc_path):
            shutil.rmtree(qc_path)
            ctx.log("genotypes.export_matrix_table is off: the MatrixTable an earlier run exported was removed")
        final = bed_prefix(ctx.config)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        for ext in (".bim", ".fam", ".bed"):
            os.replace(prefix + ext, final + ext)
        ctx.output_path(final + ".bed", "plink-bed")
        _write_qc_store(ctx, ga, loci, rows, cols)
    finally:                      # a failed write leaves no half-written fileset behind
        shutil.rmtree(ctx.result_path("tmp", ctx.job), ignore_errors=True)


def _write_qc_store(ctx, ga, loci, rows, cols) -> None:
    """The QC-passed genotypes (``rows`` x ``cols``) as the lake's block store
    ``qc_store_name`` (.psam sex as the .fam's), which the GWAS and PRS read block by block."""
    from jobs.genotype_store import write_store
    g = ctx.config["genotypes"]
    col_mask = np.zeros(len(ga.samples), bool)
    col_mask[cols] = True
    row_mask = np.zeros(ga.gt.shape[0], bool)
    row_mask[rows] = True
    sex = np.where(_haploid_x_samples(ga, loci), 1, 2 if loci.x_nonpar.any() else 0)[col_mask].tolist()
    qc = _take_rows(_take_cols(ga, col_mask), row_mask)
    per_block = block_variants(qc.gt.shape[0], len(qc.samples), g["block_mb"], g["min_blocks"])
    path = write_store(qc, ctx.config["lake"], qc_store_name(ctx.config), target_variants=per_block, sex=sex)
    ctx.output_path(path, "genotype-store")
    ctx.log(f"QC-passed genotypes written to the lake's genotype store ({per_block} variants per block at most)")


def _write_qc_bed(ga, loci, rows, cols, prefix) -> None:
    """PLINK 1 .bed/.bim/.fam of ``rows`` x ``cols``; .fam sex from the chrX ploidy: 1 for samples
    with haploid non-PAR chrX calls (males), 2 for the others when chrX is there, 0 without chrX,
    so PLINK treats the fileset as we do."""
    from genomics.plink_bed import write_bed
    hap_x = _haploid_x_samples(ga, loci)
    sex = np.where(hap_x, 1, 2 if loci.x_nonpar.any() else 0).tolist()
    write_bed(prefix, ga.gt, ga.variants, ga.samples, rows=rows, cols=cols, haploid=(ga.haploid_rows, ga.haploid),
              sex=sex)


def _export_matrix_table(ctx, ga, loci, rows, alt_af, qc_path, prefix) -> None:
    """The fileset at ``prefix`` as a Hail MatrixTable (rows keyed by locus and alleles, row
    field ``alt_af``): read by ``hl.import_plink``, male non-PAR chrX calls made haploid again,
    written beside ``qc_path`` and moved in whole."""
    from genomics.plink_bed import restore_haploid
    from jobs.session import start_hail
    cfg = ctx.config
    hl = start_hail(cfg, ctx.job)
    mt = hl.import_plink(f"{prefix}.bed", f"{prefix}.bim", f"{prefix}.fam", reference_genome=cfg["reference_genome"],
                         a2_reference=True, contig_recoding={}, quant_pheno=False, missing="-9")
    mt = mt.select_cols().select_rows()
    # typed literals: an empty dict or set has no element type Hail could infer
    af = hl.literal(dict(zip(_variant_ids(ga.variants.iloc[rows]), alt_af[rows].astype(float).tolist())),
                    dtype=hl.tdict(hl.tstr, hl.tfloat64))
    mt = mt.annotate_rows(alt_af=af[hl.delimit([mt.locus.contig, hl.str(mt.locus.position),
                                                mt.alleles[0], mt.alleles[1]], ":")])
    haploid_samples = {str(x) for x in np.asarray(ga.samples)[_haploid_x_samples(ga, loci)]}
    mt = restore_haploid(mt, hl.literal(haploid_samples, dtype=hl.tset(hl.tstr)).contains(mt.s),
                         mt.locus.in_x_nonpar())
    from jobs.atomic import fresh_dir, replace_dir
    building = fresh_dir(qc_path)
    os.rmdir(building)                     # Hail writes the folder itself
    mt.write(building, overwrite=True)     # whole, then moved in: a kill leaves the old one intact
    replace_dir(building, qc_path)
    ctx.output_path(qc_path, "matrixtable")


def _variant_ids(v: pd.DataFrame) -> list[str]:
    return (v["contig"].astype(str) + ":" + v["position"].astype(str) + ":" + v["ref"].astype(str) + ":"
            + v["alt"].astype(str)).tolist()


def _haploid_x_samples(ga, loci) -> np.ndarray:
    """Samples with any haploid call on chrX non-PAR (males)."""
    if not len(ga.haploid_rows):
        return np.zeros(len(ga.samples), bool)
    on_x = loci.x_nonpar[ga.haploid_rows]
    return ga.haploid[on_x].any(0) if on_x.any() else np.zeros(len(ga.samples), bool)


def _judge(ctx, notes: list, step: str, n_variants: int, q: dict):
    """``judge_evidence`` with the qc.min_variants minimums; logs a warning or skip, notes it
    for the QC report and records it in the run details."""
    from genomics.evidence import judge_evidence
    m = q["min_variants"][step]
    ev = judge_evidence(step, n_variants, m["warn"], m["skip"])
    ctx.details.setdefault("evidence", {})[step] = ev.as_dict()
    ctx.log(("WARNING: " if ev.verdict == "warn" else "") + ev.message)
    notes.append(ev.message)
    return ev


def check_linkage(ctx, pids, participants: pd.DataFrame) -> None:
    """Stop (``LinkageError``) when fewer genotyped samples than ``linkage.min_match_rate`` match
    a participant record; counts go to the log and ``ctx.details["linkage"]``."""
    from genomics.errors import LinkageError
    cfg = ctx.config
    vcf_pids = set(pids)
    matched = len(vcf_pids & set(participants["participant_id"]))
    rate = matched / max(len(vcf_pids), 1)
    ctx.details["linkage"] = {"genotyped": len(vcf_pids), "matched": matched, "match_rate": round(rate, 4)}
    ctx.log(f"linkage: {matched} of {len(vcf_pids)} genotyped samples match a participant record ({rate:.1%})")
    if rate < cfg["linkage"]["min_match_rate"]:
        fc = cfg["fhir"]
        raise LinkageError(
            f"only {rate:.1%} of the {len(vcf_pids)} genotyped samples match a participant record "
            f"(threshold {cfg['linkage']['min_match_rate']:.0%}): check that the VCF sample IDs are the IDs in "
            f"{cfg['phenotypes']['path']} (column {cfg['phenotypes']['sample_id_column']!r}) and in the FHIR "
            f"Patient identifiers of system {fc['sample_identifier_system']}")


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
