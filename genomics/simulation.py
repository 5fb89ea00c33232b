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
* Each autosome in ``chromosomes`` is an independent ``msprime.sim_ancestry`` (diploid,
  recombination 1e-8) + ``sim_mutations`` (JC69, 1.2e-8) run with ``discrete_genome=True``.
  REF is the ancestral base; ALT holds the derived bases seen in the cohort (JC69 gives a few
  multi-allelic sites, which are kept).  VCF ``POS = offset_bp + tskit position + 1``
  (1-based, unique, sorted).
* Sex (genetic sex) is assigned to every simulated individual before genotypes are built
  (50% male; designated parents are made male/female as needed).
* chrX (``include_x``): one more msprime run over ``x_sequence_length_bp`` placed at
  ``x_offset_bp`` (default chrX:2,000,001-5,000,000) so it spans the end of PAR1
  (GRCh38 chrX:10,001-2,781,479, ~26% of the window) and non-PAR sequence.  It is simulated
  like an autosome; inside the PARs everyone stays diploid, outside them a male keeps only
  his first haplotype (his X; the second one is the Y-linked copy in PAR1).  In the genotype
  array the missing second allele of a haploid call is ``HAPLOID`` (-2); the VCF writes such
  calls as a single allele (``0``, ``1``, ``.``).  Causal variants and injected variant
  problems stay on the autosomes.
* Related samples (``include_relatives``) REPLACE unrelated ones, so the cohort keeps
  ``n_samples`` samples and the 70/30 population split (each family lies in one population):
  - duplicates: a new sample ID with the genotypes of an existing sample, plus a discordance
    of ``duplicate_discordance`` (0.1%) of calls (half flipped, half missing; never at causal
    variants); its phenotype row copies the original's values (same person sequenced twice).
  - trios: a child of two cohort founders of the same population (one male, one female), both
    present -> two parent_offspring pairs per trio.
  - sibling pairs: two children of two simulated parents who are NOT in the cohort.
  A child's paternal haplotype is a recombinant of the father's two haplotypes (1-2
  crossovers at uniform positions, random starting haplotype), the maternal one likewise from
  the mother.  On chrX a daughter gets her father's X (haplotype 1) and a recombinant of her
  mother's; a son gets a recombinant of his mother's X and, inside PAR1, his father's
  Y-linked copy.  Sibling crossovers are redrawn (deterministically) until the expected
  kinship from the shared segments is within 0.25 +/- 0.03, as it is genome-wide in real
  siblings (a few Mb with 1-2 crossovers would otherwise vary by +/- 0.06).
  ``SimulatedCohort.relatives`` lists every true pair with its KING-convention kinship
  (duplicate 0.5, parent_offspring 0.25, sibling 0.25).  Relatives carry no injected QC
  problem (bad sample, sex-label mismatch or dirty phenotype row).
* Sample ``j`` (``sample_ids[j]``) is a random permutation of the cohort's people, so
  populations and families are interleaved in the sample order.
* Causal variants: ``n_causal`` biallelic variants with cohort MAF >= ``causal_min_maf``
  (0.01 margin preferred), spread round-robin over the autosomes, at least
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
  Traits are modelled on the distinct people (duplicates excluded) and copied to duplicates.
* ldl_c = 3.3 + genetic + 0.015*(age-55) + 0.10*male + 0.20*pop + noise, total sd 0.9;
  the noise is orthogonal to the genetic value and covariates, so var(genetic)/var(ldl_c)
  is h2_quant up to the small genetic/population covariance.  Values are clipped to >= 0.6.
  ``male`` is the genetic sex.
* cad liability = genetic + 0.03*(age-55) + 0.40*male + 0.15*pop + noise (variance 1);
  the top ``prevalence`` share of liabilities are cases.
* Injected genotype problems (never on causal variants): random missing calls
  (``missing_rate``, every contig), ``n_bad_samples`` unrelated samples with ~15% missing
  calls (every contig), ``n_bad_variants`` common autosomal variants with ~20% missing calls,
  ``n_hwe_violations`` common biallelic autosomal variants with every heterozygote turned into
  a random homozygote.  A missing call is ``-1`` in both haplotypes (``./.``), or ``-1`` then
  ``HAPLOID`` for a haploid call (``.``).  ``n_sex_mismatches`` unrelated samples that are not
  bad samples report the opposite sex in the phenotype table.  ``SimulatedCohort.qc_truth``
  lists the bad samples, bad variants, HWE violations and sex mismatches.
* Phenotype table (all strings, '' = missing): one row per genotyped sample in sample order,
  ~2% empty ldl_c and ~1% empty cad (allowed).  Dirty rows (``n_dirty_rows``): extra rows with
  unknown ids (``XX`` prefix), rows with a non-numeric age ("forty"), an out-of-range age
  (250 / -4) or ldl_c (95.0 / -1.5), and 1-2 extra rows duplicating a genotyped sample's id
  with conflicting values.  ``dirty_rows`` lists every row to quarantine (0-based row index
  in the table, i.e. CSV line = row + 2); for a duplicated id BOTH rows are listed.
  Dirty rows never touch relatives or sex-mismatch samples.
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
# GRCh38 pseudo-autosomal regions of chrX (1-based, inclusive)
GRCH38_PAR1 = (10_001, 2_781_479)
GRCH38_PAR2 = (155_701_383, 156_030_895)
# second-allele value of a haploid call (male chrX outside the PARs)
HAPLOID = -2

PHENOTYPE_COLUMNS = ["sample_id", "sex", "age", "ldl_c", "cad", "consent_feedback"]
TRUTH_TRAITS = ("ldl_c", "cad")
QC_TRUTH_COLUMNS = ["kind", "sample_id", "chromosome", "position", "reported_sex", "genetic_sex"]
RELATIVES_COLUMNS = ["id1", "id2", "relationship", "expected_kinship"]
KINSHIP = {"duplicate": 0.5, "parent_offspring": 0.25, "sibling": 0.25}

