"""Time the GWAS stage's scatter/gather on a finished run for several chunk counts, as Snakemake
runs it on this machine (at most --cores jobs at once; each chunk job gets the BLAS threads its
rule declares: all cores for one chunk, one for several), whole process, wall clock.

    .venv/bin/python bench/gwas_chunks.py --configfile results/run/config.yaml [--chunks 1 2 4] [--cores 2]

Writes <out>/gwas_chunks.tsv and checks every chunk count gives the same gwas_results rows.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from jobs.lake import open_lake  # noqa: E402


def run_stage(cfg: dict, n: int, cores: int, work: str) -> dict:
    cfg = dict(cfg, gwas=dict(cfg["gwas"], chunks=n))
    path = os.path.join(work, f"config_{n}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    threads = str(cores if n == 1 else 1)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    t0 = time.time()
    pending, running, chunk_s = list(range(n)), [], []
    while pending or running:
        while pending and len(running) < cores:
            i = pending.pop(0)
            running.append((time.time(), subprocess.Popen(
                [sys.executable, "-m", "jobs.gwas_chunk", "--configfile", path, "--chunk", str(i)], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(0.05)
        for item in [r for r in running if r[1].poll() is not None]:
            if item[1].returncode:
                raise SystemExit(f"gwas_chunk failed with {n} chunks")
            chunk_s.append(time.time() - item[0])
            running.remove(item)
    t1 = time.time()
    subprocess.run([sys.executable, "-m", "jobs.gwas", "--configfile", path], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t2 = time.time()
    return {"chunks": n, "scatter_s": round(t1 - t0, 1), "gather_s": round(t2 - t1, 1),
            "stage_s": round(t2 - t0, 1), "slowest_chunk_s": round(max(chunk_s), 1),
            "sum_chunk_s": round(sum(chunk_s), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", default="results/run/config.yaml")
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(open(args.configfile))
    lake = open_lake(cfg["lake"])
    rows, tables = [], []
    with tempfile.TemporaryDirectory() as work:
        for n in args.chunks:
            rows.append(run_stage(cfg, n, args.cores, work))
            g = lake.read("gwas_results").drop(columns="run_id").sort_values(["trait", "variant_id"])
            tables.append(g.reset_index(drop=True))
            print(rows[-1], flush=True)
    for t in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], t, rtol=1e-6)
    table = pd.DataFrame(rows).assign(cores=args.cores, variants=len(tables[0]) // max(1, len(cfg["traits"])),
                                      traits=len(cfg["traits"]), same_results=True)
    os.makedirs(args.out, exist_ok=True)
    table.to_csv(os.path.join(args.out, "gwas_chunks.tsv"), sep="\t", index=False)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
