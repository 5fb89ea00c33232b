"""Sex check: genetic sex imputed from chrX inbreeding (as PLINK 1.9's --check-sex), compared
with the reported sex."""
from __future__ import annotations

import hail as hl


def impute_genetic_sex(mt: hl.MatrixTable, female_threshold: float = 0.2,
                       male_threshold: float = 0.8) -> hl.Table | None:
    """Per sample: ``f_stat`` (chrX non-PAR inbreeding coefficient), ``n_called``,
    ``genetic_sex`` ('F' if F < female_threshold, 'M' if F > male_threshold, else 'U'
    undetermined) — PLINK 1.9's --check-sex defaults. Returns None when the data has no
    non-PAR chrX variants."""
    x = mt.filter_rows(mt.locus.in_x_nonpar())
    if x.count_rows() == 0:
        return None
    # Haploid calls (males outside the PARs) count as homozygous, as PLINK codes them.
    gt = hl.if_else(x.GT.ploidy == 1, hl.call(x.GT[0], x.GT[0]), x.GT)
    sex = hl.impute_sex(gt, aaf_threshold=0.0, include_par=False,
                        female_threshold=female_threshold, male_threshold=male_threshold)
    return sex.select(
        f_stat=sex.f_stat, n_x_called=sex.n_called,
        genetic_sex=hl.case().when(sex.f_stat < female_threshold, "F")
                             .when(sex.f_stat > male_threshold, "M").default("U"))


def compare_sex(genetic: hl.Table, reported: dict[str, int]) -> hl.Table:
    """Add ``reported_sex`` ('M'/'F' from 1/0 codes, missing if unknown) and ``sex_mismatch``
    (reported and genetic sex both known and different; undetermined genetic sex is not a
    mismatch but is kept in ``genetic_sex`` = 'U')."""
    rep = hl.literal({k: ("M" if v == 1 else "F") for k, v in reported.items()})
    genetic = genetic.annotate(reported_sex=rep.get(genetic.s))
    return genetic.annotate(sex_mismatch=hl.is_defined(genetic.reported_sex)
                            & (genetic.genetic_sex != "U") & (genetic.genetic_sex != genetic.reported_sex))