# phenotype model constants
LDL_MEAN, LDL_SD = 3.3, 0.9
LDL_AGE, LDL_MALE, LDL_POP = 0.015, 0.10, 0.20
CAD_AGE, CAD_MALE, CAD_POP = 0.03, 0.40, 0.15
LDL_MIN_VALUE = 0.6
N_MAJOR_LOCI, MAJOR_DECAY, MINOR_DECAY, EFFECT_JITTER_SD, EFFECT_RHO = 5, 0.85, 0.7, 0.10, 0.6
AGE_MIN, AGE_MAX = 40, 70
BAD_SAMPLE_MISSING, BAD_VARIANT_MISSING = 0.15, 0.20
LDL_MISSING_SHARE, CAD_MISSING_SHARE, CONSENT_YES_SHARE = 0.02, 0.01, 0.90
# relatives: defaults at >= 1,000 samples (scaled down below, at least 1 each from 200)
DEFAULT_DUPLICATE_PAIRS, DEFAULT_TRIOS, DEFAULT_SIBLING_PAIRS = 2, 2, 3
SIBLING_KINSHIP_TOLERANCE = 0.03

# random-stream identifiers (SeedSequence spawn keys)
_S_ANCESTRY, _S_MUTATION, _S_SAMPLES, _S_CAUSAL, _S_PHENO, _S_INJECT, _S_DIRTY = range(1, 8)
_S_FAMILY, _S_SEX, _S_SEX_MISMATCH = range(8, 11)


@dataclass(frozen=True)
class CohortSpec:
    """Everything that determines a simulated cohort; the same spec gives identical output.

    ``None`` counts are derived: n_bad_samples ~0.5% of samples (>= 1 when n_samples >= 100),
    n_bad_variants ~0.3% and n_hwe_violations ~0.1% of the autosomal variants (>= 1 each),
    n_dirty_rows ~1% of samples (>= 6), n_sex_mismatches ~0.5% of samples (>= 2 when
    n_samples >= 200), relatives 2 duplicate pairs / 2 trios / 3 sibling pairs from 1,000
    samples, scaled down linearly below (>= 1 each when n_samples >= 200).
    ``chromosomes`` are the autosomes; chrX is added by ``include_x``.
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
    # chrX (spanning the end of PAR1) and sex
    include_x: bool = True
    x_sequence_length_bp: int = 3_000_000
    x_offset_bp: int = 2_000_000
    n_sex_mismatches: int | None = None
    # related samples (replace unrelated ones; the total stays n_samples)
    include_relatives: bool = True
    n_duplicate_pairs: int | None = None
    n_trios: int | None = None
    n_sibling_pairs: int | None = None
    duplicate_discordance: float = 0.001
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
        if self.include_x:
            if "X" in self.chromosomes:
                raise ValueError("chrX is added by include_x; leave 'X' out of chromosomes (or set include_x=False)")
            if self.x_sequence_length_bp < 1000:
                raise ValueError("x_sequence_length_bp must be at least 1000")
            if self.x_offset_bp < 0 or self.x_offset_bp + self.x_sequence_length_bp > GRCH38_LENGTHS["X"]:
                raise ValueError("x_offset_bp + x_sequence_length_bp must lie within the GRCh38 length of X")
        for name in ("h2_quant", "h2_liability"):
            if not 0.0 < getattr(self, name) < 0.95:
                raise ValueError(f"{name} must be in (0, 0.95)")
        if not 0.0 < self.prevalence < 1.0:
            raise ValueError("prevalence must be in (0, 1)")
        if not 0.0 <= self.missing_rate < 0.5:
            raise ValueError("missing_rate must be in [0, 0.5)")
        if not 0.0 <= self.duplicate_discordance < 0.5:
            raise ValueError("duplicate_discordance must be in [0, 0.5)")
        if self.n_causal < 1:
            raise ValueError("n_causal must be at least 1")
        for name in ("n_bad_samples", "n_bad_variants", "n_hwe_violations", "n_dirty_rows",
                     "n_sex_mismatches", "n_duplicate_pairs", "n_trios", "n_sibling_pairs"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.n_bad_samples is not None and self.n_bad_samples > self.n_samples // 2:
            raise ValueError("n_bad_samples must be at most half of n_samples")
        # each duplicate costs 2 people (copy + source), a trio 3, a sibling pair 2
        n_dup, n_trio, n_sib = self.resolved_relatives()
        related = 2 * n_dup + 3 * n_trio + 2 * n_sib
        if related > self.n_samples // 4:
            raise ValueError("too many relatives: duplicates, trios and siblings may involve at most "
                             "a quarter of n_samples")
        if related + self.resolved_n_sex_mismatches() + self.resolved_n_bad_samples() > self.n_samples // 2:
            raise ValueError("relatives, sex mismatches and bad samples may involve at most half of n_samples")
        if len(self.ne_populations) != 2 or min(self.ne_populations) < 1:
            raise ValueError("ne_populations must be two positive sizes (POP0, others)")
        if "\t" in self.sample_prefix or "," in self.sample_prefix or " " in self.sample_prefix:
            raise ValueError("sample_prefix must not contain tabs, commas or spaces")

    # derived counts ---------------------------------------------------------------
    def contig(self, chromosome: str) -> str:
        return f"{self.contig_prefix}{chromosome}"

    @property
    def all_chromosomes(self) -> tuple[str, ...]:
        """The autosomes, then ``X`` when ``include_x`` (the order of the cohort's contigs)."""
        return self.chromosomes + (("X",) if self.include_x else ())

    @property
    def contigs(self) -> list[str]:
        return [self.contig(c) for c in self.all_chromosomes]

    def resolved_n_bad_samples(self) -> int:
        if self.n_bad_samples is not None:
            return self.n_bad_samples
        n = int(round(0.005 * self.n_samples))
        return max(n, 1) if self.n_samples >= 100 else n

    def resolved_n_bad_variants(self, n_variants: int) -> int:
        """``n_variants``: the number of autosomal variants."""
        if self.n_bad_variants is not None:
            return self.n_bad_variants
        return max(1, int(round(0.003 * n_variants)))

    def resolved_n_hwe_violations(self, n_variants: int) -> int:
        """``n_variants``: the number of autosomal variants."""
        if self.n_hwe_violations is not None:
            return self.n_hwe_violations
        return max(1, int(round(0.001 * n_variants)))

    def resolved_n_dirty_rows(self) -> int:
        if self.n_dirty_rows is not None:
            return self.n_dirty_rows
        return max(6, int(round(0.01 * self.n_samples)))

    def resolved_n_sex_mismatches(self) -> int:
        if self.n_sex_mismatches is not None:
            return self.n_sex_mismatches
        n = int(round(0.005 * self.n_samples))
        return max(n, 2) if self.n_samples >= 200 else n

    def _scaled_relatives(self, given: int | None, default: int) -> int:
        if not self.include_relatives:
            return 0
        if given is not None:
            return given
        n = int(math.floor(default * min(self.n_samples, 1000) / 1000 + 0.5))
        return max(n, 1) if self.n_samples >= 200 else n

    def resolved_relatives(self) -> tuple[int, int, int]:
        """(duplicate pairs, trios, sibling pairs); all 0 when ``include_relatives`` is off."""
        return (
            self._scaled_relatives(self.n_duplicate_pairs, DEFAULT_DUPLICATE_PAIRS),
            self._scaled_relatives(self.n_trios, DEFAULT_TRIOS),
            self._scaled_relatives(self.n_sibling_pairs, DEFAULT_SIBLING_PAIRS),
        )


@dataclass
class SimulatedChromosome:
    chromosome: str            # "1"
    contig: str                # "chr1"
    positions: np.ndarray      # int64, 1-based VCF positions, sorted, unique
    ref: list[str]
    alt: list[tuple[str, ...]]  # one or more ALT bases per site
    genotypes: np.ndarray      # int8 (variants, samples, 2): allele index, -1 = missing,
    #                            HAPLOID (-2) as the second allele of a haploid call
    sex_linked: bool = False   # True for the chrX contig (males haploid outside the PARs)

    @property
    def n_variants(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_multiallelic(self) -> int:
        return sum(1 for a in self.alt if len(a) > 1)

    def par_mask(self) -> np.ndarray:
        """True for variants inside a pseudo-autosomal region (all False for an autosome)."""
        if not self.sex_linked:
            return np.zeros(self.n_variants, dtype=bool)
        return in_par(self.positions)


@dataclass
class SimulatedCohort:
    spec: CohortSpec
    sample_ids: list[str]
    populations: np.ndarray          # int, population index per sample
    population_names: list[str]
    chromosomes: list[SimulatedChromosome]  # autosomes, then chrX (when included)
    phenotypes: pd.DataFrame         # PHENOTYPE_COLUMNS, all strings, '' = missing
    truth: pd.DataFrame
    sample_truth: pd.DataFrame
    dirty_rows: pd.DataFrame         # row, sample_id, reason
    qc_truth: pd.DataFrame = field(default_factory=pd.DataFrame)  # QC_TRUTH_COLUMNS
    relatives: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RELATIVES_COLUMNS))
    genetic_sex: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))  # 'M'/'F'

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def n_variants(self) -> int:
        return sum(c.n_variants for c in self.chromosomes)

    @property
    def contigs(self) -> list[str]:
        return [c.contig for c in self.chromosomes]

    @property
    def autosomes(self) -> list[SimulatedChromosome]:
        return [c for c in self.chromosomes if not c.sex_linked]

    @property
    def male(self) -> np.ndarray:
        return np.asarray(self.genetic_sex) == "M"


