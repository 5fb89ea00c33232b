"""Deterministic example-cohort simulator (msprime coalescent + simple phenotype model).

Library only: no file paths, no file I/O, no config reads. ``jobs.simulate`` writes the files.

Model
-----
* Demography: ``n_populations`` populations (``POP0`` .. ``POPk``) split from one ancestral
  population ``ANC`` (Ne ``ne_ancestral``) ``split_generations`` generations ago.  POP0 has Ne
  ``ne_populations[0]`` (10,000), the others ``ne_populations[1]`` (5,000).  Samples are split
  70% POP0 and the remaining 30% evenly over the other populations.  With the defaults
  (split 800 generations ago) the Hudson Fst between POP0 and POP1 is ~0.06 and PC1 separates
  them completely.  (Older splits give Fst > 0.1 with a Ne=5,000 daughter population.)
  Because the cohort mixes two populations, a cohort-wide HWE test flags ~1% of variants
  (Wahlund effect) on top of the injected violations; causal variants are chosen among loci
  that pass it (approximate HWE p > 1e-4 on the true genotypes).
  Every chromosome (also X) is simulated as a diploid autosome.
* Each chromosome is an independent ``msprime.sim_ancestry`` (diploid, recombination 1e-8) +
  ``sim_mutations`` (JC69, 1.2e-8) run with ``discrete_genome=True``.  REF is the ancestral
  base; ALT holds the derived bases seen in the samples (JC69 gives a few multi-allelic sites,
  which are kept).  VCF ``POS = offset_bp + tskit position + 1`` (1-based, unique, sorted).
* Sample ``j`` (``sample_ids[j]``) is a random permutation of the simulated individuals, so
  populations are interleaved in the sample order.
* Causal variants: ``n_causal`` biallelic variants with cohort MAF >= ``causal_min_maf``
  (0.01 margin preferred), spread round-robin over the chromosomes, at least
  ``min_causal_spacing_bp`` apart (relaxed by halving if the sequence is too short).
  Both traits use the SAME loci.  Per-locus shares of genetic variance follow a heavy-tailed
  profile: five "major" loci decaying by 0.85 per rank, then the minor loci by 0.7 per rank,
  times lognormal jitter (sd 0.10), randomly assigned to loci with random signs.  With
  n_causal=12 and h2=0.4 the five major loci each explain ~4-8% of ldl_c variance (GWAS
  chi2 ~50-100 in 1,200 people), the minor ones ~0.5-3%.
  The cad (liability) standardized effects are correlated with the ldl_c ones
  (``rho = 0.6``: ``z_cad = rho*z_ldl + sqrt(1-rho^2)*z_independent``).  The genetic value of
  each trait is then scaled so that its variance is exactly h2 x total variance.
  ``beta`` in the truth table is per copy of the ALT (= effect) allele, on the ldl_c scale
  (mmol/L) or the liability scale (total liability variance 1) for cad;
  ``variance_explained`` is var(beta * dosage) / var(trait) (realised, in the cohort).
* ldl_c = 3.3 + genetic + 0.015*(age-55) + 0.10*male + 0.20*pop + noise, total sd 0.9;
  the noise is orthogonal to the genetic value and covariates, so var(genetic)/var(ldl_c)
  is h2_quant up to the small genetic/population covariance.  Values are clipped to >= 0.6.
* cad liability = genetic + 0.03*(age-55) + 0.40*male + 0.15*pop + noise (variance 1);
  the top ``prevalence`` share of liabilities are cases.
* Injected genotype problems (never on causal variants): random missing calls
  (``missing_rate``), ``n_bad_samples`` samples with ~15% missing calls, ``n_bad_variants``
  common variants with ~20% missing calls, ``n_hwe_violations`` common biallelic variants with
  every heterozygote turned into a random homozygote.  A missing call is ``-1`` in both
  haplotypes (``./.``).  ``SimulatedCohort.qc_truth`` lists the bad samples and variants.
* Phenotype table (all strings, '' = missing): one row per genotyped sample in sample order,
  ~2% empty ldl_c and ~1% empty cad (allowed).  Dirty rows (``n_dirty_rows``): extra rows with
  unknown ids (``XX`` prefix), rows with a non-numeric age ("forty"), an out-of-range age
  (250 / -4) or ldl_c (95.0 / -1.5), and 1-2 extra rows duplicating a genotyped sample's id
  with conflicting values.  ``dirty_rows`` lists every row to quarantine (0-based row index
  in the table, i.e. CSV line = row + 2); for a duplicated id BOTH rows are listed.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import msprime
import numpy as np
import pandas as pd

GRCH38_LENGTHS: dict[str, int] = {
    "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
    "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
    "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
    "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
    "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415, "M": 16569,
}
_HEADER_CONTIGS = [str(i) for i in range(1, 23)] + ["X"]

PHENOTYPE_COLUMNS = ["sample_id", "sex", "age", "ldl_c", "cad", "consent_feedback"]
TRUTH_TRAITS = ("ldl_c", "cad")

# phenotype model constants
LDL_MEAN, LDL_SD = 3.3, 0.9
LDL_AGE, LDL_MALE, LDL_POP = 0.015, 0.10, 0.20
CAD_AGE, CAD_MALE, CAD_POP = 0.03, 0.40, 0.15
LDL_MIN_VALUE = 0.6
N_MAJOR_LOCI, MAJOR_DECAY, MINOR_DECAY, EFFECT_JITTER_SD, EFFECT_RHO = 5, 0.85, 0.7, 0.10, 0.6
AGE_MIN, AGE_MAX = 40, 70
BAD_SAMPLE_MISSING, BAD_VARIANT_MISSING = 0.15, 0.20
LDL_MISSING_SHARE, CAD_MISSING_SHARE, CONSENT_YES_SHARE = 0.02, 0.01, 0.90

# random-stream identifiers (SeedSequence spawn keys)
_S_ANCESTRY, _S_MUTATION, _S_SAMPLES, _S_CAUSAL, _S_PHENO, _S_INJECT, _S_DIRTY = range(1, 8)


@dataclass(frozen=True)
class CohortSpec:
    """Everything that determines a simulated cohort; the same spec gives identical output.

    ``None`` counts are derived: n_bad_samples ~0.5% of samples (>= 1 when n_samples >= 100),
    n_bad_variants ~0.3% and n_hwe_violations ~0.1% of all variants (>= 1 each),
    n_dirty_rows ~1% of samples (>= 6).  Variant counts are totals over all chromosomes.
    """

    n_samples: int = 2000
    n_populations: int = 2
    chromosomes: tuple[str, ...] = ("1", "2")
    sequence_length_bp: int = 4_000_000
    contig_prefix: str = "chr"
    offset_bp: int = 1_000_000
    seed: int = 42
    n_causal: int = 12
    h2_quant: float = 0.4
    h2_liability: float = 0.5
    prevalence: float = 0.15
    missing_rate: float = 0.002
    n_bad_samples: int | None = None
    n_bad_variants: int | None = None
    n_hwe_violations: int | None = None
    n_dirty_rows: int | None = None
    sample_prefix: str = "GL"
    # demography / genetics
    ne_ancestral: int = 10_000
    ne_populations: tuple[int, int] = (10_000, 5_000)
    split_generations: int = 800
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.2e-8
    causal_min_maf: float = 0.05
    min_causal_spacing_bp: int = 500_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "chromosomes", tuple(str(c) for c in self.chromosomes))
        object.__setattr__(self, "ne_populations", tuple(int(n) for n in self.ne_populations))
        if self.n_samples < 10:
            raise ValueError("n_samples must be at least 10")
        if self.n_populations < 1:
            raise ValueError("n_populations must be at least 1")
        if self.n_samples < 2 * self.n_populations:
            raise ValueError("need at least 2 samples per population")
        if not self.chromosomes:
            raise ValueError("chromosomes must not be empty")
        if len(set(self.chromosomes)) != len(self.chromosomes):
            raise ValueError("chromosomes must be unique")
        if self.sequence_length_bp < 1000:
            raise ValueError("sequence_length_bp must be at least 1000")
        if self.offset_bp < 0:
            raise ValueError("offset_bp must be >= 0")
        for c in self.chromosomes:
            if c not in GRCH38_LENGTHS:
                raise ValueError(f"unknown chromosome {c!r} (expected 1-22, X, Y or M)")
            if self.offset_bp + self.sequence_length_bp > GRCH38_LENGTHS[c]:
                raise ValueError(f"offset_bp + sequence_length_bp exceeds the GRCh38 length of {c}")
        for name in ("h2_quant", "h2_liability"):
            if not 0.0 < getattr(self, name) < 0.95:
                raise ValueError(f"{name} must be in (0, 0.95)")
        if not 0.0 < self.prevalence < 1.0:
            raise ValueError("prevalence must be in (0, 1)")
        if not 0.0 <= self.missing_rate < 0.5:
            raise ValueError("missing_rate must be in [0, 0.5)")
        if self.n_causal < 1:
            raise ValueError("n_causal must be at least 1")
        for name in ("n_bad_samples", "n_bad_variants", "n_hwe_violations", "n_dirty_rows"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.n_bad_samples is not None and self.n_bad_samples > self.n_samples // 2:
            raise ValueError("n_bad_samples must be at most half of n_samples")
        if len(self.ne_populations) != 2 or min(self.ne_populations) < 1:
            raise ValueError("ne_populations must be two positive sizes (POP0, others)")
        if "\t" in self.sample_prefix or "," in self.sample_prefix or " " in self.sample_prefix:
            raise ValueError("sample_prefix must not contain tabs, commas or spaces")

    # derived counts ---------------------------------------------------------------
    def contig(self, chromosome: str) -> str:
        return f"{self.contig_prefix}{chromosome}"

    @property
    def contigs(self) -> list[str]:
        return [self.contig(c) for c in self.chromosomes]

    def resolved_n_bad_samples(self) -> int:
        if self.n_bad_samples is not None:
            return self.n_bad_samples
        n = int(round(0.005 * self.n_samples))
        return max(n, 1) if self.n_samples >= 100 else n

    def resolved_n_bad_variants(self, n_variants: int) -> int:
        if self.n_bad_variants is not None:
            return self.n_bad_variants
        return max(1, int(round(0.003 * n_variants)))

    def resolved_n_hwe_violations(self, n_variants: int) -> int:
        if self.n_hwe_violations is not None:
            return self.n_hwe_violations
        return max(1, int(round(0.001 * n_variants)))

    def resolved_n_dirty_rows(self) -> int:
        if self.n_dirty_rows is not None:
            return self.n_dirty_rows
        return max(6, int(round(0.01 * self.n_samples)))


@dataclass
class SimulatedChromosome:
    chromosome: str            # "1"
    contig: str                # "chr1"
    positions: np.ndarray      # int64, 1-based VCF positions, sorted, unique
    ref: list[str]
    alt: list[tuple[str, ...]]  # one or more ALT bases per site
    genotypes: np.ndarray      # int8 (variants, samples, 2): allele index, -1 = missing

    @property
    def n_variants(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_multiallelic(self) -> int:
        return sum(1 for a in self.alt if len(a) > 1)


@dataclass
class SimulatedCohort:
    spec: CohortSpec
    sample_ids: list[str]
    populations: np.ndarray          # int, population index per sample
    population_names: list[str]
    chromosomes: list[SimulatedChromosome]
    phenotypes: pd.DataFrame         # PHENOTYPE_COLUMNS, all strings, '' = missing
    truth: pd.DataFrame
    sample_truth: pd.DataFrame
    dirty_rows: pd.DataFrame         # row, sample_id, reason
    qc_truth: pd.DataFrame = field(default_factory=pd.DataFrame)  # kind, sample_id, chromosome, position

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def n_variants(self) -> int:
        return sum(c.n_variants for c in self.chromosomes)

    @property
    def contigs(self) -> list[str]:
        return [c.contig for c in self.chromosomes]


# --------------------------------------------------------------------------------------
# random streams


def _seed_seq(spec: CohortSpec, stream: int, *extra: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=int(spec.seed) & 0xFFFFFFFFFFFFFFFF, spawn_key=(stream, *extra))


def _rng(spec: CohortSpec, stream: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng(_seed_seq(spec, stream, *extra))


def _msprime_seed(spec: CohortSpec, stream: int, chromosome: str) -> int:
    state = _seed_seq(spec, stream, zlib.crc32(chromosome.encode())).generate_state(1, dtype=np.uint32)
    return int(state[0] % (2**32 - 2)) + 1


# --------------------------------------------------------------------------------------
# genotypes


def population_names(spec: CohortSpec) -> list[str]:
    return [f"POP{i}" for i in range(spec.n_populations)]


def population_sizes(spec: CohortSpec) -> list[int]:
    """Samples per population: 70% POP0, the rest evenly over the others."""
    k = spec.n_populations
    if k == 1:
        return [spec.n_samples]
    n0 = int(round(0.7 * spec.n_samples))
    n0 = min(max(n0, 2), spec.n_samples - 2 * (k - 1))
    rest = spec.n_samples - n0
    sizes = [n0] + [rest // (k - 1)] * (k - 1)
    for i in range(rest - sum(sizes[1:])):
        sizes[1 + i] += 1
    return sizes


def build_demography(spec: CohortSpec) -> msprime.Demography:
    names = population_names(spec)
    dem = msprime.Demography()
    if spec.n_populations == 1:
        dem.add_population(name=names[0], initial_size=spec.ne_ancestral)
        return dem
    for i, name in enumerate(names):
        dem.add_population(name=name, initial_size=spec.ne_populations[0 if i == 0 else 1])
    dem.add_population(name="ANC", initial_size=spec.ne_ancestral)
    dem.add_population_split(time=spec.split_generations, derived=names, ancestral="ANC")
    return dem


def _simulate_chromosome(spec: CohortSpec, chromosome: str, perm: np.ndarray):
    """Returns (positions, ref, alt, genotypes (V, N, 2) int8, population index per individual)."""
    names = population_names(spec)
    samples = {n: s for n, s in zip(names, population_sizes(spec))}
    ts = msprime.sim_ancestry(
        samples=samples,
        demography=build_demography(spec),
        sequence_length=spec.sequence_length_bp,
        recombination_rate=spec.recombination_rate,
        ploidy=2,
        discrete_genome=True,
        random_seed=_msprime_seed(spec, _S_ANCESTRY, chromosome),
    )
    ts = msprime.sim_mutations(
        ts,
        rate=spec.mutation_rate,
        model=msprime.JC69(),
        discrete_genome=True,
        random_seed=_msprime_seed(spec, _S_MUTATION, chromosome),
    )
    n_ind = ts.num_individuals
    ind_nodes = np.array([ts.individual(i).nodes for i in range(n_ind)], dtype=np.int64)
    node_pop = ts.tables.nodes.population
    ind_pop = node_pop[ind_nodes[:, 0]].astype(np.int64)
    # node index for column (sample j, haplotype h); sample nodes are 0..2N-1 in tskit order
    sample_nodes = ts.samples()
    node_to_col = np.full(ts.num_nodes, -1, dtype=np.int64)
    node_to_col[sample_nodes] = np.arange(sample_nodes.shape[0])
    cols = node_to_col[ind_nodes[perm]]  # (N, 2)

    n_sites = ts.num_sites
    raw = np.empty((n_sites, sample_nodes.shape[0]), dtype=np.int8)
    positions = np.empty(n_sites, dtype=np.int64)
    ref: list[str] = []
    alt: list[tuple[str, ...]] = []
    keep = np.ones(n_sites, dtype=bool)
    for var in ts.variants():
        i = var.site.id
        g = var.genotypes
        alleles = var.alleles
        counts = np.bincount(g, minlength=len(alleles))
        kept_alts = [a for a in range(1, len(alleles)) if counts[a] > 0]
        positions[i] = int(var.site.position)
        if not kept_alts:
            keep[i] = False
            ref.append(alleles[0])
            alt.append(())
            continue
        if len(kept_alts) == len(alleles) - 1:
            raw[i] = g
        else:
            remap = np.zeros(len(alleles), dtype=np.int8)
            for new, old in enumerate(kept_alts, start=1):
                remap[old] = new
            raw[i] = remap[g]
        ref.append(alleles[0])
        alt.append(tuple(alleles[a] for a in kept_alts))
    if not keep.all():
        idx = np.flatnonzero(keep)
        raw = raw[idx]
        positions = positions[idx]
        ref = [ref[i] for i in idx]
        alt = [alt[i] for i in idx]
    genotypes = raw[:, cols]  # (V, N, 2)
    positions = positions + spec.offset_bp + 1
    return positions, ref, alt, np.ascontiguousarray(genotypes), ind_pop


def _alt_dosage(genotypes: np.ndarray) -> np.ndarray:
    """Count of non-reference alleles per (variant, sample) as float64 (use on few variants)."""
    return (genotypes > 0).sum(axis=2, dtype=np.int16).astype(np.float64)


def _maf(genotypes: np.ndarray) -> np.ndarray:
    """Non-reference allele frequency folded to <= 0.5, per variant (true genotypes)."""
    out = np.empty(genotypes.shape[0], dtype=np.float64)
    for s in range(0, genotypes.shape[0], 4096):
        blk = genotypes[s : s + 4096]
        out[s : s + 4096] = (blk > 0).sum(axis=(1, 2), dtype=np.int64) / (blk.shape[1] * 2.0)
    return np.minimum(out, 1.0 - out)


# --------------------------------------------------------------------------------------
# causal variants and traits


def _split_counts(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder apportionment of ``total`` by ``weights``."""
    w = np.asarray(weights, dtype=float)
    if total <= 0 or w.sum() <= 0:
        return [0] * len(weights)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    for i in order[: total - base.sum()]:
        base[i] += 1
    return [int(b) for b in base]


