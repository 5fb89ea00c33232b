"""Read one input VCF into genotype arrays (the genotype job's scatter step, one per file).

``python -m jobs.read_genotypes --configfile C --vcf-index I`` reads ``vcfs[I]`` (after the
same preparation as the genotype job: BCF / plain gzip converted, contigs recoded) with
``genomics.genotype_arrays.read_vcfs`` and saves the arrays under
``<results>/work/genotype_arrays/<I>/`` (``.npy`` files, the variants as Parquet, a JSON of the
samples and counts). The samples are saved as pseudonyms (the same keyed hash as everywhere,
with a check value of the key, so arrays saved under another key are read again): no source
sample ID leaves the private folder, where converted VCF copies are kept too. The genotype job
then combines the files' arrays in the config's order, so Snakemake reads the files in parallel
(locally two at a time, on a cluster each on its own node) and the QC job never parses a VCF.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys

import numpy as np

from jobs.runtime import base_parser, run_job

ARRAYS = ("gt", "haploid_rows", "haploid", "phased_rows", "phased", "alt_first")


def build_parser():
    p = base_parser("Read one VCF into genotype arrays.")
    p.add_argument("--vcf-index", type=int, required=True, help="position of the file in the config's vcfs")
    return p


def arrays_dir(config: dict, index: int) -> str:
    return os.path.join(config["results"], "work", "genotype_arrays", str(index))


def run(ctx, args):
    from genomics.vcf_inputs import prepare_vcfs
    from jobs import privacy
    from jobs.genotypes import read_genotypes
    cfg = ctx.config
    if not 0 <= args.vcf_index < len(cfg["vcfs"]):
        raise ValueError(f"--vcf-index {args.vcf_index}: the config lists {len(cfg['vcfs'])} VCFs")
    vcf = cfg["vcfs"][args.vcf_index]
    ctx.input_file(vcf)
    pseudo = privacy.pseudonymiser(cfg, ctx.log)
    privacy.make_private_dir(cfg)
    with privacy.owner_only():
        prep = prepare_vcfs([vcf], privacy.vcf_work_dir(cfg), cfg["reference_genome"])
    for w in prep.warnings:
        ctx.log(f"WARNING: {w}")
    ctx.log(f"reference build: {prep.build_check}")
    ga = pseudonymised(read_genotypes(prep, keep_phase=cfg["carriers"]["genotype_calls"]), pseudo)
    if ga.gt.shape[0] == 0:
        c = ga.counts
        ctx.log(f"WARNING: input {args.vcf_index} leaves no usable rows ({c.n_records} records: "
                f"{c.n_dropped_symbolic} symbolic, {c.n_dropped_star} star, {c.n_dropped_breakend} "
                f"breakend alleles, {c.n_no_alt} without ALT)")
    out = arrays_dir(cfg, args.vcf_index)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in ARRAYS:
        value = getattr(ga, name)
        if value is not None:
            np.save(os.path.join(tmp, f"{name}.npy"), value)
    ga.variants.to_parquet(os.path.join(tmp, "variants.parquet"))
    with open(os.path.join(tmp, "meta.json"), "w") as fh:
        json.dump({"samples": list(ga.samples), "key_check": key_check(pseudo),
                   "counts": ga.counts.as_dict(), "source": vcf,
                   "stat": _stat(vcf), "keep_phase": bool(cfg["carriers"]["genotype_calls"])}, fh)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)                       # all or nothing
    ctx.output_path(out, "genotype_arrays")
    ctx.log(f"read {ga.gt.shape[0]} variants x {ga.gt.shape[1]} samples from input {args.vcf_index}")
    ctx.details["read"] = {**ga.counts.as_dict(), "build_check": prep.build_check,
                           "n_input_warnings": len(prep.warnings)}


def pseudonymised(ga, pseudo):
    """``ga`` with its sample IDs replaced by their pseudonyms."""
    return dataclasses.replace(ga, samples=pseudo.many(ga.samples))


def key_check(pseudo) -> str:
    """A check value of the pseudonymisation key (its pseudonym of a fixed text): arrays saved
    under another key are not reused. It does not reveal the key."""
    return pseudo("genolake:key-check")


def _stat(path: str) -> list:
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


def load_arrays(config: dict, read_one, key_check: str | None = None):
    """Every input file's arrays, combined in the config's order (files with disjoint
    sample sets merged by variant, ``concat_arrays``): the saved ones where they were
    read from the same file (path, size, modification time) with the same settings (and, given
    ``key_check``, under the same key: their samples are pseudonyms), else ``read_one(index)``
    reads the file now (so the genotype job also runs on its own; it must return samples named
    as the saved ones are, i.e. pseudonyms when ``key_check`` is given)."""
    import pandas as pd
    from genomics.genotype_arrays import GenotypeArrays, ReadCounts, concat_arrays
    parts = []
    for i, vcf in enumerate(config["vcfs"]):
        d = arrays_dir(config, i)
        meta = None
        if os.path.exists(os.path.join(d, "meta.json")):
            with open(os.path.join(d, "meta.json")) as fh:
                meta = json.load(fh)
        if (meta is None or meta.get("source") != vcf or meta.get("stat") != _stat(vcf)
                or meta.get("keep_phase") != bool(config["carriers"]["genotype_calls"])
                or meta.get("key_check") != key_check):
            parts.append(read_one(i))
            continue
        loaded = {name: np.load(os.path.join(d, f"{name}.npy")) if os.path.exists(os.path.join(d, f"{name}.npy"))
                  else None for name in ARRAYS}
        parts.append(GenotypeArrays(samples=meta["samples"], variants=pd.read_parquet(os.path.join(d, "variants.parquet")),
                                    counts=ReadCounts(**meta["counts"]), **loaded))
    return concat_arrays(parts, sources=list(config["vcfs"]))


def main(argv=None) -> int:
    return run_job("read_genotypes", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