def in_par(positions: np.ndarray) -> np.ndarray:
    """True where a 1-based GRCh38 chrX position lies in PAR1 or PAR2."""
    p = np.asarray(positions)
    return ((p >= GRCH38_PAR1[0]) & (p <= GRCH38_PAR1[1])) | ((p >= GRCH38_PAR2[0]) & (p <= GRCH38_PAR2[1]))


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
# people: populations, sex, families


def population_names(spec: CohortSpec) -> list[str]:
    return [f"POP{i}" for i in range(spec.n_populations)]


def population_sizes(spec: CohortSpec) -> list[int]:
    """Samples per population in the cohort: 70% POP0, the rest evenly over the others."""
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


# A transmission: (starting haplotype 0/1, sorted crossover positions in window coordinates);
# window sites at or after a crossover take the other haplotype.
_Transmission = tuple[int, np.ndarray]


@dataclass
class _Pedigree:
    """Who is who, planned from the spec alone (before any genotype is simulated).

    ``sim_*`` arrays are per msprime individual (msprime order, population by population);
    the others are per cohort sample in sample order.  Founders and duplicates copy one
    msprime individual (``src``); children are built from ``father``/``mother`` (msprime
    individuals, in the cohort for trios, hidden for sibling pairs).
    """

    sim_sizes: list[int]
    sim_pop: np.ndarray
    sim_male: np.ndarray
    src: np.ndarray
    father: np.ndarray
    mother: np.ndarray
    male: np.ndarray
    pop: np.ndarray
    dup_of: np.ndarray                   # sample index of the original for duplicates, else -1
    transmissions: dict[tuple[int, str, int], _Transmission]  # (sample, chromosome, 0=father/1=mother)
    pairs: list[tuple[int, int, str]]    # (sample, sample, relationship)

    @property
    def related(self) -> np.ndarray:
        mask = np.zeros(self.male.shape[0], dtype=bool)
        for a, b, _ in self.pairs:
            mask[a] = mask[b] = True
        return mask


def _draw_transmission(rng: np.random.Generator, length: int) -> _Transmission:
    start = int(rng.integers(0, 2))
    k = int(rng.integers(1, 3))
    xs = np.sort(rng.integers(1, max(length, 2), size=k)).astype(np.int64)
    return start, xs