def _het_deficit_p(genotypes: np.ndarray) -> np.ndarray:
    """Approximate (chi-square, 1 df) HWE p-value per biallelic variant: n * F^2."""
    d = (genotypes > 0).sum(axis=2)
    n = d.shape[1]
    p = d.sum(axis=1) / (2.0 * n)
    expected = 2.0 * p * (1.0 - p) * n
    f = 1.0 - (d == 1).sum(axis=1) / np.maximum(expected, 1e-12)
    chi2 = n * f**2
    return np.array([math.erfc(math.sqrt(x / 2.0)) for x in chi2])


def _greedy_spaced(cands: np.ndarray, positions: np.ndarray, want: int, spacing: int) -> list[int]:
    chosen: list[int] = []
    for c in cands:
        if len(chosen) >= want:
            break
        if all(abs(int(positions[c]) - int(positions[o])) >= spacing for o in chosen):
            chosen.append(int(c))
    return chosen


def _select_causal(spec: CohortSpec, chroms: list[SimulatedChromosome], mafs: list[np.ndarray]):
    rng = _rng(spec, _S_CAUSAL)
    cand_lists = []
    for ch, maf in zip(chroms, mafs):
        biallelic = np.array([len(a) == 1 for a in ch.alt], dtype=bool)
        good = biallelic & (maf >= spec.causal_min_maf + 0.01)
        if good.sum() < spec.n_causal:
            good = biallelic & (maf >= spec.causal_min_maf)
        cands = np.flatnonzero(good)
        # avoid loci whose pooled-cohort HWE test fails because of population structure
        # (Wahlund effect), so a cohort-wide HWE filter does not remove a causal variant
        hwe_ok = cands[_het_deficit_p(ch.genotypes[cands]) > 1e-4]
        if hwe_ok.size >= max(1, cands.size // 2):
            cands = hwe_ok
        cand_lists.append(rng.permutation(cands))
    total_cands = sum(len(c) for c in cand_lists)
    if total_cands < spec.n_causal:
        raise ValueError(
            f"only {total_cands} biallelic variants with MAF >= {spec.causal_min_maf}; "
            f"cannot place {spec.n_causal} causal variants (increase sequence_length_bp or n_samples)"
        )
    n_chrom = len(chroms)
    targets = [spec.n_causal // n_chrom + (1 if i < spec.n_causal % n_chrom else 0) for i in range(n_chrom)]
    spacing = max(int(spec.min_causal_spacing_bp), 1)
    while True:
        chosen = [_greedy_spaced(c, ch.positions, len(c), spacing) for c, ch in zip(cand_lists, chroms)]
        capacity = [len(c) for c in chosen]
        if sum(capacity) >= spec.n_causal:
            break
        if spacing == 1:
            break
        spacing = max(1, spacing // 2)
    # move targets from chromosomes lacking room to those with spare capacity
    targets = [min(t, c) for t, c in zip(targets, capacity)]
    short = spec.n_causal - sum(targets)
    while short > 0:
        for i in range(n_chrom):
            if short > 0 and targets[i] < capacity[i]:
                targets[i] += 1
                short -= 1
    return [sorted(c[:t]) for c, t in zip(chosen, targets)], spacing


def _effect_profile(rng: np.random.Generator, k: int) -> np.ndarray:
    """Signed standardized effects whose squares sum to 1: heavy-ish geometric profile."""
    ranks = np.arange(k)
    w = np.where(ranks < N_MAJOR_LOCI, MAJOR_DECAY**ranks,
                 MAJOR_DECAY ** (N_MAJOR_LOCI - 1) * MINOR_DECAY ** (ranks - N_MAJOR_LOCI + 1))
    w = w * np.exp(EFFECT_JITTER_SD * rng.standard_normal(k))
    w = w[rng.permutation(k)]
    signs = rng.choice(np.array([-1.0, 1.0]), size=k)
    z = signs * np.sqrt(w)
    return z / np.sqrt((z**2).sum())


def _orthogonal_noise(rng: np.random.Generator, design: np.ndarray, variance: float) -> np.ndarray:
    n = design.shape[0]
    e = rng.standard_normal(n)
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), design]))
    e = e - q @ (q.T @ e)
    return e * math.sqrt(max(variance, 0.0) / e.var())


