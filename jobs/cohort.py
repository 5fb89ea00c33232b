"""Cohort job: participants x QC-passed samples x PCs -> Delta ``cohort`` with the split."""
from __future__ import annotations

import sys

from jobs.runtime import base_parser, run_job


def build_parser():
    return base_parser("Join phenotypes with QC-passed genotypes and PCs; assign the split.")


def run(ctx, args):
    from phenotypes.cohort import assemble_cohort
    cfg = ctx.config
    participants = ctx.read_table("participants")
    sample_qc = ctx.read_table("sample_qc", columns=["s", "qc_pass", "unrelated", "ancestry"])
    pcs = ctx.read_table("pcs")
    s = cfg["split"]
    cohort = assemble_cohort(participants, sample_qc, pcs, s["seed"], s["test"], s["validation"])
    ctx.write_table("cohort", cohort)
    sizes = cohort["split"].value_counts().to_dict()
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


def main(argv=None) -> int:
    return run_job("cohort", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
