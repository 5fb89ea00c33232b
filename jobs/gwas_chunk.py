"""GWAS scatter job: one chunk (a run of contig ranges) of the genome, every configured trait,
each genotype block read once for all traits -> a Parquet part that the ``gwas`` job gathers
into the Delta table ``gwas_results``.

No JVM: the QC-passed genotypes are read from the genotype job's PLINK .bed (male non-PAR chrX
calls 0/2, PLINK's --xchr-model 2) and tested with the vectorised kernels of
``genomics/glm_arrays.py`` (PLINK 2 --glm semantics: linear; logistic Wald with Firth fallback;
missing genotypes dropped per variant)."""
from __future__ import annotations

import os
import sys

import pandas as pd

from jobs.runtime import base_parser, run_job


def build_parser():
    p = base_parser("Association of every configured trait over one chunk of the genome.")
    p.add_argument("--chunk", type=int, default=0, help="0-based chunk index (of gwas.chunks)")
    return p


def run(ctx, args):
    from genomics.chunks import genome_chunks
    from genomics.glm_arrays import GWAS_COLUMNS, gwas_blocks
    from genomics.plink_bed import read_bed_rows
    from jobs.gwas_inputs import gwas_inputs, part_path
    cfg = ctx.config
    n_chunks = cfg["gwas"]["chunks"]
    if not 0 <= args.chunk < n_chunks:
        raise ValueError(f"--chunk {args.chunk} is outside 0..{n_chunks - 1} (gwas.chunks = {n_chunks})")
    inp = gwas_inputs(ctx)
    chunk = genome_chunks(inp.bim["chromosome"], inp.bim["position"], n_chunks)[args.chunk]
    ctx.log(f"chunk {args.chunk + 1}/{n_chunks}: variants {chunk.start}..{chunk.stop - 1} "
            f"({chunk.stop - chunk.start}) on {chunk.label() or 'nothing'}")
    a0, n = chunk.start, chunk.stop - chunk.start

    def progress(done, total):
        ctx.log(f"  {done}/{total} variants")
    frames = list(gwas_blocks(lambda a, b: read_bed_rows(inp.prefix, inp.n_fam, a0 + a, a0 + b, inp.cols), n,
                              inp.variants.iloc[a0:chunk.stop], cfg["traits"], inp.pheno, inp.covariates,
                              block=cfg["gwas"]["block_variants"], firth_fallback=cfg["gwas"]["firth_fallback"],
                              binary_test=cfg["gwas"]["binary_test"], progress=progress))
    res = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=GWAS_COLUMNS)
    for t, d in res.groupby("trait"):
        ctx.log(f"{t}: " + ", ".join(f"{k} {v}" for k, v in d["test"].value_counts().items()))
    path = part_path(ctx, args.chunk, n_chunks)
    tmp = path + ".tmp"
    res.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    ctx.output_path(path, "parquet")
    ctx.details.update(chunk=args.chunk, n_chunks=n_chunks, variants=n, ranges=chunk.label())


def main(argv=None) -> int:
    return run_job("gwas_chunk", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
