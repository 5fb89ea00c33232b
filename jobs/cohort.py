"""Cohort job: participants x QC-passed samples x PCs -> Delta ``cohort`` with the split."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Join phenotypes with QC-passed genotypes and PCs; assign the split.")


def participants_with_traits(ctx, cfg):
    """The participants table with the derived traits (from ``traits``) as columns."""
    participants = ctx.read_table("participants")
    derived = [t["name"] for t in [*cfg["traits"], *cfg["features"]] if "conditions" in t or "measure" in t]
    if derived:
        traits = ctx.read_table("traits", columns=["participant_id", *derived])
        participants = participants.drop(columns=[c for c in derived if c in participants]).merge(
            traits, on="participant_id", how="left")
    return participants


def with_traits_and_consent(ctx, cfg):
    """Participants with their derived traits and current consent. Where Consent records exist,
    only participants with a current research consent go on; ``consent_feedback_column`` is
    filled from the feedback consent (yes/no)."""
    from phenotypes.consent import current_consent
    participants = participants_with_traits(ctx, cfg)
    consent = ctx.read_table("consent") if ctx.lake.exists("consent") else None
    if consent is None or consent.empty:
        ctx.log("no Consent records: every participant counts as consented to research (documented default)")
        ctx.details["research_consent"] = "assumed (no Consent records)"
        return participants
    cur = current_consent(consent).set_index("participant_id")
    research = participants["participant_id"].map(cur["research"]).fillna(False).astype(bool)
    ctx.log(f"consent: {int(research.sum())} of {len(participants)} participants have a current research consent")
    ctx.details["excluded_no_research_consent"] = int((~research).sum())
    participants = participants[research.to_numpy()].copy()
    col = cfg["consent_feedback_column"] or "consent_feedback"
    fb = participants["participant_id"].map(cur["feedback"]).fillna(False).astype(bool)
    participants[col] = np.where(fb, "yes", "no")
    return participants


def run(ctx, args):
    from phenotypes.cohort import assemble_cohort
    cfg = ctx.config
    participants = with_traits_and_consent(ctx, cfg).drop(columns=["row_hash"], errors="ignore")
    # covariates are needed by the GWAS and the models (PLINK drops such samples too)
    covs = [c for c in cfg["covariates"] if c in participants]
    missing = participants[covs].isna().any(axis=1)
    if missing.any():
        ctx.log(f"{int(missing.sum())} participants left out: a covariate is missing")
    ctx.details["excluded_missing_covariate"] = int(missing.sum())
    participants = participants[~missing.to_numpy()]
    sample_qc = ctx.read_table("sample_qc", columns=["s", "qc_pass", "unrelated", "ancestry"])
    pcs = ctx.read_table("pcs")
    s = cfg["split"]
    # the split is by family: pairs of the relatedness table at or above split.family_kinship
    # (default qc.related_kinship) link two people into one family, which takes one split
    min_kin = s["family_kinship"] if s.get("family_kinship") is not None else cfg["qc"]["related_kinship"]
    pairs = None
    if ctx.lake.exists("relatedness"):
        pairs = ctx.read_table("relatedness", columns=["i", "j", "kinship"])
        pairs = pairs[pairs["kinship"].astype(float) >= min_kin]
    cohort = assemble_cohort(participants, sample_qc, pcs, s["seed"], s["test"], s["validation"], pairs)
    check_not_empty(cohort, len(participants), int(sample_qc["qc_pass"].sum()), cfg)
    ctx.write_table("cohort", cohort)
    sizes = cohort["split"].value_counts().to_dict()
    fam_sizes = cohort["family"].value_counts()
    n_fam, n_in_fam = int((fam_sizes > 1).sum()), int(fam_sizes[fam_sizes > 1].sum())
    ctx.log(f"split by family: {n_fam} families of 2 or more related people ({n_in_fam} people), "
            f"each kept in one split; {int((fam_sizes == 1).sum())} people without relatives in the cohort")
    ctx.details["split_families"] = {"n_families": n_fam, "n_people_in_families": n_in_fam,
                                     "min_kinship": min_kin, "largest_family": int(fam_sizes.max()) if len(fam_sizes) else 0}
    if len(cohort) and fam_sizes.max() > max(10, 0.05 * len(cohort)):
        ctx.log(f"WARNING: the largest family holds {int(fam_sizes.max())} of {len(cohort)} people (kinship >= "
                f"{min_kin}); the split cannot balance such a group: raise split.family_kinship")
    ctx.log(f"cohort: {len(cohort)} of {len(participants)} participants genotyped and QC-passed; "
            + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())))
    summary = []
    for t in cfg["traits"]:
        col = cohort[t["column"]]
        if t["type"] == "binary":
            summary.append(f"{t['name']}: {int((col == 1).sum())} cases, {int((col == 0).sum())} controls, "
                           f"{int(col.isna().sum())} missing")
        else:
            summary.append(f"{t['name']}: n={int(col.notna().sum())}, mean {col.mean():.3g}, sd {col.std():.3g}")
    for line in summary:
        ctx.log(line)
    ctx.details.update({"n_cohort": len(cohort), "split_sizes": sizes, "traits": summary})


def check_not_empty(cohort: pd.DataFrame, n_participants: int, n_passed: int, cfg: dict) -> None:
    """Stop before the GWAS when the cohort is empty or a trait has nothing to analyse (no value,
    or a binary trait without cases or without controls), naming what is missing."""
    from genomics.errors import GenoLakeError
    if cohort.empty:
        raise GenoLakeError(
            f"the cohort is empty: {n_participants} participants with their covariates and {n_passed} QC-passed "
            f"genotyped samples, none in both: check that the VCF sample IDs are the IDs of "
            f"{cfg['phenotypes']['path']} (column {cfg['phenotypes']['sample_id_column']!r})")
    for t in cfg["traits"]:
        y = pd.to_numeric(cohort[t["column"]], errors="coerce")
        if t["type"] == "binary" and ((y == 1).sum() == 0 or (y == 0).sum() == 0):
            raise GenoLakeError(f"trait {t['name']!r} (binary) has {int((y == 1).sum())} cases and "
                                f"{int((y == 0).sum())} controls among the {len(cohort)} cohort participants: "
                                "nothing to analyse; check its source column or codes")
        if t["type"] == "quantitative" and y.notna().sum() < 2:
            raise GenoLakeError(f"trait {t['name']!r} has {int(y.notna().sum())} values among the {len(cohort)} "
                                "cohort participants: nothing to analyse; check its source column or measure")


def main(argv=None) -> int:
    return run_job("cohort", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
