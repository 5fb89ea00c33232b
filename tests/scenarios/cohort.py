"""A tiny deterministic cohort for the scenario tests (test support: not genomics/ or phenotypes/).

``make_cohort(options, out)`` writes VCFs (text, then bgzip + tabix with pysam), a phenotype CSV
and, when asked, FHIR R4 NDJSON (``phenotypes.simulate_clinical``) and device readings, and
returns a :class:`Cohort` with the truth the scenario tests assert on.

Model (all draws from one ``numpy`` generator seeded by ``options.seed``):

* two populations of equal size; per variant an ancestral frequency U(0.08, 0.5) and
  population frequencies by Balding-Nichols (Fst 0.05), clipped to [0.05, 0.95]; sites
  independent (no LD), so every variant counts as evidence for sex F and KING.
* founders draw two haplotypes; families (``options.families``, each two founder parents in
  the cohort and two children) pass one recombined haplotype (one crossover per contig) from
  each parent to each child, chrX as in life (a son gets one of his mother's X, a daughter
  her father's X and one of her mother's). Expected KING kinship: parent-offspring and
  full siblings 0.25.
* chrX (``chrx``): ``none``; ``haploid`` (males' non-PAR calls written ``0``/``1``); or
  ``diploid`` (males written homozygous ``0/0``/``1/1``, as many callers do). Positions lie
  outside the PARs of both builds.
* QC truth: ``low_call_samples`` samples miss 12% of their calls; ``monomorphic`` variants
  have no ALT call, ``singletons`` one ALT call (MAF < 0.01 for n >= 60), ``high_missing``
  variants miss 10% of calls. ``sex_mismatch`` females (chrX scenarios) are reported male.
* traits: ``ldl_c`` = 3 + 0.6 g1 + 0.5 g2 + 0.01 (age - 55) + 0.2 male + N(0, 0.35) with g the
  standardised ALT counts of two causal variants on the first contig; ``cad`` = 1 when a
  liability 1.2 g3 + 0.02 (age - 55) + N(0, 1) exceeds its 70th centile (g3 on the second
  contig). Age U(30, 80) rounded to a year.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

X_START = {"GRCh38": 3_000_000, "GRCh37": 3_000_000}     # beyond PAR1 of both builds
GRCH38_LENGTHS = {"1": 248956422, "2": 242193529, "3": 198295559, "20": 64444167, "21": 46709983,
                  "22": 50818468, "X": 156040895}
GRCH37_LENGTHS = {"1": 249250621, "2": 243199373, "3": 198022430, "20": 63025520, "21": 48129895,
                  "22": 51304566, "X": 155270560}


@dataclass(frozen=True)
class CohortOptions:
    """What to generate. ``layout``: one_file (all chromosomes in one VCF), per_chromosome,
    sample_split (each chromosome in two files of disjoint sample halves; the second half's
    files lack the first contig's high-missing variants), reordered (per
    chromosome, the second file's samples in another order), names_differ (the first contig
    in two files, ``20`` in one and ``chr20`` in the other, one variant in both)."""
    n: int = 240
    seed: int = 11
    contigs: tuple = ("1", "2", "3")
    variants_per_contig: int = 600
    chrx: str = "haploid"                 # none | haploid | diploid
    x_variants: int = 500
    build: str = "GRCh38"                 # GRCh38 (chr1.., true lengths) | GRCh37 (1.., PLINK 1.9 header)
    layout: str = "per_chromosome"
    families: int = 0
    low_call_samples: int = 3
    monomorphic: int = 10
    singletons: int = 10
    high_missing: int = 10
    sex_mismatch: int = 2
    consent_column: bool = True
    fhir: bool = False
    devices: bool = False


@dataclass
class Cohort:
    options: CohortOptions
    dir: str
    vcfs: list
    phenotypes: str
    fhir_dir: str | None
    devices: str | None
    samples: list                          # sample IDs in cohort order
    variants: pd.DataFrame                 # contig (no prefix), pos, ref, alt, kind (ok/monomorphic/singleton/high_missing)
    dosage: np.ndarray                     # variants x samples ALT counts (-1 missing; males' chrX 0/1)
    people: pd.DataFrame                   # sample_id, population, sex, reported_sex, age, ldl_c, cad, consent_feedback, family
    low_call: list                         # sample IDs with injected missingness
    sex_mismatch: list                     # sample IDs whose reported sex is wrong
    families: list                         # [(parent1, parent2, child1, child2)]
    causal: dict = field(default_factory=dict)  # trait -> [(contig, pos)]

    def first_degree_pairs(self) -> set:
        pairs = set()
        for p1, p2, c1, c2 in self.families:
            for a, b in ((p1, c1), (p1, c2), (p2, c1), (p2, c2), (c1, c2)):
                pairs.add(tuple(sorted((a, b))))
        return pairs


def contig_name(contig: str, build: str) -> str:
    return ("chr" + contig) if build == "GRCh38" else contig


def _recombine(rng, hap2: np.ndarray) -> np.ndarray:
    """One haplotype from a parent's two (n_var,) haplotypes with one crossover."""
    n_var = hap2.shape[1]
    cut = int(rng.integers(0, n_var + 1))
    first = int(rng.integers(0, 2))
    out = hap2[1 - first].copy()
    out[:cut] = hap2[first][:cut]
    return out


