"""Genotype QC kernels over an int8 alt-allele-count matrix (variants x samples, -1 missing), as
``genomics.genotype_arrays.read_vcfs`` makes it. Each follows PLINK 2 (v2.00a3):

* ``--mind t``: a sample is removed when its missing calls over all variants exceed
  ``int(n_variants * t * (1 + 2^-44))`` (PLINK's MindFilter).
* ``--geno t``: a variant is removed when its missing calls over the kept samples exceed
  ``int(n_samples * t * (1 + 2^-44))`` (EnforceGenoThresh).
* ``--maf t``: a variant is removed when min(alt AF, 1 - alt AF) < ``t * (1 - 2^-44)``; the alt
  allele frequency counts a haploid call once and a diploid call twice; a variant with no
  called allele has AF NaN and is kept, as PLINK keeps it (EnforceFreqConstraints).
* ``--hwe p midp``: a variant is removed when its Hardy-Weinberg exact test mid-p-value
  (Wigginton et al. 2005, PLINK's HweP with mid-p, diploid calls only) is below ``p`` (PLINK
  compares ln values, the threshold's times 1 + 2^-44); variants with no diploid call are kept
  (EnforceHweThresh). ``hwe_variants`` leaves out what PLINK skips (chrY, chrM).

Not modelled: PLINK's male-only denominators on chrY and its het-haploid-as-missing rule (a
haploid call here is never het); PLINK needs sample sex for chrX, this code uses the ploidy of
each call instead (as Hail does).

``filter`` applies them in PLINK's order: samples by ``--mind`` over all variants first, then
``--geno``, ``--hwe`` and ``--maf`` on the kept samples (independent of one another; the order
only fixes the per-step counts). All counts come from one pass over the matrix in row blocks
(the kept samples' counts are all samples' minus the removed samples').

One known difference: plink2 2.00a3's ``--hwe ... midp`` *filter* (HweThreshMidp) leaves out the
configuration with 2 fewer hets when 2 or 3 hets are observed below expectation, which moves
its effective p-value by up to ~0.4% for those variants; its reported ``--hardy midp`` p-value
(HweP, which ``hwe_midp`` follows) does not. A kept set can differ only for such a variant with
p within that margin of the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genomics.genotype_arrays import haploid_block

SMALL_EPSILON = 2.0 ** -44      # PLINK 2's kSmallEpsilon, applied to every threshold
TIE_TOLERANCE = 1e-9            # |ln P(h) - ln P(obs)| below which two HWE configurations tie
BLOCK_ROWS = 2048


@dataclass
class CallCounts:
    """Per-variant call counts over a set of samples: diploid genotypes (``hom_ref``, ``het``,
    ``hom_alt``), haploid calls (``hap_ref``, ``hap_alt``) and missing calls."""

    n_samples: int
    n_missing: np.ndarray
    hom_ref: np.ndarray
    het: np.ndarray
    hom_alt: np.ndarray
    hap_ref: np.ndarray
    hap_alt: np.ndarray

    @property
    def n_called(self) -> np.ndarray:
        return self.n_samples - self.n_missing

    @property
    def alt_allele_count(self) -> np.ndarray:
        return self.het + 2 * self.hom_alt + self.hap_alt

    @property
    def allele_number(self) -> np.ndarray:
        return 2 * (self.hom_ref + self.het + self.hom_alt) + self.hap_ref + self.hap_alt

    def __sub__(self, other: "CallCounts") -> "CallCounts":
        return CallCounts(self.n_samples - other.n_samples,
                          *(getattr(self, f) - getattr(other, f) for f in _COUNT_FIELDS))


_COUNT_FIELDS = ("n_missing", "hom_ref", "het", "hom_alt", "hap_ref", "hap_alt")


def count_calls(gt: np.ndarray, haploid_rows: np.ndarray | None = None,
                haploid: np.ndarray | None = None, block_rows: int = BLOCK_ROWS
                ) -> tuple[CallCounts, np.ndarray]:
    """Per-variant ``CallCounts`` over all columns of ``gt`` and, in the same pass, each
    sample's number of missing calls. ``haploid_rows``/``haploid`` say which calls are haploid
    (``GenotypeArrays``); without them every call is diploid."""
    m, n = gt.shape
    out = {f: np.zeros(m, np.int64) for f in _COUNT_FIELDS}
    sample_missing = np.zeros(n, np.int64)
    # the narrowest accumulators that cannot overflow (16-bit sums are ~2.5x faster)
    row_sum = np.int16 if 2 * n <= np.iinfo(np.int16).max else np.int64
    row_cnt = np.uint16 if n <= np.iinfo(np.uint16).max else np.int64
    col_cnt = np.uint16 if block_rows <= np.iinfo(np.uint16).max else np.int64
    for a in range(0, m, block_rows):
        b = min(a + block_rows, m)
        c = gt[a:b]
        miss = (c < 0).view(np.uint8)
        n_miss = miss.sum(1, dtype=row_cnt).astype(np.int64)
        sample_missing += miss.sum(0, dtype=col_cnt)
        hom_alt = (c == 2).view(np.uint8).sum(1, dtype=row_cnt).astype(np.int64)
        alt = c.sum(1, dtype=row_sum) + n_miss                 # the -1s added back
        het = alt - 2 * hom_alt
        hap = haploid_block(haploid_rows, haploid, a, b, n)
        hap_ref = hap_alt = 0
        if hap is not None:
            hap_alt = (hap & (c == 1)).view(np.uint8).sum(1, dtype=row_cnt).astype(np.int64)
            hap_ref = (hap & (c == 0)).view(np.uint8).sum(1, dtype=row_cnt).astype(np.int64)
            het = het - hap_alt
            out["hap_alt"][a:b] = hap_alt
            out["hap_ref"][a:b] = hap_ref
        out["n_missing"][a:b] = n_miss
        out["hom_alt"][a:b] = hom_alt
        out["het"][a:b] = het
        out["hom_ref"][a:b] = n - n_miss - het - hom_alt - hap_ref - hap_alt
    return CallCounts(n, **out), sample_missing


def call_rate(counts: CallCounts) -> np.ndarray:
    """Fraction of the samples with a call (PLINK's 1 - F_MISS)."""
    return counts.n_called / counts.n_samples if counts.n_samples else np.zeros(len(counts.n_missing))


def alt_allele_freq(counts: CallCounts) -> np.ndarray:
    """Alt allele frequency over the called alleles (haploid calls count one allele), NaN where
    no allele was called (PLINK's ALT_FREQS)."""
    an = counts.allele_number
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(an > 0, counts.alt_allele_count / np.maximum(an, 1), np.nan)


def minor_allele_freq(alt_af: np.ndarray) -> np.ndarray:
    """min(AF, 1 - AF) (PLINK's --maf on a biallelic variant), NaN stays NaN."""
    return np.minimum(alt_af, 1.0 - alt_af)


def max_missing(n: int, threshold: float) -> int:
    """The largest missing-call count that passes ``--mind``/``--geno`` ``threshold`` over ``n``
    calls: ``int(n * threshold * (1 + 2^-44))``, as PLINK computes it."""
    return int(n * (threshold * (1 + SMALL_EPSILON)))


# --------------------------------------------------------------------------------------------
# Hardy-Weinberg


def hwe_midp(het, hom1, hom2, max_terms: int = 1 << 18) -> np.ndarray:
    """Hardy-Weinberg exact test mid-p-values (Wigginton, Cutler & Abecasis 2005), as PLINK 2's
    ``HweP(..., midp=1)`` defines them, for arrays of genotype counts.

    With n genotypes, r copies of the rarer allele and h heterozygotes observed, P(h') over the
    possible heterozygote counts h' (h' = r mod 2, ..., r in steps of 2) is the Levene-Haldane
    distribution. The mid-p is (sum of P(h') <= P(h)) - P(h)/2 * ties, divided by sum P(h'),
    where ``ties`` is 1 plus 1 if the configuration on the other side of the mode equals P(h)
    (PLINK's tie_ct; two configurations tie when their log-probabilities differ by less than
    ``TIE_TOLERANCE``). No genotypes: 0.5.

    Vectorised: each distinct count triple is computed once; only the configurations with
    P(h') >= P(h) * e^-50 are summed (the rest changes a sum by < 1e-18 of itself), found by
    bisection (P is log-concave in h'); chunks of at most ``max_terms`` terms."""
    het, hom1, hom2 = (np.asarray(x, np.int64).ravel() for x in (het, hom1, hom2))
    if het.size == 0:
        return np.empty(0)
    homr, homc = np.minimum(hom1, hom2), np.maximum(hom1, hom2)
    if max(het.max(), homc.max()) < (1 << 21):
        key = (het << 42) | (homr << 21) | homc
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        uh, ur, uc = het[first], homr[first], homc[first]
    else:
        trip, inv = np.unique(np.stack([het, homr, homc], 1), axis=0, return_inverse=True)
        uh, ur, uc = trip[:, 0], trip[:, 1], trip[:, 2]
    lo, hi = _support(uh, ur, uc)
    size = hi - lo + 1
    p = np.empty(len(uh))
    start = 0
    while start < len(uh):
        # as many triples as fit in max_terms (at least one)
        stop = start + max(1, int(np.searchsorted(np.cumsum(size[start:]), max_terms, "right")))
        sl = slice(start, stop)
        p[sl] = _hwe_midp_window(uh[sl], ur[sl], uc[sl], lo[sl], size[sl])
        start = stop
    return p[inv.ravel()]


_WINDOW_LN = 50.0       # configurations with ln P < ln P(obs) - 50 are left out


def _ln_weight(h, homr, homc):
    """ln of 2^h / (homr! homc! h!): the Levene-Haldane probability of a configuration up to a
    factor shared by all configurations with the same n and allele counts."""
    from scipy.special import gammaln
    return h * np.log(2.0) - gammaln(homr + 1.0) - gammaln(homc + 1.0) - gammaln(h + 1.0)


def _ln_weight_j(j, parity, rare, n):
    """``_ln_weight`` of configuration j: h = parity + 2j heterozygotes."""
    h = parity + 2 * j
    hr = (rare - h) // 2
    return _ln_weight(h.astype(float), hr.astype(float), (n - h - hr).astype(float))


def _support(het, homr, homc):
    """Per triple, the range [lo, hi] of configurations j (h = r mod 2 + 2j) with
    ln P(j) >= ln P(observed) - 50. That set is an interval around the observed j (P is
    log-concave), so each end is found by bisection between the observed j and the range end."""
    n, rare = het + homr + homc, 2 * homr + het
    parity = rare % 2
    j_obs, j_max = (het - parity) // 2, (rare - parity) // 2
    target = _ln_weight(het.astype(float), homr.astype(float), homc.astype(float)) - _WINDOW_LN
    lo, hi = np.zeros_like(j_obs), j_obs.copy()           # smallest j in [0, j_obs] inside
    while (act := np.flatnonzero(lo < hi)).size:
        mid = (lo[act] + hi[act]) // 2
        inside = _ln_weight_j(mid, parity[act], rare[act], n[act]) >= target[act]
        hi[act] = np.where(inside, mid, hi[act])
        lo[act] = np.where(inside, lo[act], mid + 1)
    left = lo
    lo, hi = j_obs.copy(), j_max.copy()                    # largest j in [j_obs, j_max] inside
    while (act := np.flatnonzero(lo < hi)).size:
        mid = (lo[act] + hi[act] + 1) // 2
        inside = _ln_weight_j(mid, parity[act], rare[act], n[act]) >= target[act]
        lo[act] = np.where(inside, mid, lo[act])
        hi[act] = np.where(inside, hi[act], mid - 1)
    return left, lo


def _hwe_midp_window(het, homr, homc, j_lo, size):
    n, rare = (het + homr + homc).astype(float), (2 * homr + het).astype(float)
    parity = rare % 2
    owner = np.repeat(np.arange(len(het)), size)
    starts = np.cumsum(size) - size
    j = (j_lo[owner] + (np.arange(int(size.sum())) - starts[owner])).astype(float)
    h = parity[owner] + 2 * j
    # ln P(j) - ln P(j_lo) by the recurrence P(h + 2) / P(h) = 4 homr homc / ((h + 1)(h + 2)),
    # summed within each triple (the first term of each is 0)
    hr = (rare[owner] - h) / 2
    hc = n[owner] - h - hr
    with np.errstate(divide="ignore"):
        step = np.log(4 * hr * hc / ((h + 1) * (h + 2)))
    step = np.concatenate([[0.0], step[:-1]])
    step[starts] = 0.0
    ln_p = np.cumsum(step)
    ln_p -= ln_p[starts][owner]
    is_obs = h == het[owner]
    d = ln_p - np.add.reduceat(np.where(is_obs, ln_p, 0.0), starts)[owner]   # ln P(h') - ln P(h)
    w = np.exp(ln_p - np.maximum.reduceat(ln_p, starts)[owner])             # the mode has weight 1
    # PLINK counts a tie only on the far side of the mode (it walks from the observed count
    # through the mode); the observed count is on the upper side when het > E[het].
    upper = het * 2 * n > rare * (2 * n - rare)
    far = np.where(upper[owner], h < het[owner], h > het[owner])
    tie = (np.abs(d) < TIE_TOLERANCE) & (far | is_obs)
    w_obs = np.add.reduceat(np.where(is_obs, w, 0.0), starts)
    tail = np.add.reduceat(np.where(d < TIE_TOLERANCE, w, 0.0), starts)     # P(h') <= P(h)
    p = (tail - 0.5 * w_obs * np.add.reduceat(tie.astype(float), starts)) / np.add.reduceat(w, starts)
    p[n == 0] = 0.5
    return np.clip(p, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# the four filters


# --------------------------------------------------------------------------------------------
# pieces the genotype job composes (its own order: sex check, relatedness and ancestry between
# the sample and the variant filters)

def counts_over(gt: np.ndarray, cols: np.ndarray, haploid_rows: np.ndarray | None = None,
                haploid: np.ndarray | None = None, all_counts: CallCounts | None = None,
                block_rows: int = BLOCK_ROWS) -> CallCounts:
    """Per-variant ``CallCounts`` over the samples in ``cols`` (bool mask). With ``all_counts``
    (the counts over every sample) and few samples left out, the left-out columns are counted
    and subtracted, as ``filter`` does."""
    n = gt.shape[1]
    if cols.all() and all_counts is not None:
        return all_counts
    out = np.flatnonzero(~cols)
    if all_counts is not None and out.size <= n // 2:
        hap = haploid[:, out] if haploid is not None and len(haploid) else haploid
        return all_counts - count_calls(np.ascontiguousarray(gt[:, out]), haploid_rows, hap, block_rows)[0]
    kept = np.flatnonzero(cols)
    hap = haploid[:, kept] if haploid is not None and len(haploid) else haploid
    return count_calls(np.ascontiguousarray(gt[:, kept]), haploid_rows, hap, block_rows)[0]


def sample_genotype_counts(gt: np.ndarray, haploid_rows: np.ndarray | None = None,
                           haploid: np.ndarray | None = None, block_rows: int = BLOCK_ROWS
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: heterozygous calls and non-reference homozygous calls (a haploid ALT call
    counts as homozygous), as Hail's ``sample_qc`` n_het / n_hom_var."""
    m, n = gt.shape
    n_het = np.zeros(n, np.int64)
    n_hom = np.zeros(n, np.int64)
    for a in range(0, m, block_rows):
        b = min(a + block_rows, m)
        c = gt[a:b]
        one = c == 1
        hap = haploid_block(haploid_rows, haploid, a, b, n)
        if hap is not None:
            n_hom += (one & hap).sum(0)
            one &= ~hap
        n_het += one.sum(0)
        n_hom += (c == 2).sum(0)
    return n_het, n_hom


def variant_filters(counts: CallCounts, hwe_counts: CallCounts, *, geno: float, maf: float,
                    hwe: float, hwe_variants: np.ndarray | None = None, mac: int = 0) -> dict[str, np.ndarray]:
    """``--geno``, ``--maf`` (and ``--mac``: minor allele count, haploid calls counting one
    allele) over ``counts`` and ``--hwe midp`` over ``hwe_counts`` (diploid calls of the HWE
    subset; may be ``counts`` itself): call_rate, alt_af, maf, mac, p_hwe and the pass flags,
    with PLINK's thresholds (module docstring)."""
    m = len(counts.n_missing)
    pass_geno = counts.n_missing <= max_missing(counts.n_samples, geno)
    af = alt_allele_freq(counts)
    mf = minor_allele_freq(af)
    minor_count = np.minimum(counts.alt_allele_count, counts.allele_number - counts.alt_allele_count)
    pass_maf = ~(mf < maf * (1 - SMALL_EPSILON)) & (minor_count >= mac)
    p = np.full(m, np.nan)
    test = (hwe_counts.hom_ref + hwe_counts.het + hwe_counts.hom_alt) > 0
    if hwe_variants is not None:
        test &= hwe_variants
    idx = np.flatnonzero(test)
    p[idx] = hwe_midp(hwe_counts.het[idx], hwe_counts.hom_ref[idx], hwe_counts.hom_alt[idx])
    pass_hwe = ~(p < np.exp(np.log(hwe) * (1 + SMALL_EPSILON))) if hwe > 0 else np.ones(m, bool)
    return {"call_rate": call_rate(counts), "alt_af": af, "maf": mf, "mac": minor_count, "p_hwe": p,
            "n_called": counts.n_called, "pass_call_rate": pass_geno, "pass_maf": pass_maf,
            "pass_hwe": pass_hwe, "qc_pass": pass_geno & pass_maf & pass_hwe}