# --------------------------------------------------------------------------------------
# injected problems


def _inject_genotype_problems(spec: CohortSpec, chroms, mafs, causal_idx, sample_ids):
    rng = _rng(spec, _S_INJECT)
    n = len(sample_ids)
    n_var = [c.n_variants for c in chroms]
    total_v = sum(n_var)
    n_bad_v = _split_counts(spec.resolved_n_bad_variants(total_v), n_var)
    n_hwe = _split_counts(spec.resolved_n_hwe_violations(total_v), n_var)
    rows = []

    bad_samples = np.sort(rng.choice(n, size=spec.resolved_n_bad_samples(), replace=False))
    for s in bad_samples:
        rows.append(("bad_sample", sample_ids[s], "", pd.NA))

    for ci, (ch, maf) in enumerate(zip(chroms, mafs)):
        g = ch.genotypes
        excluded = np.zeros(ch.n_variants, dtype=bool)
        excluded[causal_idx[ci]] = True
        biallelic = np.array([len(a) == 1 for a in ch.alt], dtype=bool)

        def pick(count: int, tiers: list[np.ndarray]) -> np.ndarray:
            pool = np.array([], dtype=np.int64)
            for tier in tiers:
                pool = np.flatnonzero(tier & ~excluded)
                if pool.size >= count:
                    break
            count = min(count, pool.size)
            return np.sort(rng.choice(pool, size=count, replace=False)) if count else pool[:0]

        # HWE violations: every heterozygote becomes a random homozygote
        het = (g[:, :, 0] != g[:, :, 1]).any(axis=1)
        hwe = pick(n_hwe[ci], [biallelic & (maf >= 0.1) & het, biallelic & (maf >= 0.05) & het, biallelic & het])
        excluded[hwe] = True
        for v in hwe:
            gv = g[v]
            is_het = gv[:, 0] != gv[:, 1]
            hom = rng.integers(0, 2, size=int(is_het.sum())).astype(np.int8)
            gv[is_het, 0] = hom
            gv[is_het, 1] = hom
            rows.append(("hwe_violation", "", ch.contig, int(ch.positions[v])))

        # bad variants: ~20% missing calls
        bad = pick(n_bad_v[ci], [maf >= 0.05, maf >= 0.01, np.ones(ch.n_variants, dtype=bool)])
        for v in bad:
            miss = rng.random(n) < BAD_VARIANT_MISSING
            g[v, miss, :] = -1
            rows.append(("bad_variant", "", ch.contig, int(ch.positions[v])))

        # bad samples: ~15% missing calls
        if bad_samples.size:
            miss = rng.random((ch.n_variants, bad_samples.size)) < BAD_SAMPLE_MISSING
            sub = g[:, bad_samples, :]
            sub[miss] = -1
            g[:, bad_samples, :] = sub

        # random missing calls
        cells = ch.n_variants * n
        k = int(rng.binomial(cells, spec.missing_rate)) if spec.missing_rate > 0 and cells else 0
        if k:
            flat = rng.integers(0, cells, size=k)
            flat_view = g.reshape(cells, 2)
            assert np.shares_memory(flat_view, g)
            flat_view[flat] = -1

    qc = pd.DataFrame(rows, columns=["kind", "sample_id", "chromosome", "position"])
    qc["position"] = qc["position"].astype("Int64")
    return qc