def _shared_fraction(a: _Transmission, b: _Transmission, length: int) -> float:
    """Share of the window where two transmissions from one parent pass the same haplotype."""
    cuts = np.unique(np.concatenate([[0], a[1], b[1], [length]]))
    mids = (cuts[:-1] + cuts[1:]) / 2.0
    ha = (a[0] + np.searchsorted(a[1], mids, side="right")) % 2
    hb = (b[0] + np.searchsorted(b[1], mids, side="right")) % 2
    return float(np.diff(cuts)[ha == hb].sum() / length)


def _plan_pedigree(spec: CohortSpec) -> _Pedigree:
    rng = _rng(spec, _S_FAMILY)
    k = spec.n_populations
    sizes = population_sizes(spec)
    n_dup, n_trio, n_sib = spec.resolved_relatives()
    units = ["duplicate"] * n_dup + ["trio"] * n_trio + ["siblings"] * n_sib
    # people of the population each unit uses: slots it replaces + cohort founders it uses
    cost = {"duplicate": 2, "trio": 3, "siblings": 2}
    budget = [s - 2 for s in sizes]  # keep >= 2 unrelated founders per population
    unit_pop: list[int] = []
    for u in units:
        ok = [p for p in range(k) if budget[p] >= cost[u]]
        if not ok:
            raise ValueError("too many relatives for the population sizes")
        w = np.array([sizes[p] for p in ok], dtype=float)
        p = ok[int(rng.choice(len(ok), p=w / w.sum()))]
        budget[p] -= cost[u]
        unit_pop.append(p)
    # msprime individuals per population: cohort founders + hidden parents of sibling pairs
    sim_sizes = [sizes[p] - sum(1 for u, q in zip(units, unit_pop) if q == p and u != "siblings")
                 for p in range(k)]
    sim_pop = np.repeat(np.arange(k), sim_sizes)
    n_sim = int(sim_pop.shape[0])
    sim_male = _rng(spec, _S_SEX).random(n_sim) < 0.5
    pools = [list(rng.permutation(np.flatnonzero(sim_pop == p))) for p in range(k)]

    hidden: set[int] = set()
    roles: list[tuple[str, list[int]]] = []  # (unit, msprime individuals it uses)
    for u, p in zip(units, unit_pop):
        if u == "duplicate":
            roles.append((u, [int(pools[p].pop())]))
        else:
            f, m = int(pools[p].pop()), int(pools[p].pop())
            sim_male[f], sim_male[m] = True, False
            if u == "siblings":
                hidden.update((f, m))
            roles.append((u, [f, m]))

    # cohort people before the sample-order permutation: founders (msprime order), then relatives
    founders = [i for i in range(n_sim) if i not in hidden]
    person_of_sim = {s: j for j, s in enumerate(founders)}
    src, father, mother, male, pop, dup_src = [], [], [], [], [], []

    def add(s: int, f: int, m: int, is_male: bool, p: int, dup: int) -> int:
        for col, value in zip((src, father, mother, male, pop, dup_src), (s, f, m, is_male, p, dup)):
            col.append(value)
        return len(src) - 1

    for s in founders:
        add(s, -1, -1, bool(sim_male[s]), int(sim_pop[s]), -1)
    people_pairs: list[tuple[int, int, str]] = []
    children: list[tuple[int, str]] = []  # (person, unit)
    for (u, ids), p in zip(roles, unit_pop):
        if u == "duplicate":
            s = ids[0]
            j = add(s, -1, -1, bool(sim_male[s]), p, person_of_sim[s])
            people_pairs.append((person_of_sim[s], j, "duplicate"))
            continue
        n_children = 1 if u == "trio" else 2
        kids = []
        for _ in range(n_children):
            j = add(-1, ids[0], ids[1], bool(rng.random() < 0.5), p, -1)
            kids.append(j)
            children.append((j, u))
        if u == "trio":
            people_pairs.append((person_of_sim[ids[0]], kids[0], "parent_offspring"))
            people_pairs.append((person_of_sim[ids[1]], kids[0], "parent_offspring"))
        else:
            people_pairs.append((kids[0], kids[1], "sibling"))
    n = len(src)
    assert n == spec.n_samples, (n, spec.n_samples)

    # crossovers (window coordinates), per child, chromosome and parent
    L = spec.sequence_length_bp
    trans: dict[tuple[int, str, int], _Transmission] = {}
    done: set[int] = set()
    for j, u in children:
        if j in done:
            continue
        if u == "siblings":
            sib = j + 1
            for _attempt in range(200):
                draw = {(c, kid, r): _draw_transmission(rng, L)
                        for c in spec.chromosomes for kid in (j, sib) for r in (0, 1)}
                shared = [_shared_fraction(draw[(c, j, r)], draw[(c, sib, r)], L)
                          for c in spec.chromosomes for r in (0, 1)]
                if abs(float(np.mean(shared)) / 2.0 - 0.25) <= SIBLING_KINSHIP_TOLERANCE:
                    break
            for (c, kid, r), t in draw.items():
                trans[(kid, c, r)] = t
            kids = (j, sib)
        else:
            for c in spec.chromosomes:
                for r in (0, 1):
                    trans[(j, c, r)] = _draw_transmission(rng, L)
            kids = (j,)
        if spec.include_x:
            for kid in kids:
                trans[(kid, "X", 1)] = _draw_transmission(rng, spec.x_sequence_length_bp)
        done.update(kids)

    # sample order: a random permutation of the people
    perm = _rng(spec, _S_SAMPLES).permutation(n)  # sample j is person perm[j]
    sample_of = np.empty(n, dtype=np.int64)
    sample_of[perm] = np.arange(n)
    arr = lambda xs, dt=np.int64: np.asarray(xs, dtype=dt)[perm]  # noqa: E731
    dup_src_arr = np.asarray(dup_src, dtype=np.int64)
    dup_of = np.where(dup_src_arr >= 0, sample_of[np.maximum(dup_src_arr, 0)], -1)[perm]
    return _Pedigree(
        sim_sizes=sim_sizes,
        sim_pop=sim_pop,
        sim_male=sim_male,
        src=arr(src),
        father=arr(father),
        mother=arr(mother),
        male=arr(male, bool),
        pop=arr(pop),
        dup_of=dup_of.astype(np.int64),
        transmissions={(int(sample_of[j]), c, r): t for (j, c, r), t in trans.items()},
        pairs=[(int(sample_of[a]), int(sample_of[b]), rel) for a, b, rel in people_pairs],
    )


