"""VCF -> Hail MatrixTable: contigs of all files combined, multi-allelic sites split,
symbolic alleles dropped, and Hail's parse failures turned into ``InputDataError``.

Use with ``genomics.vcf_inputs.prepare_vcfs`` (which makes every input bgzipped or plain and
decides the contig renaming)::

    prep = prepare_vcfs(vcfs, work_dir, reference_genome)
    mt, counts = import_genotypes_with_counts(prep.paths, reference_genome, min_partitions,
                                              contig_recoding=prep.contig_recoding,
                                              sources=prep.source_of)
    with hail_input_errors(prep.paths, sources=prep.source_of):
        mt = mt.checkpoint(out, overwrite=True)

Hail reads lazily: a malformed line surfaces at the first action that parses it, so that
action (here the checkpoint) belongs inside ``hail_input_errors``.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import hail as hl

from genomics.errors import InputDataError
from genomics.vcf_checks import compression_of, file_kind, find_first_problem

# Raised from inside Hail (hl.case().or_error) for records Hail would otherwise accept silently.
GUARD_TAG = "genolake-vcf-guard"

# Substrings of Hail errors that mean "the input file could not be parsed".
_PARSE_MARKERS = ("VCFParseError", "error while parsing", "MalformedInput", "GZIP", "ZipException",
                  "EOFException", "BGZF", "BlockCompressed", "unexpected end of", GUARD_TAG)


@dataclass
class IngestCounts:
    """Counts from one row-only pass over the inputs (no genotypes parsed)."""

    n_records: int = 0                  # data lines (VCF records) in all files
    n_skipped_invalid_locus: int = 0    # records skipped: contig not in the reference, or POS past its end
    skipped_by_contig: dict[str, int] = field(default_factory=dict)
    n_no_alt: int = 0                   # records with ALT '.', dropped (nothing to split)
    n_multiallelic: int = 0             # records with 2+ ALT alleles, split
    n_alt_alleles: int = 0              # ALT alleles of the records kept
    n_dropped_star: int = 0             # '*' (spanning deletion) alleles dropped
    n_dropped_symbolic: int = 0         # '<DEL>', '<*>', '<NON_REF>', … alleles dropped
    n_dropped_breakend: int = 0         # breakend alleles ('A[2:321[', '.A', …) dropped
    n_rows: int = 0                     # biallelic rows in the MatrixTable

    def as_dict(self) -> dict:
        return asdict(self)


def import_genotypes(paths: list[str], reference_genome: str, min_partitions: int = 4, *,
                     contig_recoding: dict[str, str] | None = None,
                     skip_invalid_loci: bool = True) -> hl.MatrixTable:
    """Import VCFs (same samples in each) as one MatrixTable with biallelic rows (lazy).

    Rows: ``locus``, ``alleles`` (split), ``rsid``, ``old_locus``/``old_alleles`` (the original
    site), ``a_index``, ``was_split``. Entries: ``GT`` (missing where absent; a half-call such as
    ``./1`` is missing, as Hail reads it; haploid and phased calls are kept as they are).
    Dropped: records on contigs not in the reference or past a contig's end
    (``skip_invalid_loci``), ALT '.', and split rows whose ALT is a star, symbolic or breakend
    allele. A record with an empty REF or ALT allele fails the action that reads it (Hail would
    take it as is). Bgzipped and plain files are read in parallel; plain-gzip files cannot be
    split and are read whole (``prepare_vcfs`` recompresses them); BCF must go through
    ``prepare_vcfs``.
    """
    mt = _read(paths, reference_genome, min_partitions, contig_recoding, skip_invalid_loci)
    if "GT" not in mt.entry:                 # sites-only input, or no GT in FORMAT
        mt = mt.annotate_entries(GT=hl.missing(hl.tcall))
    mt = mt.select_entries("GT")
    mt = mt.select_rows("rsid")
    mt = mt.filter_rows(_guard(mt.locus.position, mt.alleles))
    # split_multi, not split_multi_hts: the latter drops old_locus/old_alleles. GT is downcoded
    # as split_multi_hts does (1/2 -> 0/1 for either ALT; phase and ploidy kept).
    mt = hl.split_multi(mt, keep_star=False)
    mt = mt.annotate_entries(GT=hl.downcode(mt.GT, mt.a_index))
    mt = mt.filter_rows(allele_class(mt.alleles[1]) == "ok")
    return mt


def import_genotypes_with_counts(paths: list[str], reference_genome: str, min_partitions: int = 4, *,
                                 contig_recoding: dict[str, str] | None = None,
                                 sources: dict[str, str] | None = None
                                 ) -> tuple[hl.MatrixTable, IngestCounts]:
    """``import_genotypes`` plus ``count_records`` (one row-only aggregation, run now, with parse
    failures mapped to ``InputDataError``). ``counts.n_rows`` equals the MatrixTable's row count."""
    mt = import_genotypes(paths, reference_genome, min_partitions, contig_recoding=contig_recoding)
    counts = count_records(paths, reference_genome, min_partitions, contig_recoding=contig_recoding,
                           sources=sources)
    return mt, counts