_NON_NUMERIC_AGES = ["forty", "fifty-five", "sixty", "forty-eight", "sixty-three"]
_BAD_AGES = ["250", "-4"]
_BAD_LDL = ["95.0", "-1.5"]


def _phenotype_table(spec, sample_ids, sex, age, ldl, cad):
    rng = _rng(spec, _S_DIRTY)
    n = len(sample_ids)
    ldl_s = np.array([f"{x:.2f}" for x in ldl], dtype=object)
    cad_s = np.array([str(int(c)) for c in cad], dtype=object)
    ldl_s[rng.random(n) < LDL_MISSING_SHARE] = ""
    cad_s[rng.random(n) < CAD_MISSING_SHARE] = ""
    consent = np.where(rng.random(n) < CONSENT_YES_SHARE, "yes", "no").astype(object)
    rows = [
        [sample_ids[i], sex[i], str(int(age[i])), ldl_s[i], cad_s[i], consent[i]] for i in range(n)
    ]
    reasons: list[str | None] = [None] * n

    k = spec.resolved_n_dirty_rows()
    n_dup = 0 if k == 0 else (1 if k < 10 else 2)
    kinds = ["unknown_sample_id", "non_numeric_age", "age_out_of_range", "ldl_c_out_of_range"]
    per_kind = {kd: 0 for kd in kinds}
    for i in range(k - n_dup):
        per_kind[kinds[i % len(kinds)]] += 1
    n_touch = per_kind["non_numeric_age"] + per_kind["age_out_of_range"] + per_kind["ldl_c_out_of_range"] + n_dup
    if n_touch > n:
        raise ValueError("n_dirty_rows too large for n_samples")
    touched = rng.choice(n, size=n_touch, replace=False)
    t = iter(touched.tolist())
    for j in range(per_kind["non_numeric_age"]):
        i = next(t)
        rows[i][2] = _NON_NUMERIC_AGES[j % len(_NON_NUMERIC_AGES)]
        reasons[i] = "non_numeric_age"
    for j in range(per_kind["age_out_of_range"]):
        i = next(t)
        rows[i][2] = _BAD_AGES[j % len(_BAD_AGES)]
        reasons[i] = "age_out_of_range"
    for j in range(per_kind["ldl_c_out_of_range"]):
        i = next(t)
        rows[i][3] = _BAD_LDL[j % len(_BAD_LDL)]
        reasons[i] = "ldl_c_out_of_range"
    extra: list[tuple[list[str], str]] = []
    for _ in range(n_dup):
        i = next(t)
        reasons[i] = "duplicate_sample_id"
        dup = list(rows[i])
        dup[2] = str(int(np.clip(int(age[i]) + rng.choice([-7, -5, 5, 7]), AGE_MIN, AGE_MAX + 5)))
        dup[3] = f"{float(np.clip(ldl[i] + rng.choice([-0.8, 0.8]), LDL_MIN_VALUE, 12.0)):.2f}"
        extra.append((dup, "duplicate_sample_id"))
    known = set(sample_ids)
    width = max(5, len(str(n)))
    for _ in range(per_kind["unknown_sample_id"]):
        while True:
            sid = f"XX{int(rng.integers(1, 10**width)):0{width}d}"
            if sid not in known:
                break
        known.add(sid)
        row = [
            sid,
            str(rng.choice(["M", "F"])),
            str(int(rng.integers(AGE_MIN, AGE_MAX + 1))),
            f"{LDL_MEAN + LDL_SD * rng.standard_normal():.2f}",
            str(int(rng.random() < spec.prevalence)),
            "yes",
        ]
        extra.append((row, "unknown_sample_id"))
    # insert extra rows at random positions (in a fixed order, so it is deterministic)
    for row, reason in extra:
        at = int(rng.integers(0, len(rows) + 1))
        rows.insert(at, row)
        reasons.insert(at, reason)
    pheno = pd.DataFrame(rows, columns=PHENOTYPE_COLUMNS, dtype=object)
    dirty_idx = [i for i, r in enumerate(reasons) if r is not None]
    dirty = pd.DataFrame(
        {
            "row": np.array(dirty_idx, dtype=np.int64),
            "sample_id": [rows[i][0] for i in dirty_idx],
            "reason": [reasons[i] for i in dirty_idx],
        }
    )
    return pheno, dirty