def simulate_genotypes(o: CohortOptions, rng):
    """Haplotypes per contig, sexes, populations and the family plan."""
    n = o.n
    pop = np.arange(n) % 2
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    fams = []
    # family k occupies samples 4k..4k+3: parents (M, F), two children
    for k in range(o.families):
        base = 4 * k
        sex[base], sex[base + 1] = "M", "F"
        pop[base:base + 4] = pop[base]
        fams.append((base, base + 1, base + 2, base + 3))
    contigs = list(o.contigs) + (["X"] if o.chrx != "none" else [])
    haps = {}
    for c in contigs:
        m = o.x_variants if c == "X" else o.variants_per_contig
        anc = rng.uniform(0.08, 0.5, m)
        f = 0.05
        a, b = anc * (1 - f) / f, (1 - anc) * (1 - f) / f
        fp = np.clip(np.stack([rng.beta(a, b), rng.beta(a, b)]), 0.05, 0.95)   # (2, m)
        h = (rng.random((n, 2, m)) < fp[pop][:, None, :]).astype(np.int8)     # (n, 2, m)
        for p1, p2, c1, c2 in fams:
            for child in (c1, c2):
                if c == "X":
                    from_mother = _recombine(rng, h[p2])
                    if sex[child] == "M":
                        h[child] = np.stack([from_mother, from_mother])
                    else:
                        h[child] = np.stack([h[p1][0], from_mother])
                else:
                    h[child] = np.stack([_recombine(rng, h[p1]), _recombine(rng, h[p2])])
        haps[c] = h
    return pop, sex, fams, haps