# --------------------------------------------------------------------------------------
# genotypes


def _simulate_sites(spec: CohortSpec, chromosome: str, sim_sizes: list[int], length: int):
    """msprime run for one chromosome over every simulated individual.

    Returns (window positions (0-based), ref, alleles per site (REF first, as msprime has
    them), genotypes (V, n_sim, 2) int8 allele indices, population per msprime individual).
    """
    names = population_names(spec)
    samples = {n: s for n, s in zip(names, sim_sizes) if s > 0}
    ts = msprime.sim_ancestry(
        samples=samples,
        demography=build_demography(spec),
        sequence_length=length,
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
    # column of (individual i, haplotype h) in a variant's genotype vector
    sample_nodes = ts.samples()
    node_to_col = np.full(ts.num_nodes, -1, dtype=np.int64)
    node_to_col[sample_nodes] = np.arange(sample_nodes.shape[0])
    cols = node_to_col[ind_nodes]  # (n_sim, 2)

    n_sites = ts.num_sites
    raw = np.empty((n_sites, sample_nodes.shape[0]), dtype=np.int8)
    positions = np.empty(n_sites, dtype=np.int64)
    alleles: list[tuple[str, ...]] = []
    for var in ts.variants():
        i = var.site.id
        raw[i] = var.genotypes
        positions[i] = int(var.site.position)
        alleles.append(tuple(var.alleles))
    return positions, alleles, np.ascontiguousarray(raw[:, cols]), ind_pop


def _transmit(raw: np.ndarray, parent: int, t: _Transmission, window_pos: np.ndarray) -> np.ndarray:
    start, xs = t
    hap = (start + np.searchsorted(xs, window_pos, side="right")) % 2
    return raw[np.arange(raw.shape[0]), parent, hap]


def _assemble(ped: _Pedigree, raw: np.ndarray, window_pos: np.ndarray, chromosome: str,
              sex_linked: bool, par: np.ndarray) -> np.ndarray:
    """Cohort genotypes (V, n, 2) from the msprime individuals' genotypes (V, n_sim, 2)."""
    n = ped.male.shape[0]
    g = np.empty((raw.shape[0], n, 2), dtype=np.int8)
    direct = ped.src >= 0
    g[:, direct] = raw[:, ped.src[direct]]
    for j in np.flatnonzero(~direct):
        f, m = int(ped.father[j]), int(ped.mother[j])
        if not sex_linked:
            g[:, j, 0] = _transmit(raw, f, ped.transmissions[(int(j), chromosome, 0)], window_pos)
            g[:, j, 1] = _transmit(raw, m, ped.transmissions[(int(j), chromosome, 1)], window_pos)
            continue
        # chrX: a male's haplotype 0 is his X, haplotype 1 his Y-linked copy (used in the PARs)
        maternal = _transmit(raw, m, ped.transmissions[(int(j), "X", 1)], window_pos)
        if ped.male[j]:
            g[:, j, 0] = maternal
            g[:, j, 1] = raw[:, f, 1]
        else:
            g[:, j, 0] = raw[:, f, 0]
            g[:, j, 1] = maternal
    if sex_linked:
        g[np.ix_(np.flatnonzero(~par), np.flatnonzero(ped.male), [1])] = HAPLOID
    return g


def _finalize_sites(g: np.ndarray, positions: np.ndarray, alleles: list[tuple[str, ...]]):
    """Drop sites without an ALT allele in the cohort and ALT alleles nobody carries."""
    max_alleles = max((len(a) for a in alleles), default=1)
    counts = np.stack([(g == a).any(axis=(1, 2)) for a in range(1, max_alleles)], axis=1) \
        if max_alleles > 1 else np.zeros((len(alleles), 0), dtype=bool)
    keep = np.zeros(len(alleles), dtype=bool)
    ref: list[str] = []
    alt: list[tuple[str, ...]] = []
    for i, al in enumerate(alleles):
        kept = [a for a in range(1, len(al)) if counts[i, a - 1]]
        if not kept:
            continue
        keep[i] = True
        if len(kept) != len(al) - 1:
            remap = np.zeros(len(al), dtype=np.int8)
            for new, old in enumerate(kept, start=1):
                remap[old] = new
            row = g[i]
            called = row >= 0
            row[called] = remap[row[called]]
        ref.append(al[0])
        alt.append(tuple(al[a] for a in kept))
    idx = np.flatnonzero(keep)
    if idx.size != len(alleles):
        g = g[idx]
        positions = positions[idx]
    return np.ascontiguousarray(g), positions, ref, alt


def _simulate_chromosome(spec: CohortSpec, chromosome: str, ped: _Pedigree) -> SimulatedChromosome:
    sex_linked = spec.include_x and chromosome == "X"
    length = spec.x_sequence_length_bp if sex_linked else spec.sequence_length_bp
    offset = spec.x_offset_bp if sex_linked else spec.offset_bp
    window_pos, alleles, raw, ind_pop = _simulate_sites(spec, chromosome, ped.sim_sizes, length)
    if not np.array_equal(ind_pop, ped.sim_pop):
        raise RuntimeError("msprime individuals are not in population order")
    par = in_par(window_pos + offset + 1) if sex_linked else np.zeros(window_pos.shape[0], dtype=bool)
    g = _assemble(ped, raw, window_pos, chromosome, sex_linked, par)
    del raw
    g, window_pos, ref, alt = _finalize_sites(g, window_pos, alleles)
    return SimulatedChromosome(chromosome, spec.contig(chromosome), window_pos + offset + 1, ref, alt, g,
                               sex_linked=sex_linked)


def _alt_dosage(genotypes: np.ndarray) -> np.ndarray:
    """Count of non-reference alleles per (variant, sample) as float64 (use on few variants)."""
    return (genotypes > 0).sum(axis=2, dtype=np.int16).astype(np.float64)


def _maf(genotypes: np.ndarray) -> np.ndarray:
    """Non-reference allele frequency folded to <= 0.5, per variant (true genotypes)."""
    out = np.empty(genotypes.shape[0], dtype=np.float64)
    for s in range(0, genotypes.shape[0], 4096):
        blk = genotypes[s : s + 4096]
        n_alleles = (blk != HAPLOID).sum(axis=(1, 2), dtype=np.int64)
        out[s : s + 4096] = (blk > 0).sum(axis=(1, 2), dtype=np.int64) / np.maximum(n_alleles, 1)
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


def _restore_haploid(g: np.ndarray, haploid: np.ndarray | None) -> None:
    if haploid is not None:
        second = g[:, :, 1]
        second[haploid] = HAPLOID


def _inject_genotype_problems(spec: CohortSpec, chroms, mafs, causal_idx, sample_ids, eligible, dup_cols):
    """Problems in place; returns (qc rows, bad sample indices).

    ``chroms`` are all contigs; ``mafs``/``causal_idx`` are given for the autosomes (``None``
    for chrX, which gets no bad or HWE-violating variants).  Bad samples are drawn from the
    sample indices in ``eligible``; duplicates (``dup_cols``) get their discordant calls here.
    """
    rng = _rng(spec, _S_INJECT)
    n = len(sample_ids)
    auto = [i for i, m in enumerate(mafs) if m is not None]
    n_var = [chroms[i].n_variants for i in auto]
    total_v = sum(n_var)
    n_bad_v = dict(zip(auto, _split_counts(spec.resolved_n_bad_variants(total_v), n_var)))
    n_hwe = dict(zip(auto, _split_counts(spec.resolved_n_hwe_violations(total_v), n_var)))
    rows = []

    n_bad = spec.resolved_n_bad_samples()
    if n_bad > len(eligible):
        raise ValueError("not enough unrelated samples for n_bad_samples")
    bad_samples = np.sort(rng.choice(np.asarray(eligible, dtype=np.int64), size=n_bad, replace=False))
    for s in bad_samples:
        rows.append(("bad_sample", sample_ids[s], "", pd.NA))

    for ci, (ch, maf) in enumerate(zip(chroms, mafs)):
        g = ch.genotypes
        haploid = (g[:, :, 1] == HAPLOID) if ch.sex_linked else None
        excluded = np.zeros(ch.n_variants, dtype=bool)
        if causal_idx[ci] is not None:
            excluded[causal_idx[ci]] = True

        def pick(count: int, tiers: list[np.ndarray]) -> np.ndarray:
            pool = np.array([], dtype=np.int64)
            for tier in tiers:
                pool = np.flatnonzero(tier & ~excluded)
                if pool.size >= count:
                    break
            count = min(count, pool.size)
            return np.sort(rng.choice(pool, size=count, replace=False)) if count else pool[:0]

        if maf is not None:
            biallelic = np.array([len(a) == 1 for a in ch.alt], dtype=bool)
            # HWE violations: every heterozygote becomes a random homozygote
            het = (g[:, :, 0] != g[:, :, 1]).any(axis=1)
            hwe = pick(n_hwe[ci], [biallelic & (maf >= 0.1) & het, biallelic & (maf >= 0.05) & het,
                                   biallelic & het])
            excluded[hwe] = True
            for v in hwe:
                gv = g[v]
                is_het = gv[:, 0] != gv[:, 1]
                hom = rng.integers(0, 2, size=int(is_het.sum())).astype(np.int8)
                gv[is_het, 0] = hom
                gv[is_het, 1] = hom
                rows.append(("hwe_violation", "", ch.contig, int(ch.positions[v])))

        # duplicates: a few discordant calls (half a changed genotype, half missing), not at causal sites
        free = np.flatnonzero(~excluded) if causal_idx[ci] is not None else np.arange(ch.n_variants)
        for d in dup_cols:
            hit = free[rng.random(free.size) < spec.duplicate_discordance]
            flip = rng.random(hit.size) < 0.5
            col = g[:, d, :]
            first = col[hit[flip], 0]
            col[hit[flip], 0] = np.where(first == 0, 1, 0).astype(np.int8)
            col[hit[~flip], :] = -1
            g[:, d, :] = col

        if maf is not None:
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
        _restore_haploid(g, haploid)

    return rows, bad_samples


_NON_NUMERIC_AGES = ["forty", "fifty-five", "sixty", "forty-eight", "sixty-three"]
_BAD_AGES = ["250", "-4"]
_BAD_LDL = ["95.0", "-1.5"]


def _phenotype_table(spec, sample_ids, sex, age, ldl, cad, dup_of, protected):
    """``sex``: the reported sex; ``dup_of``: original's index for duplicates (row copied);
    ``protected``: samples whose rows are never made dirty (relatives, sex mismatches)."""
    rng = _rng(spec, _S_DIRTY)
    n = len(sample_ids)
    ldl_s = np.array([f"{x:.2f}" for x in ldl], dtype=object)
    cad_s = np.array([str(int(c)) for c in cad], dtype=object)
    ldl_s[rng.random(n) < LDL_MISSING_SHARE] = ""
    cad_s[rng.random(n) < CAD_MISSING_SHARE] = ""
    consent = np.where(rng.random(n) < CONSENT_YES_SHARE, "yes", "no").astype(object)
    dups = np.flatnonzero(dup_of >= 0)
    for arr in (ldl_s, cad_s, consent):
        arr[dups] = arr[dup_of[dups]]
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
    candidates = np.flatnonzero(~protected)
    if n_touch > candidates.size:
        raise ValueError("n_dirty_rows too large for n_samples")
    touched = rng.choice(candidates, size=n_touch, replace=False)
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
    ped = _plan_pedigree(spec)
    populations = ped.pop
    male_b = ped.male
    genetic_sex = np.where(male_b, "M", "F").astype(object)
    counts = {rel: sum(1 for *_, r in ped.pairs if r == rel) for rel in KINSHIP}
    say(f"people: {n} samples ({int(male_b.sum())} male); relatives: {counts['duplicate']} duplicate, "
        f"{counts['parent_offspring']} parent-offspring, {counts['sibling']} sibling pairs")

    chroms: list[SimulatedChromosome] = []
    for c in spec.all_chromosomes:
        ch = _simulate_chromosome(spec, c, ped)
        chroms.append(ch)
        extra = ""
        if ch.sex_linked:
            n_par = int(ch.par_mask().sum())
            extra = f"; {n_par} in PAR1, {ch.n_variants - n_par} non-PAR (males haploid)"
        say(f"{ch.contig}: {ch.n_variants} variants ({ch.n_multiallelic} multi-allelic){extra}")
    autosomes = [ch for ch in chroms if not ch.sex_linked]

    # allele frequencies on the true genotypes (autosomes: causal variants and injections)
    mafs = [_maf(ch.genotypes) for ch in autosomes]
    causal_idx, spacing = _select_causal(spec, autosomes, mafs)
    causal_loc = [(ci, int(v)) for ci in range(len(autosomes)) for v in causal_idx[ci]]
    X = np.column_stack([_alt_dosage(autosomes[ci].genotypes[[v]])[0] for ci, v in causal_loc])
    k = X.shape[1]
    say(f"causal variants: {k} (min spacing {spacing} bp)")

    # traits are modelled on the distinct people; duplicates copy their original
    uniq = np.flatnonzero(ped.dup_of < 0)
    copy_from = np.where(ped.dup_of >= 0, ped.dup_of, np.arange(n))
    nu = uniq.size
    Xu = X[uniq]
    prng = _rng(spec, _S_PHENO)
    male = male_b[uniq].astype(float)
    age_u = prng.integers(AGE_MIN, AGE_MAX + 1, size=nu).astype(float)
    pop = populations[uniq].astype(float)

    # effects
    p_causal = Xu.mean(axis=0) / 2.0
    sd_causal = np.sqrt(2.0 * p_causal * (1.0 - p_causal))
    z_ldl = _effect_profile(prng, k)
    z_ind = _effect_profile(prng, k)
    z_cad = EFFECT_RHO * z_ldl + math.sqrt(1.0 - EFFECT_RHO**2) * z_ind

    def genetic(z: np.ndarray, target_var: float):
        beta = z / sd_causal
        g = Xu @ beta
        scale = math.sqrt(target_var / g.var())
        beta = beta * scale
        g = (g - g.mean()) * scale
        return beta, g

    v_ldl = LDL_SD**2
    beta_ldl, g_ldl = genetic(z_ldl, spec.h2_quant * v_ldl)
    cov_ldl = LDL_AGE * (age_u - 55.0) + LDL_MALE * male + LDL_POP * pop
    cov_ldl = cov_ldl - cov_ldl.mean()
    e_ldl = _orthogonal_noise(prng, np.column_stack([g_ldl, age_u, male, pop]),
                              max(v_ldl * (1 - spec.h2_quant) - cov_ldl.var(), 0.05 * v_ldl))
    ldl_u = np.maximum(LDL_MEAN + g_ldl + cov_ldl + e_ldl, LDL_MIN_VALUE)

    beta_cad, g_cad = genetic(z_cad, spec.h2_liability)
    cov_cad = CAD_AGE * (age_u - 55.0) + CAD_MALE * male + CAD_POP * pop
    cov_cad = cov_cad - cov_cad.mean()
    e_cad = _orthogonal_noise(prng, np.column_stack([g_cad, age_u, male, pop]),
                              max(1.0 - spec.h2_liability - cov_cad.var(), 0.05))
    liab_u = g_cad + cov_cad + e_cad
    n_cases = max(1, int(round(spec.prevalence * nu)))
    order = np.argsort(-liab_u, kind="stable")
    cad_u = np.zeros(nu, dtype=np.int64)
    cad_u[order[:n_cases]] = 1

    def spread(values: np.ndarray) -> np.ndarray:
        out = np.empty(n, dtype=values.dtype)
        out[uniq] = values
        return out[copy_from]

    age, ldl, cad = spread(age_u), spread(ldl_u), spread(cad_u)
    g_ldl_all, g_cad_all, liability = spread(g_ldl), spread(g_cad), spread(liab_u)

    # truth tables (frequencies and variances realised in the whole cohort)
    truth_rows = []
    var_ldl, var_liab = ldl.var(), liability.var()
    for trait, beta, vtot in (("ldl_c", beta_ldl, var_ldl), ("cad", beta_cad, var_liab)):
        for j, (ci, v) in enumerate(causal_loc):
            ch = autosomes[ci]
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
            "genetic_ldl_c": g_ldl_all,
            "genetic_cad": g_cad_all,
            "liability_cad": liability,
            "genetic_sex": genetic_sex,
        }
    )
    del X, Xu

    # injected problems: never on relatives
    related = ped.related
    dup_cols = np.flatnonzero(ped.dup_of >= 0)
    qc_rows, bad_samples = _inject_genotype_problems(
        spec, chroms, mafs + [None] * (len(chroms) - len(autosomes)),
        causal_idx + [None] * (len(chroms) - len(autosomes)), sample_ids, np.flatnonzero(~related), dup_cols,
    )
    # sex-label mismatches: unrelated samples that are not bad samples
    pool = np.flatnonzero(~related & ~np.isin(np.arange(n), bad_samples))
    n_mm = spec.resolved_n_sex_mismatches()
    if n_mm > pool.size:
        raise ValueError("n_sex_mismatches too large for n_samples")
    mismatched = np.sort(_rng(spec, _S_SEX_MISMATCH).choice(pool, size=n_mm, replace=False))
    reported = genetic_sex.copy()
    reported[mismatched] = np.where(male_b[mismatched], "F", "M")
    qc = pd.DataFrame([r + ("", "") for r in qc_rows], columns=QC_TRUTH_COLUMNS)
    mm = pd.DataFrame(
        {
            "kind": "sex_mismatch",
            "sample_id": [sample_ids[i] for i in mismatched],
            "chromosome": "",
            "position": pd.NA,
            "reported_sex": [reported[i] for i in mismatched],
            "genetic_sex": [genetic_sex[i] for i in mismatched],
        },
        columns=QC_TRUTH_COLUMNS,
    )
    qc_truth = pd.concat([qc, mm], ignore_index=True) if len(mm) else qc
    qc_truth["position"] = qc_truth["position"].astype("Int64")
    qc_truth = qc_truth.astype({c: object for c in QC_TRUTH_COLUMNS if c != "position"})

    protected = related.copy()
    protected[mismatched] = True
    pheno, dirty = _phenotype_table(spec, sample_ids, reported, age, ldl, cad, ped.dup_of, protected)
    # clean per-sample values (before any was made missing or dirty); consent_feedback is never
    # altered by dirty rows (duplicate-id rows copy it), so the first row of each id holds it
    consent_by_id = pheno.drop_duplicates("sample_id").set_index("sample_id")["consent_feedback"]
    sample_truth["age"] = age.astype(np.int64)
    sample_truth["ldl_c"] = ldl.astype(float)
    sample_truth["cad"] = cad.astype(np.int64)
    sample_truth["consent_feedback"] = consent_by_id.reindex(sample_ids).to_numpy(dtype=object)
    relatives = pd.DataFrame(
        [(sample_ids[a], sample_ids[b], rel, KINSHIP[rel]) for a, b, rel in ped.pairs],
        columns=RELATIVES_COLUMNS,
    ).astype({"expected_kinship": float})
    say(
        f"phenotypes: {len(pheno)} rows, {len(dirty)} to quarantine; "
        f"injected {int((qc_truth['kind'] == 'bad_sample').sum())} bad samples, "
        f"{int((qc_truth['kind'] == 'bad_variant').sum())} bad variants, "
        f"{int((qc_truth['kind'] == 'hwe_violation').sum())} HWE violations, "
        f"{len(mismatched)} sex-label mismatches"
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
        relatives=relatives,
        genetic_sex=genetic_sex,
    )