# --------------------------------------------------------------------------------------
# main entry point


def simulate_cohort(spec: CohortSpec, progress: Callable[[str], None] | None = None) -> SimulatedCohort:
    """Simulate genotypes, phenotypes and truth tables for ``spec`` (deterministic)."""
    say = progress or (lambda _msg: None)
    n = spec.n_samples
    width = max(5, len(str(n)))
    sample_ids = [f"{spec.sample_prefix}{i + 1:0{width}d}" for i in range(n)]
    perm = _rng(spec, _S_SAMPLES).permutation(n)

    chroms: list[SimulatedChromosome] = []
    populations = None
    for c in spec.chromosomes:
        pos, ref, alt, geno, ind_pop = _simulate_chromosome(spec, c, perm)
        if populations is None:
            populations = ind_pop[perm]
        ch = SimulatedChromosome(c, spec.contig(c), pos, ref, alt, geno)
        chroms.append(ch)
        say(f"{ch.contig}: {ch.n_variants} variants ({ch.n_multiallelic} multi-allelic)")
    assert populations is not None

    # allele frequencies on the true genotypes
    mafs = [_maf(ch.genotypes) for ch in chroms]
    causal_idx, spacing = _select_causal(spec, chroms, mafs)
    causal_loc = [(ci, int(v)) for ci in range(len(chroms)) for v in causal_idx[ci]]
    X = np.column_stack([_alt_dosage(chroms[ci].genotypes[[v]])[0] for ci, v in causal_loc])
    k = X.shape[1]
    say(f"causal variants: {k} (min spacing {spacing} bp)")

    # covariates
    prng = _rng(spec, _S_PHENO)
    male = (prng.random(n) < 0.5).astype(float)
    sex = np.where(male == 1.0, "M", "F")
    age = prng.integers(AGE_MIN, AGE_MAX + 1, size=n).astype(float)
    pop = populations.astype(float)

    # effects
    p_causal = X.mean(axis=0) / 2.0
    sd_causal = np.sqrt(2.0 * p_causal * (1.0 - p_causal))
    z_ldl = _effect_profile(prng, k)
    z_ind = _effect_profile(prng, k)
    z_cad = EFFECT_RHO * z_ldl + math.sqrt(1.0 - EFFECT_RHO**2) * z_ind

    def genetic(z: np.ndarray, target_var: float):
        beta = z / sd_causal
        g = X @ beta
        scale = math.sqrt(target_var / g.var())
        beta = beta * scale
        g = (g - g.mean()) * scale
        return beta, g

    v_ldl = LDL_SD**2
    beta_ldl, g_ldl = genetic(z_ldl, spec.h2_quant * v_ldl)
    cov_ldl = LDL_AGE * (age - 55.0) + LDL_MALE * male + LDL_POP * pop
    cov_ldl = cov_ldl - cov_ldl.mean()
    e_ldl = _orthogonal_noise(prng, np.column_stack([g_ldl, age, male, pop]),
                              max(v_ldl * (1 - spec.h2_quant) - cov_ldl.var(), 0.05 * v_ldl))
    ldl = np.maximum(LDL_MEAN + g_ldl + cov_ldl + e_ldl, LDL_MIN_VALUE)

    beta_cad, g_cad = genetic(z_cad, spec.h2_liability)
    cov_cad = CAD_AGE * (age - 55.0) + CAD_MALE * male + CAD_POP * pop
    cov_cad = cov_cad - cov_cad.mean()
    e_cad = _orthogonal_noise(prng, np.column_stack([g_cad, age, male, pop]),
                              max(1.0 - spec.h2_liability - cov_cad.var(), 0.05))
    liability = g_cad + cov_cad + e_cad
    n_cases = max(1, int(round(spec.prevalence * n)))
    order = np.argsort(-liability, kind="stable")
    cad = np.zeros(n, dtype=np.int64)
    cad[order[:n_cases]] = 1

    # truth tables
    truth_rows = []
    var_ldl, var_liab = ldl.var(), liability.var()
    for trait, beta, vtot in (("ldl_c", beta_ldl, var_ldl), ("cad", beta_cad, var_liab)):
        for j, (ci, v) in enumerate(causal_loc):
            ch = chroms[ci]
            x = X[:, j]
            row = {
                "trait": trait,
                "chromosome": ch.contig,
                "position": int(ch.positions[v]),
                "ref": ch.ref[v],
                "alt": ch.alt[v][0],
                "effect_allele": ch.alt[v][0],
                "beta": float(beta[j]),
                "eaf": float(x.mean() / 2.0),
            }
            for pi in range(spec.n_populations):
                row[f"eaf_pop{pi}"] = float(x[populations == pi].mean() / 2.0)
            row["variance_explained"] = float((beta[j] ** 2) * x.var() / vtot)
            truth_rows.append(row)
    truth = pd.DataFrame(truth_rows)
    sample_truth = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "population": populations.astype(np.int64),
            "genetic_ldl_c": g_ldl,
            "genetic_cad": g_cad,
            "liability_cad": liability,
        }
    )
    del X

    qc_truth = _inject_genotype_problems(spec, chroms, mafs, causal_idx, sample_ids)
    pheno, dirty = _phenotype_table(spec, sample_ids, sex, age, ldl, cad)
    say(
        f"phenotypes: {len(pheno)} rows, {len(dirty)} to quarantine; "
        f"injected {int((qc_truth['kind'] == 'bad_sample').sum())} bad samples, "
        f"{int((qc_truth['kind'] == 'bad_variant').sum())} bad variants, "
        f"{int((qc_truth['kind'] == 'hwe_violation').sum())} HWE violations"
    )
    return SimulatedCohort(
        spec=spec,
        sample_ids=sample_ids,
        populations=populations.astype(np.int64),
        population_names=population_names(spec),
        chromosomes=chroms,
        phenotypes=pheno,
        truth=truth,
        sample_truth=sample_truth,
        dirty_rows=dirty,
        qc_truth=qc_truth,
    )