def count_records(paths: list[str], reference_genome: str, min_partitions: int = 4, *,
                  contig_recoding: dict[str, str] | None = None,
                  sources: dict[str, str] | None = None) -> IngestCounts:
    """What ``import_genotypes`` keeps and drops, from one aggregation over the records' first
    five columns (samples are not parsed). The inputs are read without a reference so that the
    records Hail would skip can be counted. Raises ``InputDataError`` for a malformed record met
    on the way (non-numeric or non-positive POS, empty REF/ALT, an unreadable stream)."""
    rg = hl.get_reference(reference_genome)
    raw = _read(paths, None, min_partitions, contig_recoding, False, drop_samples=True)
    rows = raw.rows()
    rows = rows.filter(_guard(rows.locus.position, rows.alleles))
    classes = rows.alleles[1:].map(allele_class)
    # Per-record numbers first, then plain sums: a small aggregation (Hail compiles it quickly).
    rows = rows.select(
        contig=rows.locus.contig,
        valid=hl.is_valid_locus(rows.locus.contig, rows.locus.position, rg),
        n_alts=hl.len(classes),
        n_star=classes.filter(lambda c: c == "star").length(),
        n_symbolic=classes.filter(lambda c: c == "symbolic").length(),
        n_breakend=classes.filter(lambda c: c == "breakend").length(),
    )
    v = rows.valid

    def kept_sum(x):
        return hl.agg.sum(hl.if_else(v, x, 0))

    expr = hl.struct(
        n_records=hl.agg.count(),
        skipped=hl.agg.filter(~v, hl.agg.counter(rows.contig)),
        n_no_alt=hl.agg.count_where(v & (rows.n_alts == 0)),
        n_multi=hl.agg.count_where(v & (rows.n_alts > 1)),
        n_alts=kept_sum(rows.n_alts), n_star=kept_sum(rows.n_star),
        n_symbolic=kept_sum(rows.n_symbolic), n_breakend=kept_sum(rows.n_breakend),
    )
    with hail_input_errors(paths, sources):
        r = rows.aggregate(expr)
    skipped = {k: int(n) for k, n in r.skipped.items()}
    dropped = int(r.n_star) + int(r.n_symbolic) + int(r.n_breakend)
    return IngestCounts(
        n_records=int(r.n_records), n_skipped_invalid_locus=sum(skipped.values()),
        skipped_by_contig=skipped, n_no_alt=int(r.n_no_alt), n_multiallelic=int(r.n_multi),
        n_alt_alleles=int(r.n_alts), n_dropped_star=int(r.n_star),
        n_dropped_symbolic=int(r.n_symbolic), n_dropped_breakend=int(r.n_breakend),
        n_rows=int(r.n_alts) - dropped)


