"""Phenotype job: the phenotype table -> Delta ``participants``; failing rows -> ``quarantine``.

No JVM: pandas and delta-rs. Genotyped sample IDs come from the VCF headers (pysam).
"""
from __future__ import annotations

import sys

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Load and validate the phenotype table.")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def run(ctx, args):
    from genomics.vcf_checks import check_vcfs
    from phenotypes.table_reader import read_raw_table, validate_phenotype_table
    cfg, pc = ctx.config, ctx.config["phenotypes"]
    samples = check_vcfs(cfg["vcfs"])
    path = ctx.input_file(pc["path"])
    raw = read_raw_table(path)
    res = validate_phenotype_table(raw, path, pc["sample_id_column"], pc["sex_column"], pc["sex_coding"],
                                   pc.get("columns", {}), known_samples=samples)
    c = res.counts
    assert c["read"] == c["accepted"] + c["quarantined"]
    ctx.log(f"read {c['read']} rows: {c['accepted']} accepted, {c['quarantined']} quarantined")
    for reason, n in res.quarantine.groupby("reason").size().items():
        ctx.log(f"  quarantined {n:>5}: {reason}")
    ctx.write_table("participants", res.accepted)
    q = res.quarantine.copy()
    q["run_id"] = ctx.run_id
    # Replace this source's earlier quarantine rows: a rerun never duplicates them.
    if ctx.lake.exists("quarantine"):
        ctx.write_table("quarantine", q, mode="overwrite", predicate=f"source = {_sql_str(path)}")
    else:
        ctx.write_table("quarantine", q)
    ctx.details["counts"] = {path: c}
    ctx.details["genotyped_samples"] = len(samples)


def main(argv=None) -> int:
    return run_job("phenotypes", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
