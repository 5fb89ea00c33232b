"""Compare a finished run's GWAS with `plink2 --glm` on the same samples and covariates.

    .venv/bin/python bench/gwas_vs_plink.py --configfile results/run/config.yaml [--out bench/out]

PLINK 2 reads the run's VCFs directly (multi-allelic sites dropped with --max-alleles 2, the
training-split samples with --keep, the same covariates with --covar-variance-standardize,
'omit-ref' so the ALT allele is tested as ours is, 'firth-fallback' as ours; on chrX the
reported sexes and --split-par, with PLINK's default --xchr-model 2: males coded 0/2, as the
pipeline's .bed codes them, and 'no-x-sex' so that the PARs, split off, keep the sex covariate
too). Writes
<out>/gwas_vs_plink.tsv (one row per trait) and prints it. PLINK is a reference here, never a
pipeline step.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jobs.config import load_config  # noqa: E402
from jobs.gwas_inputs import gwas_covariates, gwas_samples  # noqa: E402
from jobs.lake import open_lake  # noqa: E402


def run_plink(cfg, cohort, covariates, work) -> tuple[pd.DataFrame, float]:
    train = gwas_samples(cfg, cohort)
    # PLINK reads the VCFs, whose sample IDs the pipeline pseudonymised: back through the linkage
    from jobs.privacy import read_linkage
    link = read_linkage(cfg)
    link = link[link["source_kind"] == "sample_id"]
    train["participant_id"] = train["participant_id"].map(dict(zip(link["participant_id"], link["source_id"])))
    pd.DataFrame({"#IID": train["participant_id"]}).to_csv(f"{work}/keep.txt", sep="\t", index=False)
    ph = pd.DataFrame({"#IID": train["participant_id"]})
    for t in cfg["traits"]:
        y = pd.to_numeric(train[t["column"]], errors="coerce")
        ph[t["name"]] = (y + 1) if t["type"] == "binary" else y   # PLINK case/control: 2/1
    ph.to_csv(f"{work}/pheno.txt", sep="\t", index=False, na_rep="NA")
    cv = train[["participant_id", *covariates]].rename(columns={"participant_id": "#IID"})
    cv.to_csv(f"{work}/covar.txt", sep="\t", index=False, na_rep="NA")
    # sexes, so that PLINK codes male non-PAR chrX calls as haploid (0/1, like ours); the PARs
    # split off as diploid (--split-par), as the pipeline reads them
    sex = pd.to_numeric(train["sex"], errors="coerce").map({1: 1, 0: 2}).fillna(0).astype(int)
    pd.DataFrame({"#IID": train["participant_id"], "SEX": sex}).to_csv(f"{work}/sex.txt", sep="\t", index=False)
    build = {"GRCh38": "b38", "GRCh37": "b37"}[cfg["reference_genome"]]
    out, seconds = [], 0.0
    for i, vcf in enumerate(cfg["vcfs"]):
        prefix = f"{work}/glm{i}"
        cmd = ["plink2", "--vcf", vcf, "--max-alleles", "2", "--keep", f"{work}/keep.txt",
               "--pheno", f"{work}/pheno.txt", "--covar", f"{work}/covar.txt", "--covar-variance-standardize",
               "--glm", "hide-covar", "omit-ref", "firth-fallback", "cols=+a1freq,+beta,+firth",
               "--threads", "2", "--out", prefix]
        if any(c in os.path.basename(vcf) for c in ("X", "x")):
            # males non-PAR 0/2 (PLINK's default model 2); the PARs split off as diploid. PLINK
            # would add sex as a covariate on chrX only (not on the split-off PARs): 'no-x-sex'
            # keeps the configured covariates, sex among them, on every chromosome, as ours
            cmd[3:3] = ["--update-sex", f"{work}/sex.txt", "--split-par", build]
            cmd[cmd.index("firth-fallback") + 1:cmd.index("firth-fallback") + 1] = ["no-x-sex"]
        t0 = time.time()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds += time.time() - t0
        for t in cfg["traits"]:
            kind = "logistic" if t["type"] == "binary" else "linear"
            path = f"{prefix}.{t['name']}.glm.{kind}" + (".hybrid" if kind == "logistic" else "")
            d = pd.read_csv(path, sep="\t")
            d["trait"] = t["name"]
            # PLINK 2's logistic SE is off where the variant before (in its order) had every
            # call and this one has missing calls, a called count not a multiple of 4: stale
            # intercept padding enters its Hessian (see tests/test_glm_arrays.py)
            add = (d["TEST"] == "ADD").to_numpy()
            ct = d["OBS_CT"].to_numpy()
            prev = np.r_[False, ct[add][:-1] == ct[add].max()] if add.any() else np.zeros(0, bool)
            d["padding_pattern"] = False
            d.loc[add, "padding_pattern"] = prev & (ct[add] < ct[add].max()) & (ct[add] % 4 != 0)
            out.append(d)
    res = pd.concat(out, ignore_index=True)
    res = res.rename(columns={"#CHROM": "chrom", "POS": "pos", "REF": "ref", "ALT": "alt"})
    res["chrom"] = res["chrom"].astype(str).str.replace("^chr", "", regex=True).replace({"PAR1": "X", "PAR2": "X"})
    return res, seconds


def compare(ours: pd.DataFrame, plink: pd.DataFrame) -> pd.DataFrame:
    ours = ours.assign(chrom=ours["chromosome"].astype(str).str.replace("^chr", "", regex=True))
    m = ours.merge(plink, left_on=["trait", "chrom", "base_pair_location", "other_allele", "effect_allele"],
                   right_on=["trait", "chrom", "pos", "ref", "alt"])
    m = m[(m["TEST"] == "ADD") & m["P"].notna() & m["p_value"].notna()]
    rows = []
    for trait, d in m.groupby("trait"):
        maf = np.minimum(d["effect_allele_frequency"], 1 - d["effect_allele_frequency"])
        d = d[maf >= 0.01]
        # rows PLINK flags itself (ERRCODE, e.g. UNFINISHED: its Newton stopped at its iteration
        # limit, estimates unreliable) are counted, not compared
        flagged = d["ERRCODE"].fillna(".").astype(str) != "." if "ERRCODE" in d else pd.Series(False, d.index)
        n_flagged = int(flagged.sum())
        d = d[~flagged]
        pb = d["BETA"] if "BETA" in d else np.log(d["OR"])
        z = (d["beta"] - pb).abs() / d["standard_error"]
        lp, lq = -np.log10(d["p_value"]), -np.log10(d["P"])
        sig_ours, sig_plink = set(d.index[d["p_value"] < 5e-8]), set(d.index[d["P"] < 5e-8])
        rows.append({
            "trait": trait, "variants": len(d), "plink_flagged": n_flagged,
            "r_beta": np.corrcoef(d["beta"], pb)[0, 1],
            "r_log10p": np.corrcoef(lp, lq)[0, 1],
            "max_abs_beta_diff_over_se": z.max(), "median_abs_beta_diff_over_se": z.median(),
            "max_rel_se_diff": ((d["standard_error"] - d["SE"]).abs() / d["SE"]).max(),
            "significant_ours": len(sig_ours), "significant_plink": len(sig_plink),
            "significant_both": len(sig_ours & sig_plink),
            "firth_ours": int((d["test"] == "firth").sum()) if "test" in d else 0,
            "firth_plink": int((d.get("FIRTH?", pd.Series(dtype=str)) == "Y").sum()),
            "firth_both": int(((d["test"] == "firth") & (d.get("FIRTH?") == "Y")).sum()) if "FIRTH?" in d else 0,
            "share_se_within_1e-3": float((((d["standard_error"] - d["SE"]).abs() / d["SE"]) <= 1e-3).mean()),
        })
        wald = d[d["test"] != "firth"]
        off = wald[((wald["standard_error"] - wald["SE"]).abs() / wald["SE"]) > 1e-3]
        rows[-1].update({"se_off_wald_rows": len(off),
                         "se_off_in_plink_padding_pattern": int(off["padding_pattern"].sum()),
                         "se_off_plink_smaller": int((off["SE"] < off["standard_error"]).sum())})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", default="results/run/config.yaml")
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    cfg = load_config(args.configfile)
    lake = open_lake(cfg["lake"])
    cohort = lake.read("cohort")
    covariates = gwas_covariates(cfg, cohort)
    ours = lake.read("gwas_results")
    work = os.path.join(args.out, "plink_glm")
    os.makedirs(work, exist_ok=True)
    plink, seconds = run_plink(cfg, cohort, covariates, work)
    table = compare(ours, plink)
    auto = compare(ours[~ours["chromosome"].astype(str).str.contains("X|Y|M")], plink)
    table = pd.concat([table.assign(chromosomes="all"), auto.assign(chromosomes="autosomes")], ignore_index=True)
    table["plink_seconds"] = round(seconds, 1)
    table.to_csv(os.path.join(args.out, "gwas_vs_plink.tsv"), sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
