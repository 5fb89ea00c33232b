"""What the GWAS jobs share: the study samples (the training split or everyone as
``gwas.samples`` says, the unrelated set and ancestry groups as configured), the covariates, the phenotype frame, and the genotype file with its
column order. Read-only: every scatter chunk and the gather compute the same."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def gwas_covariates(config: dict, cohort: pd.DataFrame) -> list[str]:
    n_pcs = min(config["gwas"]["n_pcs"], sum(c.startswith("PC") for c in cohort.columns))
    return list(config["covariates"]) + [f"PC{i + 1}" for i in range(n_pcs)]


def gwas_samples(config: dict, cohort: pd.DataFrame) -> pd.DataFrame:
    """The GWAS's people: the training split (``gwas.samples: train``) or the whole cohort
    (``all``: every QC-passed participant); the unrelated set only when configured; only the
    configured ancestry groups when ``gwas.ancestry_groups`` is given."""
    return select_gwas_samples(config, cohort)[0]


def select_gwas_samples(config: dict, cohort: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """``gwas_samples`` and the counts after each step: ``cohort`` (QC-passed participants with
    phenotypes and PCs), ``sample_set`` (after the split rule), ``unrelated``, ``ancestry``
    (after the group filter; equal to the previous count when no filter applies)."""
    g = config["gwas"]
    mode = g.get("samples", "train")
    counts = {"cohort": len(cohort)}
    if mode == "train":
        df = cohort[cohort["split"] == "train"].copy()
    elif mode == "all":
        df = cohort.copy()
    else:
        raise ValueError(f"gwas.samples must be 'train' or 'all', not {mode!r}")
    counts["sample_set"] = len(df)
    if g["unrelated_only"] and "unrelated" in df:
        df = df[df["unrelated"].astype(bool)]
    counts["unrelated"] = len(df)
    groups = g.get("ancestry_groups")
    if groups:
        if "ancestry" not in df:
            raise ValueError("gwas.ancestry_groups is set but the cohort has no ancestry column")
        df = df[df["ancestry"].astype(str).isin([str(x) for x in groups])]
    counts["ancestry"] = len(df)
    return df, counts


def describe_sample_set(config: dict) -> str:
    """One line naming the GWAS's sample set, e.g. 'training split, unrelated set'."""
    g = config["gwas"]
    parts = ["training split" if g.get("samples", "train") == "train" else "all QC-passed participants"]
    if g["unrelated_only"]:
        parts.append("unrelated set")
    if g.get("ancestry_groups"):
        parts.append("ancestry groups " + ",".join(map(str, g["ancestry_groups"])))
    return ", ".join(parts)


@dataclass
class GwasInputs:
    pheno: pd.DataFrame       # participant_id, covariates, trait columns (float64), in .bed column order
    covariates: list[str]
    prefix: str               # the QC-passed PLINK fileset
    bim: pd.DataFrame
    n_fam: int
    cols: np.ndarray          # .fam rows of pheno's participants
    male: np.ndarray          # per participant of pheno: .fam sex 1
    samples: np.ndarray       # every .fam sample ID, in file order
    sample_set: str = ""      # describe_sample_set's line
    counts: dict | None = None  # select_gwas_samples' counts, plus "genotyped" (in the .bed)

    @property
    def variants(self) -> pd.DataFrame:
        return self.bim[["chromosome", "position", "ref", "alt"]]

    def haploid(self, rows: pd.DataFrame, reference_genome: str) -> np.ndarray:
        """(variants x GWAS samples) bool: the calls that are haploid (males on non-PAR chrX)
        for the ``gwas_results`` rows ``rows`` (chromosome, base_pair_location)."""
        from genomics.sex_arrays import x_nonpar_rows
        on_x = x_nonpar_rows(pd.DataFrame({"contig": rows["chromosome"].to_numpy(),
                                           "position": rows["base_pair_location"].to_numpy()}), reference_genome)
        return np.outer(on_x, self.male)

    @property
    def variant_ids(self) -> np.ndarray:
        """``chrom:pos:ref:alt`` per .bim row, as ``gwas_results.variant_id``."""
        from genomics.plink_bed import variant_ids
        return variant_ids(self.bim.rename(columns={"chromosome": "contig"})).to_numpy()


def gwas_inputs(ctx) -> GwasInputs:
    """Read the cohort and the genotype file's index; log the sample counts (no identifiers)."""
    from genomics.plink_bed import read_bim_fam
    from jobs.genotypes import bed_prefix
    cfg = ctx.config
    cohort = ctx.read_table("cohort")
    train, counts = select_gwas_samples(cfg, cohort)
    covariates = gwas_covariates(cfg, cohort)
    cols = ["participant_id", *covariates, *dict.fromkeys(t["column"] for t in cfg["traits"])]
    pheno = train[cols].copy()
    for c in pheno.columns[1:]:
        pheno[c] = pd.to_numeric(pheno[c], errors="coerce").astype("float64")
    prefix = bed_prefix(cfg)
    ctx.input_path(prefix + ".bed", "plink-bed")
    bim, fam = read_bim_fam(prefix)
    pos = {s: i for i, s in enumerate(fam["iid"])}
    pheno = pheno[pheno["participant_id"].isin(pos)].reset_index(drop=True)
    counts["genotyped"] = len(pheno)
    sample_set = describe_sample_set(cfg)
    ctx.log(f"GWAS samples: {len(pheno)} ({sample_set}): {counts['cohort']} QC-passed participants in the cohort, "
            f"{counts['sample_set']} in the sample set, {counts['unrelated']} after the unrelated filter, "
            f"{counts['ancestry']} after the ancestry filter; covariates {', '.join(covariates)}")
    cols = np.array([pos[s] for s in pheno["participant_id"]], dtype=np.int64)
    return GwasInputs(pheno, covariates, prefix, bim, len(fam), cols, fam["sex"].to_numpy()[cols] == 1,
                      fam["iid"].to_numpy(), sample_set, counts)


def part_path(ctx, index: int, n_chunks: int) -> str:
    """Where scatter chunk ``index`` of ``n_chunks`` leaves its rows for the gather."""
    return ctx.result_path("gwas", "parts", f"{n_chunks}", f"chunk_{index:04d}.parquet")