def make_cohort(o: CohortOptions, out: str) -> Cohort:
    rng = np.random.default_rng(o.seed)
    os.makedirs(out, exist_ok=True)
    pop, sex, fams, haps = simulate_genotypes(o, rng)
    n = o.n
    samples = [f"S{i:04d}" for i in range(n)]
    male = sex == "M"
    # dosages, positions, injected bad variants
    rows, dos = [], []
    bases = np.array(list("ACGT"))
    for c, h in haps.items():
        m = h.shape[2]
        d = h.sum(axis=1).T.astype(np.int8)                  # (m, n)
        if c == "X":
            d[:, male] = h[male, 0, :].T                      # males: one X
            start = X_START[o.build]
        else:
            start = 100_000
        pos = start + np.cumsum(rng.integers(200, 2_000, m))
        ref = bases[rng.integers(0, 4, m)]
        alt = bases[(np.searchsorted(bases, ref) + rng.integers(1, 4, m)) % 4]
        kind = np.array(["ok"] * m, dtype=object)
        if c != "X":
            pick = rng.choice(np.arange(m), o.monomorphic + o.singletons + o.high_missing, replace=False)
            mono, single, miss = np.split(pick, [o.monomorphic, o.monomorphic + o.singletons])
            d[mono] = 0
            kind[mono] = "monomorphic"
            d[single] = 0
            d[single, rng.integers(0, n, len(single))] = 1
            kind[single] = "singleton"
            for r in miss:
                d[r, rng.choice(n, int(0.1 * n), replace=False)] = -1
            kind[miss] = "high_missing"
        rows.append(pd.DataFrame({"contig": c, "pos": pos, "ref": ref, "alt": alt, "kind": kind}))
        dos.append(d)
    variants = pd.concat(rows, ignore_index=True)
    dosage = np.concatenate(dos)
    # low call rate samples (not family members, not sex-mismatch candidates)
    free = np.arange(4 * o.families, n)
    low = rng.choice(free, o.low_call_samples, replace=False)
    for s in low:
        dosage[rng.random(len(variants)) < 0.12, s] = -1
    if o.layout == "sample_split":
        # the second half's files lack the first contig's high-missing variants: merged by
        # variant, those calls are missing (bcftools merge writes ./.)
        dosage[np.ix_(_split_dropped_rows(o, variants), np.arange(n // 2, n))] = -1
    reported = sex.copy()
    mism = []
    if o.chrx != "none" and o.sex_mismatch:
        cand = [i for i in free if sex[i] == "F" and i not in set(low)]
        mism = list(rng.choice(cand, o.sex_mismatch, replace=False))
        reported[mism] = "M"

    # traits
    def std(r):
        g = dosage[r].astype(float)
        g[g < 0] = np.nan
        return np.nan_to_num((g - np.nanmean(g)) / np.nanstd(g))
    ok = variants.index[(variants["kind"] == "ok") & (variants["contig"] == o.contigs[0])]
    ok2 = variants.index[(variants["kind"] == "ok") & (variants["contig"] == o.contigs[min(1, len(o.contigs) - 1)])]
    c1, c2, c3 = int(ok[len(ok) // 4]), int(ok[3 * len(ok) // 4]), int(ok2[len(ok2) // 2])
    age = np.round(rng.uniform(30, 80, n))
    is_m = (reported == "M").astype(float)
    ldl = 3 + 0.6 * std(c1) + 0.5 * std(c2) + 0.01 * (age - 55) + 0.2 * is_m + rng.normal(0, 0.35, n)
    ldl = np.clip(ldl, 0.6, 14.0)
    liab = 1.2 * std(c3) + 0.02 * (age - 55) + rng.normal(0, 1, n)
    cad = (liab > np.quantile(liab, 0.7)).astype(int)
    consent = np.where(rng.random(n) < 0.8, "yes", "no")
    fam_of = np.full(n, -1)
    for k, f in enumerate(fams):
        fam_of[list(f)] = k
    people = pd.DataFrame({"sample_id": samples, "population": pop, "sex": sex, "reported_sex": reported,
                           "age": age.astype(int), "ldl_c": np.round(ldl, 3), "cad": cad,
                           "consent_feedback": consent, "family": fam_of})
    vcfs = write_vcfs(o, out, samples, variants, dosage, male, rng)
    table = os.path.join(out, "phenotypes.csv")
    cols = ["sample_id", "sex", "age", "ldl_c", "cad"] + (["consent_feedback"] if o.consent_column else [])
    people.assign(sex=people["reported_sex"])[cols].to_csv(table, index=False)
    fhir_dir = devices = None
    if o.fhir or o.devices:
        fhir_dir, devices = write_clinical(o, out, people)
    ids = np.array(samples)
    return Cohort(options=o, dir=out, vcfs=vcfs, phenotypes=table, fhir_dir=fhir_dir, devices=devices,
                  samples=samples, variants=variants, dosage=dosage, people=people, low_call=[str(x) for x in ids[low]],
                  sex_mismatch=[str(x) for x in ids[mism]], families=[tuple(str(x) for x in ids[list(f)]) for f in fams],
                  causal={"ldl_c": [tuple(variants.loc[c, ["contig", "pos"]]) for c in (c1, c2)],
                          "cad": [tuple(variants.loc[c3, ["contig", "pos"]])]})


def _gt_strings(d: np.ndarray, male: np.ndarray, x: bool, chrx: str, rng) -> np.ndarray:
    """GT text per call; phased diploid calls shown unphased ('/') with the het order drawn."""
    out = np.empty(d.shape, dtype=object)
    out[d == 0], out[d == 2], out[d == -1] = "0/0", "1/1", "./."
    het = d == 1
    out[het] = np.where(rng.random(het.sum()) < 0.5, "0/1", "1/0")
    if x and chrx == "haploid":
        m = np.broadcast_to(male, d.shape)
        out[m & (d == 0)], out[m & (d == 1)], out[m & (d == -1)] = "0", "1", "."
    elif x and chrx == "diploid":
        m = np.broadcast_to(male, d.shape)
        out[m & (d == 1)] = "1/1"                 # a male's one X written as a homozygous call
    return out


def _header(o: CohortOptions, contigs: list, names: dict, variants: pd.DataFrame, samples: list) -> list:
    lines = ["##fileformat=VCFv4.2"]
    if o.build == "GRCh37":
        # PLINK 1.9 --recode vcf style: length = largest POS + 1
        lines.append("##source=PLINKv1.90")
        for c in contigs:
            lines.append(f"##contig=<ID={names[c]},length={int(variants.loc[variants['contig'] == c, 'pos'].max()) + 1}>")
        lines.append('##INFO=<ID=PR,Number=0,Type=Flag,Description="Provisional reference allele, may not be based on real reference genome">')
    else:
        for c in contigs:
            lines.append(f"##contig=<ID={names[c]},length={GRCH38_LENGTHS[c]},assembly=GRCh38>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    return lines


def _write_vcf(path: str, header: list, body: list) -> str:
    import pysam
    text = path[:-3]
    with open(text, "w") as fh:
        fh.write("\n".join(header) + "\n")
        fh.writelines(body)
    pysam.tabix_compress(text, path, force=True)
    os.remove(text)
    pysam.tabix_index(path, preset="vcf", force=True)
    return path


def _records(o, variants, dosage, male, rows, cols, names, rng) -> list:
    info = "PR" if o.build == "GRCh37" else "."
    out = []
    for r in rows:
        v = variants.iloc[r]
        gts = _gt_strings(dosage[r, cols][None, :], male[cols][None, :], v["contig"] == "X", o.chrx, rng)[0]
        out.append("\t".join([names[v["contig"]], str(v["pos"]), ".", v["ref"], v["alt"], ".", "PASS", info,
                              "GT", *gts]) + "\n")
    return out


def _split_dropped_rows(o: CohortOptions, variants: pd.DataFrame) -> np.ndarray:
    """sample_split: the variant rows the second half's files lack (the first contig's
    high-missing variants, which fail the call-rate filter either way)."""
    return np.flatnonzero((variants["contig"] == o.contigs[0]).to_numpy()
                          & (variants["kind"] == "high_missing").to_numpy())


def write_vcfs(o: CohortOptions, out: str, samples: list, variants: pd.DataFrame, dosage: np.ndarray,
               male: np.ndarray, rng) -> list:
    """The VCFs of ``o.layout``; returns their paths in config order."""
    gdir = os.path.join(out, "genotypes")
    os.makedirs(gdir, exist_ok=True)
    contigs = list(dict.fromkeys(variants["contig"]))
    names = {c: contig_name(c, o.build) for c in contigs}
    all_cols = np.arange(len(samples))
    rows_of = {c: np.flatnonzero(variants["contig"].to_numpy() == c) for c in contigs}
    paths = []

    def emit(name, cs, rows, cols, nm=names):
        hdr = _header(o, cs, nm, variants, [samples[i] for i in cols])
        paths.append(_write_vcf(os.path.join(gdir, name), hdr, _records(o, variants, dosage, male, rows, cols, nm, rng)))

    if o.layout == "one_file":
        emit("all.vcf.gz", contigs, np.concatenate([rows_of[c] for c in contigs]), all_cols)
    elif o.layout == "per_chromosome":
        for c in contigs:
            emit(f"{names[c]}.vcf.gz", [c], rows_of[c], all_cols)
    elif o.layout == "sample_split":
        half = len(samples) // 2
        dropped = _split_dropped_rows(o, variants)
        for c in contigs:
            emit(f"{names[c]}.a.vcf.gz", [c], rows_of[c], all_cols[:half])
            emit(f"{names[c]}.b.vcf.gz", [c], np.setdiff1d(rows_of[c], dropped), all_cols[half:])
    elif o.layout == "reordered":
        perm = np.random.default_rng(o.seed + 1).permutation(len(samples))
        for k, c in enumerate(contigs):
            emit(f"{names[c]}.vcf.gz", [c], rows_of[c], all_cols if k == 0 else perm)
    elif o.layout == "names_differ":
        first = contigs[0]
        r = rows_of[first]
        half = len(r) // 2
        bare = dict(names, **{first: first})                 # "20" in this file
        prefixed = dict(names, **{first: "chr" + first})     # "chr20" in that one
        emit(f"{first}.part1.vcf.gz", [first], r[:half + 1], all_cols, bare)   # r[half] in both files
        emit(f"chr{first}.part2.vcf.gz", [first], r[half:], all_cols, prefixed)
        for c in contigs[1:]:
            emit(f"{names[c]}.vcf.gz", [c], rows_of[c], all_cols)
    else:
        raise ValueError(f"unknown layout {o.layout!r}")
    return paths


def write_clinical(o: CohortOptions, out: str, people: pd.DataFrame):
    """FHIR NDJSON + Bundles and/or device readings from ``phenotypes.simulate_clinical``."""
    from phenotypes.simulate_clinical import bundle_text, bundles, ndjson_lines, ndjson_text, simulate_clinical
    ext = simulate_clinical(people.assign(sex=people["reported_sex"])[
        ["sample_id", "sex", "age", "ldl_c", "cad", "consent_feedback"]], o.seed)
    fhir_dir = devices = None
    if o.fhir:
        fhir_dir = os.path.join(out, "clinical", "fhir")
        os.makedirs(fhir_dir, exist_ok=True)
        for rtype, lines in ndjson_lines(ext).items():
            with open(os.path.join(fhir_dir, f"{rtype}.ndjson"), "w") as fh:
                fh.write(ndjson_text(lines))
        for i, b in enumerate(bundles(ext)):
            with open(os.path.join(fhir_dir, f"bundle_{i:03d}.json"), "w") as fh:
                fh.write(bundle_text(b))
    if o.devices:
        devices = os.path.join(out, "clinical", "devices.csv")
        os.makedirs(os.path.dirname(devices), exist_ok=True)
        ext.devices.to_csv(devices, index=False)
    with open(os.path.join(out, "clinical_dirty.json"), "w") as fh:
        json.dump(ext.dirty.to_dict("records"), fh)
    return fhir_dir, devices


def options_from(d: dict) -> CohortOptions:
    """CohortOptions from a scenario.yaml ``cohort:`` mapping (lists become tuples)."""
    known = {f.name for f in dataclasses.fields(CohortOptions)}
    bad = set(d) - known
    if bad:
        raise ValueError(f"unknown cohort options {sorted(bad)}")
    return CohortOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