# --------------------------------------------------------------------------------------
# VCF text


def vcf_header_lines(cohort: SimulatedCohort, chrom_index: int) -> list[str]:
    spec = cohort.spec
    ch = cohort.chromosomes[chrom_index]
    contigs = list(_HEADER_CONTIGS)
    for c in spec.all_chromosomes:
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
    """Data lines of the VCF as ASCII bytes, ``chunk`` records at a time (newline-terminated).

    Diploid calls are ``a/b`` (sorted) or ``./.``; haploid calls (second allele ``HAPLOID``)
    are one allele or ``.``.
    """
    ch = cohort.chromosomes[chrom_index]
    g_all = ch.genotypes
    n = g_all.shape[1]
    for start in range(0, ch.n_variants, chunk):
        stop = min(start + chunk, ch.n_variants)
        g = g_all[start:stop]
        a, b = g[:, :, 0], g[:, :, 1]
        hap = b == HAPLOID
        miss = (a < 0) | (b == -1)
        buf = np.empty((stop - start, n, 4), dtype=np.uint8)
        buf[:, :, 0] = np.where(miss, 46, np.where(hap, a, np.minimum(a, b)) + 48)  # '.' or digit
        buf[:, :, 1] = 47  # '/'
        buf[:, :, 2] = np.where(miss, 46, np.maximum(a, b) + 48)
        buf[:, :, 3] = 9  # tab
        buf[:, -1, 3] = 10  # newline
        if hap.any():  # drop '/' and the second allele of haploid calls
            keep = np.ones(buf.shape, dtype=bool)
            keep[:, :, 1] = ~hap
            keep[:, :, 2] = ~hap
            text = buf[keep].tobytes()
            ends = np.cumsum(keep.sum(axis=(1, 2))).tolist()
        else:
            text = buf.tobytes()
            ends = [(i + 1) * n * 4 for i in range(stop - start)]
        parts = []
        begin = 0
        for i in range(stop - start):
            v = start + i
            pos = int(ch.positions[v])
            alts = ",".join(ch.alt[v])
            parts.append(
                f"{ch.contig}\t{pos}\t{ch.contig}:{pos}:{ch.ref[v]}:{alts}\t{ch.ref[v]}\t{alts}\t.\tPASS\t.\tGT\t".encode()
            )
            parts.append(text[begin : ends[i]])
            begin = ends[i]
        yield b"".join(parts)


def vcf_lines(cohort: SimulatedCohort, chrom_index: int) -> Iterator[str]:
    """VCFv4.2 text of one chromosome, one newline-terminated line per item (header first).

    ``"".join(vcf_lines(cohort, i))`` is the complete file.  Genotypes are unphased
    (``0/1``, ``1/2``, missing ``./.``; haploid ``0``, ``1``, ``.`` for males on non-PAR chrX);
    ID is ``contig:pos:ref:alt`` (ALT comma-joined).
    """
    yield from vcf_header_lines(cohort, chrom_index)
    for block in vcf_record_chunks(cohort, chrom_index):
        text = block.decode("ascii")
        yield from text.splitlines(keepends=True)