# --------------------------------------------------------------------------------------
# VCF text


def vcf_header_lines(cohort: SimulatedCohort, chrom_index: int) -> list[str]:
    spec = cohort.spec
    ch = cohort.chromosomes[chrom_index]
    contigs = list(_HEADER_CONTIGS)
    for c in spec.chromosomes:
        if c not in contigs:
            contigs.append(c)
    lines = [
        "##fileformat=VCFv4.2\n",
        "##source=GenoLake.simulation(msprime)\n",
        "##reference=GRCh38\n",
        '##FILTER=<ID=PASS,Description="All filters passed">\n',
    ]
    lines += [f"##contig=<ID={spec.contig(c)},length={GRCH38_LENGTHS[c]}>\n" for c in contigs]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(cohort.sample_ids) + "\n")
    assert ch.contig == spec.contig(ch.chromosome)
    return lines


_CHUNK = 512


def vcf_record_chunks(cohort: SimulatedCohort, chrom_index: int, chunk: int = _CHUNK) -> Iterator[bytes]:
    """Data lines of the VCF as ASCII bytes, ``chunk`` records at a time (newline-terminated)."""
    ch = cohort.chromosomes[chrom_index]
    g_all = ch.genotypes
    n = g_all.shape[1]
    for start in range(0, ch.n_variants, chunk):
        stop = min(start + chunk, ch.n_variants)
        g = g_all[start:stop]
        a, b = g[:, :, 0], g[:, :, 1]
        miss = (a < 0) | (b < 0)
        buf = np.empty((stop - start, n, 4), dtype=np.uint8)
        buf[:, :, 0] = np.where(miss, 46, np.minimum(a, b) + 48)  # '.' or digit
        buf[:, :, 1] = 47  # '/'
        buf[:, :, 2] = np.where(miss, 46, np.maximum(a, b) + 48)
        buf[:, :, 3] = 9  # tab
        buf[:, -1, 3] = 10  # newline
        parts = []
        for i in range(stop - start):
            v = start + i
            pos = int(ch.positions[v])
            alts = ",".join(ch.alt[v])
            parts.append(
                f"{ch.contig}\t{pos}\t{ch.contig}:{pos}:{ch.ref[v]}:{alts}\t{ch.ref[v]}\t{alts}\t.\tPASS\t.\tGT\t".encode()
            )
            parts.append(buf[i].tobytes())
        yield b"".join(parts)


def vcf_lines(cohort: SimulatedCohort, chrom_index: int) -> Iterator[str]:
    """VCFv4.2 text of one chromosome, one newline-terminated line per item (header first).

    ``"".join(vcf_lines(cohort, i))`` is the complete file.  Genotypes are unphased
    (``0/1``, ``1/2``, missing ``./.``); ID is ``contig:pos:ref:alt`` (ALT comma-joined).
    """
    yield from vcf_header_lines(cohort, chrom_index)
    for block in vcf_record_chunks(cohort, chrom_index):
        text = block.decode("ascii")
        yield from text.splitlines(keepends=True)
