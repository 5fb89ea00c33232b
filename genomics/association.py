"""Genome-wide association: linear regression for quantitative traits, logistic (Wald) for
binary ones, with covariates, one row per variant and trait in GWAS-SSF naming."""
from __future__ import annotations

from dataclasses import dataclass

import hail as hl

GWAS_COLUMNS = ["trait", "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                "odds_ratio", "standard_error", "p_value", "effect_allele_frequency", "n", "variant_id"]


@dataclass(frozen=True)
class Trait:
    name: str
    type: str      # "quantitative" | "binary"
    column: str    # the column-field of ``mt`` holding the phenotype


def run_gwas(mt: hl.MatrixTable, traits: list[Trait], covariates: list[str]) -> hl.Table:
    """Association of the alternate-allele dosage with each trait.

    ``mt``: biallelic rows keyed by ``locus``, ``alleles``; entry ``GT``; column fields for each
    trait's ``column`` and each covariate (numeric; missing values drop the sample for that
    trait). The model is ``y ~ 1 + covariates + dosage`` (missing dosages mean-imputed, as in
    Hail). Returns an unkeyed Table with ``GWAS_COLUMNS``: ``beta``/``standard_error`` of the
    dosage (log odds ratio for binary traits), ``odds_ratio`` (binary only, else missing),
    ``effect_allele`` = the alternate allele, ``effect_allele_frequency`` and ``n`` counted
    over the samples with a call and a complete phenotype for the trait.
    """
    if not traits:
        raise ValueError("run_gwas: found no traits")
    for name in [t.column for t in traits] + list(covariates):
        if name not in mt.col:
            raise ValueError(f"run_gwas: column field {name!r} is not in the MatrixTable")
    x = mt.GT.n_alt_alleles()
    cov_exprs = [hl.float64(mt[c]) for c in covariates]

    def complete(t: Trait):
        return hl.is_defined(mt[t.column]) & hl.all(*[hl.is_defined(c) for c in cov_exprs]) if cov_exprs \
            else hl.is_defined(mt[t.column])

    mt = mt.annotate_rows(_stats=hl.struct(**{
        t.name: hl.agg.filter(complete(t) & hl.is_defined(x),
                              hl.struct(n=hl.agg.count(), ac=hl.agg.sum(x)))
        for t in traits}))
    x = mt.GT.n_alt_alleles()
    covs = [1.0, *[hl.float64(mt[c]) for c in covariates]]
    tables = []
    for t in traits:
        y = hl.float64(mt[t.column])
        if t.type == "quantitative":
            ht = hl.linear_regression_rows(y=y, x=x, covariates=covs, pass_through=["_stats"])
        elif t.type == "binary":
            ht = hl.logistic_regression_rows(test="wald", y=y, x=x, covariates=covs, pass_through=["_stats"])
        else:
            raise ValueError(f"run_gwas: unknown trait type {t.type!r} for {t.name!r}")
        ht = ht.key_by()
        st = ht._stats[t.name]
        odds = hl.exp(ht.beta) if t.type == "binary" else hl.missing(hl.tfloat64)
        ht = ht.select(
            trait=t.name,
            chromosome=ht.locus.contig,
            base_pair_location=ht.locus.position,
            effect_allele=ht.alleles[1],
            other_allele=ht.alleles[0],
            beta=ht.beta,
            odds_ratio=odds,
            standard_error=ht.standard_error,
            p_value=ht.p_value,
            effect_allele_frequency=hl.float64(st.ac) / hl.float64(2 * st.n),
            n=hl.int64(st.n),
            variant_id=hl.delimit([ht.locus.contig, hl.str(ht.locus.position), ht.alleles[0], ht.alleles[1]], ":"),
        )
        tables.append(ht)
    return tables[0].union(*tables[1:]) if len(tables) > 1 else tables[0]


def annotate_phenotypes(mt: hl.MatrixTable, pheno: hl.Table) -> hl.MatrixTable:
    """Keep the samples in ``pheno`` (keyed like ``mt.s``) and add its fields as column fields;
    float NaN (how pandas marks a missing value) becomes a missing value."""
    pheno = pheno.annotate(**{k: hl.or_missing(~hl.is_nan(v), v) for k, v in pheno.row_value.items()
                              if v.dtype == hl.tfloat64})
    mt = mt.semi_join_cols(pheno)
    return mt.annotate_cols(**pheno[mt.s])
