"""Simulate the example cohort and write it to files.

    python -m jobs.simulate --out DIR [--n-samples N] [--seed S] [--sequence-length BP]
                            [--chromosomes 1,2] [--contig-prefix chr] [--no-x] [--no-relatives]
                            [--no-clinical]

Writes (each atomically: temp file in the same folder, then os.replace):
  DIR/genotypes/{contig}.vcf.gz (+ .tbi)  bgzipped, tabix-indexed VCFv4.2 (autosomes, then chrX
                                          unless --no-x: males haploid outside PAR1)
  DIR/phenotypes.csv                      sample_id, sex, age, ldl_c, cad, consent_feedback
  DIR/truth.tsv                           causal variants and effects per trait
  DIR/sample_truth.tsv                    population, genetic values, cad liability, genetic sex,
                                          and the clean age, ldl_c, cad, consent_feedback
  DIR/dirty_rows.tsv                      phenotype rows that must be quarantined (0-based row)
  DIR/qc_truth.tsv                        injected bad samples / bad variants / HWE violations /
                                          sex-label mismatches (reported_sex, genetic_sex)
  DIR/relatives.tsv                       id1, id2, relationship, expected_kinship (KING scale);
                                          header only with --no-relatives
  clinical records (skipped with --no-clinical; see phenotypes.simulate_clinical):
  DIR/clinical/fhir/{Patient,Observation,Condition,Consent}.ndjson
                                          FHIR R4 bulk-export NDJSON (one resource a line) of
                                          everyone except every 5th sample; Observation.ndjson
                                          has one line that is not JSON
  DIR/clinical/fhir/bundle_NNN.json       FHIR collection Bundles (000, 001, ...) with every
                                          resource of every 5th sample, 100 people per Bundle
  DIR/clinical/devices.csv                sample_id, measure, value, unit, time (device readings)
  DIR/clinical_dirty.tsv                  source, resource_type, key, reason: the clinical
                                          records that must be quarantined (key: FHIR resource
                                          id, "line:N" of Observation.ndjson, or the 0-based
                                          row of devices.csv)

Progress goes to stderr (counts and timings only, never sample IDs or phenotype values).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import pandas as pd
import pysam

from genomics.simulation import (
    CohortSpec,
    SimulatedCohort,
    simulate_cohort,
    vcf_header_lines,
    vcf_record_chunks,
)
from phenotypes.simulate_clinical import bundle_text, bundles, ndjson_lines, ndjson_text, simulate_clinical

_T0 = time.time()
# deflate level of the bgzipped VCFs: 4 writes ~2x (autosomes) to ~3.5x (chrX, whose mixed
# haploid/diploid calls compress worse) faster than zlib's default 6, for ~10-20% larger files
BGZF_LEVEL = 4


def _log(message: str) -> None:
    print(f"[simulate +{time.time() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    d = CohortSpec()
    p = argparse.ArgumentParser(prog="python -m jobs.simulate", description="Simulate the example cohort.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-samples", type=int, default=d.n_samples, help=f"number of samples (default {d.n_samples})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--sequence-length", type=int, default=d.sequence_length_bp,
                   help=f"simulated bp per chromosome (default {d.sequence_length_bp})")
    p.add_argument("--chromosomes", default=",".join(d.chromosomes),
                   help=f"comma-separated chromosomes (default {','.join(d.chromosomes)})")
    p.add_argument("--contig-prefix", default=d.contig_prefix, help=f"contig name prefix (default {d.contig_prefix!r})")
    p.add_argument("--offset-bp", type=int, default=d.offset_bp, help=f"position offset (default {d.offset_bp})")
    p.add_argument("--n-causal", type=int, default=d.n_causal, help=f"causal variants (default {d.n_causal})")
    p.add_argument("--mutation-rate", type=float, default=d.mutation_rate,
                   help=f"per-bp mutation rate (default {d.mutation_rate:g}); lower it with a longer "
                        "--sequence-length for sparse markers over many independent LD blocks")
    p.add_argument("--x-sequence-length", type=int, default=d.x_sequence_length_bp,
                   help=f"simulated bp of chrX (default {d.x_sequence_length_bp})")
    p.add_argument("--no-x", action="store_true",
                   help="do not simulate chrX (by default chrX spans the end of PAR1; males haploid outside it)")
    p.add_argument("--no-relatives", action="store_true",
                   help="no duplicate samples, trios or sibling pairs (by default they replace unrelated samples)")
    p.add_argument("--no-clinical", action="store_true",
                   help="do not write the clinical records (FHIR resources, device readings)")
    return p


def spec_from_args(args: argparse.Namespace) -> CohortSpec:
    chromosomes = tuple(c.strip() for c in str(args.chromosomes).split(",") if c.strip())
    return CohortSpec(
        n_samples=args.n_samples,
        seed=args.seed,
        sequence_length_bp=args.sequence_length,
        chromosomes=chromosomes,
        contig_prefix=args.contig_prefix,
        offset_bp=getattr(args, "offset_bp", CohortSpec.offset_bp),
        n_causal=getattr(args, "n_causal", CohortSpec.n_causal),
        include_x=not getattr(args, "no_x", False),
        include_relatives=not getattr(args, "no_relatives", False),
        mutation_rate=getattr(args, "mutation_rate", CohortSpec.mutation_rate),
        x_sequence_length_bp=getattr(args, "x_sequence_length", CohortSpec.x_sequence_length_bp),
    )


def _temp_path(final: str, suffix: str = "") -> str:
    """A hidden temp name next to ``final`` (same folder, so os.replace is atomic)."""
    folder, name = os.path.split(final)
    return os.path.join(folder, f".{name}.{os.getpid()}.tmp{suffix}")


def _write_table(df, final: str, sep: str) -> None:
    tmp = _temp_path(final)
    try:
        df.to_csv(tmp, sep=sep, index=False, na_rep="", lineterminator="\n")
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_text(text: str, final: str) -> None:
    tmp = _temp_path(final)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_vcf(cohort: SimulatedCohort, chrom_index: int, final: str) -> None:
    """bgzipped VCF + tabix index, both moved into place atomically."""
    tmp = _temp_path(final, ".vcf.gz")  # tabix needs the .gz ending to index in place
    tmp_tbi = tmp + ".tbi"
    try:
        with pysam.BGZFile(tmp, f"wb{BGZF_LEVEL}") as out:
            out.write("".join(vcf_header_lines(cohort, chrom_index)).encode("ascii"))
            for block in vcf_record_chunks(cohort, chrom_index):
                out.write(block)
        pysam.tabix_index(tmp, preset="vcf", force=True)
        os.replace(tmp, final)
        os.replace(tmp_tbi, final + ".tbi")
        os.utime(final + ".tbi")  # htslib warns when an index looks older than its data
    except BaseException:
        for path in (tmp, tmp_tbi):
            if os.path.exists(path):
                os.remove(path)
        raise


def write_cohort(cohort: SimulatedCohort, out: str) -> dict[str, str]:
    """Write every output file of ``cohort`` under ``out``; returns {name: path}."""
    geno_dir = os.path.join(out, "genotypes")
    os.makedirs(geno_dir, exist_ok=True)
    paths: dict[str, str] = {}
    for i, ch in enumerate(cohort.chromosomes):
        t = time.time()
        path = os.path.join(geno_dir, f"{ch.contig}.vcf.gz")
        write_vcf(cohort, i, path)
        paths[f"vcf:{ch.contig}"] = path
        _log(f"wrote {ch.contig}.vcf.gz: {ch.n_variants} variants x {cohort.n_samples} samples "
             f"in {time.time() - t:.1f}s")
    tables = [
        ("phenotypes.csv", cohort.phenotypes, ","),
        ("truth.tsv", cohort.truth, "\t"),
        ("sample_truth.tsv", cohort.sample_truth, "\t"),
        ("dirty_rows.tsv", cohort.dirty_rows, "\t"),
        ("qc_truth.tsv", cohort.qc_truth, "\t"),
        ("relatives.tsv", cohort.relatives, "\t"),
    ]
    for name, df, sep in tables:
        path = os.path.join(out, name)
        _write_table(df, path, sep)
        paths[name] = path
        _log(f"wrote {name}: {len(df)} rows")
    return paths


def clinical_people(cohort: SimulatedCohort) -> pd.DataFrame:
    """One row per genotyped sample: sample_id, sex (reported: the genetic sex except for the
    sex-label mismatches of qc_truth), age, ldl_c, cad (true values), consent_feedback."""
    st = cohort.sample_truth
    qc = cohort.qc_truth
    mm = qc[qc["kind"] == "sex_mismatch"] if len(qc) else qc
    reported = dict(zip(mm.get("sample_id", []), mm.get("reported_sex", [])))
    return pd.DataFrame({
        "sample_id": st["sample_id"].astype(str),
        "sex": [reported.get(s, g) for s, g in zip(st["sample_id"], st["genetic_sex"])],
        "age": st["age"].astype("int64"),
        "ldl_c": st["ldl_c"].astype(float),
        "cad": st["cad"].astype("int64"),
        "consent_feedback": st["consent_feedback"].astype(str),
    })


def write_clinical(cohort: SimulatedCohort, out: str) -> dict[str, str]:
    """Simulate and write the clinical records of ``cohort`` under ``out``; returns {name: path}."""
    t = time.time()
    extract = simulate_clinical(clinical_people(cohort), cohort.spec.seed)
    _log(f"simulated clinical records in {time.time() - t:.1f}s: {len(extract.patients)} patients, "
         f"{len(extract.observations)} observations, {len(extract.conditions)} conditions, "
         f"{len(extract.consents)} consents, {len(extract.devices)} device readings, "
         f"{len(extract.dirty)} dirty records")
    fhir_dir = os.path.join(out, "clinical", "fhir")
    os.makedirs(fhir_dir, exist_ok=True)
    paths: dict[str, str] = {}
    for rtype, lines in ndjson_lines(extract).items():
        path = os.path.join(fhir_dir, f"{rtype}.ndjson")
        _write_text(ndjson_text(lines), path)
        paths[f"{rtype}.ndjson"] = path
    written = set()
    for i, bundle in enumerate(bundles(extract)):
        name = f"bundle_{i:03d}.json"
        path = os.path.join(fhir_dir, name)
        _write_text(bundle_text(bundle), path)
        paths[name] = path
        written.add(name)
    for name in os.listdir(fhir_dir):  # Bundles left over from an earlier, larger run
        if name.startswith("bundle_") and name.endswith(".json") and name not in written:
            os.remove(os.path.join(fhir_dir, name))
    for name, df, sep in (("clinical/devices.csv", extract.devices, ","),
                          ("clinical_dirty.tsv", extract.dirty, "\t")):
        path = os.path.join(out, name)
        _write_table(df, path, sep)
        paths[name] = path
    _log(f"wrote clinical records in {time.time() - t:.1f}s: {len(written)} Bundles, "
         f"{len(extract.bundle_people)} people in Bundles")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        print(f"simulate: invalid arguments: {exc}", file=sys.stderr)
        return 2
    t0 = time.time()
    _log(f"simulating {spec.n_samples} samples, {len(spec.chromosomes)} autosome(s) of "
         f"{spec.sequence_length_bp} bp" + (f" + chrX ({spec.x_sequence_length_bp} bp)" if spec.include_x else "")
         + f", seed {spec.seed}")
    cohort = simulate_cohort(spec, progress=_log)
    _log(f"simulated {cohort.n_variants} variants in {time.time() - t0:.1f}s")
    t1 = time.time()
    write_cohort(cohort, args.out)
    if not args.no_clinical:
        write_clinical(cohort, args.out)
    _log(f"wrote outputs in {time.time() - t1:.1f}s (total {time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