def allele_class(a: hl.StringExpression) -> hl.StringExpression:
    """'star' (``*``), 'symbolic' (``<…>``), 'breakend' (``A[2:321[``, ``.A``, ``A.``) or 'ok'."""
    return (hl.case()
            .when(a == "*", "star")
            .when(a.startswith("<"), "symbolic")
            .when(a.contains("[") | a.contains("]") | a.startswith(".") | a.endswith("."), "breakend")
            .default("ok"))


def _guard(position, alleles) -> hl.BooleanExpression:
    """True for a well-formed record; an error (tagged GUARD_TAG) for one Hail would take silently."""
    ok = (position >= 1) & hl.all(lambda a: hl.len(a) > 0, alleles)
    return hl.case().when(ok, True).or_error(
        f"{GUARD_TAG}: a record has a non-positive POS or an empty REF/ALT allele")


def _read(paths, reference_genome, min_partitions, contig_recoding, skip_invalid_loci,
          drop_samples=False) -> hl.MatrixTable:
    kinds = set()
    for p in paths:
        if file_kind(p).startswith("bcf"):
            raise InputDataError(p, "BCF cannot be read by Hail: convert it first "
                                    "(genomics.vcf_inputs.prepare_vcfs)")
        kinds.add(compression_of(p))
    return hl.import_vcf(
        paths,
        reference_genome=reference_genome,
        contig_recoding=contig_recoding or None,
        skip_invalid_loci=skip_invalid_loci,
        force_bgz="bgzf" in kinds and "gzip" not in kinds,
        force="gzip" in kinds,
        min_partitions=min_partitions,
        array_elements_required=False,
        call_fields=["GT"],
        drop_samples=drop_samples,
    )


@contextmanager
def hail_input_errors(paths: list[str], sources: dict[str, str] | None = None):
    """Turn a Hail failure to parse an input into ``InputDataError`` (file, line, problem).

    Around any Hail action over a MatrixTable imported from ``paths`` (``sources`` maps each path
    to the file as given, e.g. ``PreparedInputs.source_of``). On ``FatalError``/``HailUserError``
    the streaming validator runs over the file(s) Hail names (all, if it names none) and the
    first malformed line is raised. If the validator finds none but the failure was a parse
    failure, a generic ``InputDataError`` names the file; any other failure (memory, Spark) is
    re-raised as it is. Hail's message, which quotes the offending line, is never passed on.
    """
    from hail.utils.java import FatalError, HailUserError
    try:
        yield
    except (FatalError, HailUserError) as e:
        err = _input_error_for(str(e), list(paths), sources or {})
        if err is None:
            raise
        raise err from None


def _input_error_for(message: str, paths: list[str], sources: dict[str, str]) -> InputDataError | None:
    named = [p for p in paths if os.path.abspath(p) in message]
    if not named and not any(m in message for m in _PARSE_MARKERS):
        return None                        # not about the inputs: memory, Spark, a bug
    # Hail names the file it failed in (a path that is a prefix of another, a.vcf / a.vcf.gz,
    # may be named too: harmless); a guard error names none, so every file is checked in order.
    for p in named or paths:
        try:
            found = find_first_problem(p)
        except InputDataError as e:       # the file vanished meanwhile
            return e
        if found is not None:
            src = sources.get(p, p)
            problem = found[1]
            if src != p and _is_bcf(src):
                problem += " (line numbers count the VCF text converted from this BCF)"
            return InputDataError(src, problem, line=found[0])
    p = named[0] if named else paths[0]
    where = "" if named or len(paths) == 1 else f" (or another of the {len(paths)} inputs)"
    return InputDataError(sources.get(p, p), "Hail could not parse this file, but no malformed "
                          f"line was found{where}; see the Hail log")


def _is_bcf(path: str) -> bool:
    try:
        return file_kind(path).startswith("bcf")
    except (OSError, InputDataError):
        return False
