"""VCF -> Hail MatrixTable: contigs of all files combined, multi-allelic sites split."""
from __future__ import annotations

import hail as hl

from genomics.vcf_checks import compression_of


def import_genotypes(paths: list[str], reference_genome: str, min_partitions: int = 4) -> hl.MatrixTable:
    """Import VCFs (same samples in each) as one MatrixTable with biallelic rows.

    Rows: ``locus``, ``alleles`` (split), ``rsid``, ``old_locus``/``old_alleles`` (the original
    site), ``a_index``, ``was_split``. Entries: ``GT``. Bgzipped files are read in parallel;
    plain-gzip files cannot be split and are read whole.
    """
    kinds = {compression_of(p) for p in paths}
    mt = hl.import_vcf(
        paths,
        reference_genome=reference_genome,
        force_bgz="bgzf" in kinds and "gzip" not in kinds,
        force="gzip" in kinds,
        min_partitions=min_partitions,
        array_elements_required=False,
        call_fields=["GT"],
    )
    mt = mt.select_entries("GT")
    mt = mt.select_rows("rsid")
    mt = hl.split_multi_hts(mt, keep_star=False)
    return mt
