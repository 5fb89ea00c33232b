"""Wall time and peak memory of each step of a finished run, from Snakemake's benchmark files
(Snakemake samples the job's whole process tree, so the JVM that Hail starts is included).

    .venv/bin/python bench/stage_table.py [--results results] [--out bench/out/stages.tsv]

Run `make run` first (or `rm -rf results && make run` for a cold run).
"""
from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

ORDER = ["example_cohort", "genotypes", "phenotypes", "cohort", "gwas", "prs", "risk", "reports"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--out", default="bench/out/stages.tsv")
    args = ap.parse_args(argv)
    bdir = os.path.join(args.results, "benchmarks")
    rows = []
    for f in sorted(os.listdir(bdir)):
        d = pd.read_csv(os.path.join(bdir, f), sep="\t")
        rows.append({"stage": f[:-4], "wall_s": round(float(d["s"].iloc[-1]), 1),
                     "peak_rss_mib": round(float(d["max_rss"].iloc[-1]), 0),
                     "cpu_s": round(float(d["cpu_time"].iloc[-1]), 1) if "cpu_time" in d else None})
    t = pd.DataFrame(rows)
    # the parallel jobs (per-file reads, GWAS chunks) sit just before the job that gathers them
    t["order"] = t["stage"].map(lambda s: ORDER.index(s) if s in ORDER
                                else (0.5 if s.startswith("read_genotypes")
                                      else ORDER.index("gwas") - 0.5 if s.startswith("gwas_chunk") else 99))
    t = t.sort_values(["order", "stage"], kind="stable").drop(columns="order")
    total = pd.DataFrame([{"stage": "total (sum; the reads and the GWAS chunks run in parallel)", "wall_s": round(t["wall_s"].sum(), 1),
                           "peak_rss_mib": t["peak_rss_mib"].max(), "cpu_s": t["cpu_s"].sum()}])
    t = pd.concat([t, total], ignore_index=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    t.to_csv(args.out, sep="\t", index=False)
    print(t.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
