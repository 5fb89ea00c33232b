"""genotype_calls: the non-reference calls as a Delta table, and the carrier queries on it,
checked against Hail on a slice of the shared test cohort (both chromosomes)."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from genomics.carriers import carriers_of, variants_of
from jobs.carriers_io import (commit_staged_calls, layout_summary, open_calls_dataset, write_calls_by_participant,
                              write_genotype_calls)
from jobs.lake import open_lake

ENGINES = ["polars", "duckdb"]
PER_CONTIG = 1000     # variants kept per chromosome (3 in the cohort: 3,000 variants)
ROW_GROUP = 4096      # small row groups so that pruning has something to prune


@pytest.fixture(scope="module")
def small_mt(hl, cohort_mt, tmp_path_factory):
    contigs = sorted(cohort_mt.aggregate_rows(hl.agg.collect_as_set(cohort_mt.locus.contig)))
    parts = [cohort_mt.filter_rows(cohort_mt.locus.contig == c).head(PER_CONTIG) for c in contigs]
    mt = parts[0].union_rows(*parts[1:]) if len(parts) > 1 else parts[0]
    return mt.checkpoint(str(tmp_path_factory.mktemp("carriers") / "small.mt"))


@pytest.fixture(scope="module")
def calls_lake(hl, small_mt, tmp_path_factory):
    from genomics.carriers import non_ref_calls
    lake = open_lake(str(tmp_path_factory.mktemp("carrier_lake")))
    version = write_genotype_calls(lake, non_ref_calls(small_mt), row_group_size=ROW_GROUP)
    return lake, version


@pytest.fixture(scope="module")
def per_variant(hl, small_mt):
    """Hail's count of carriers (and hom-alt carriers) per variant."""
    n_alt = small_mt.GT.n_alt_alleles()
    rows = small_mt.annotate_rows(n=hl.agg.count_where(n_alt > 0), hom=hl.agg.count_where(n_alt == 2)).rows()
    rows = rows.key_by()
    return rows.select(chromosome=rows.locus.contig, position=rows.locus.position, ref=rows.alleles[0],
                       alt=rows.alleles[1], n=rows.n, hom=rows.hom).to_pandas()


def _calls(hl, mt):
    """Hail's non-ref entries of ``mt`` as a set of (s, contig, position, ref, alt, GT string)."""
    mt = mt.filter_entries(mt.GT.n_alt_alleles() > 0)
    e = mt.entries()
    return {(r.s, r.c, r.p, r.ref, r.alt, r.g) for r in
            e.select(c=e.locus.contig, p=e.locus.position, ref=e.alleles[0], alt=e.alleles[1],
                     g=hl.str(e.GT)).collect()}


def test_non_ref_calls_formats_genotypes(hl):
    """Het, hom-alt, phased and haploid calls kept with VCF-style strings; hom-ref and missing dropped."""
    from genomics.carriers import non_ref_calls
    mt = hl.utils.range_matrix_table(n_rows=1, n_cols=6)
    calls = hl.literal([hl.call(0, 1), hl.call(1, 1), hl.call(1, 0, phased=True), hl.call(1),
                        hl.call(0, 0), hl.missing(hl.tcall)])
    mt = mt.key_cols_by(s=hl.str(mt.col_idx))
    mt = mt.annotate_entries(GT=calls[mt.col_idx])
    mt = mt.key_rows_by(locus=hl.locus("chr1", 100 + mt.row_idx), alleles=["A", "G"]).drop("row_idx", "col_idx")
    got = sorted(non_ref_calls(mt).collect(), key=lambda r: r.participant)
    assert [(r.participant, r.genotype, r.n_alt) for r in got] == [("0", "0/1", 1), ("1", "1/1", 2),
                                                                  ("2", "1|0", 1), ("3", "1", 1)]
    assert {(r.chromosome, r.position, r.ref, r.alt) for r in got} == {("chr1", 100, "A", "G")}


def test_table_holds_exactly_the_non_ref_calls(hl, small_mt, calls_lake, per_variant):
    lake, version = calls_lake
    assert version == 0
    ds = open_calls_dataset(lake)
    n_hail = small_mt.aggregate_entries(hl.agg.count_where(small_mt.GT.n_alt_alleles() > 0))
    assert ds.count_rows() == n_hail > 0
    # Every variant has exactly Hail's carriers and hom-alt carriers.
    import polars as pl
    got = (pl.from_arrow(ds.to_table(columns=["chromosome", "position", "ref", "alt", "n_alt"]))
           .with_columns(pl.col(c).cast(pl.String) for c in ["ref", "alt"])
           .group_by("chromosome", "position", "ref", "alt")
           .agg(n=pl.len(), hom=(pl.col("n_alt") == 2).sum()))
    want = per_variant[per_variant["n"] > 0]
    assert {tuple(r) for r in got.select("chromosome", "position", "ref", "alt", "n", "hom").iter_rows()} == \
        {(r.chromosome, r.position, r.ref, r.alt, r.n, r.hom) for r in want.itertuples()}
    # Hand check: a few single entries, present (or absent) with the right genotype.
    e = small_mt.entries()
    e = e.filter(hl.is_defined(e.GT)).head(40).collect()
    for r in e:
        f = ((pads.field("chromosome") == r.locus.contig) & (pads.field("position") == r.locus.position)
             & (pads.field("participant") == r.s))
        rows = ds.to_table(filter=f, columns=["ref", "alt", "genotype", "n_alt"]).to_pylist()
        rows = [x for x in rows if (x["ref"], x["alt"]) == tuple(r.alleles)]
        if r.GT.n_alt_alleles() == 0:
            assert rows == []
        else:
            assert rows == [{"ref": r.alleles[0], "alt": r.alleles[1], "genotype": str(r.GT),
                             "n_alt": r.GT.n_alt_alleles()}]


def test_layout_partitions_and_sorts(calls_lake, per_variant):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    contigs = sorted(per_variant["chromosome"].unique())
    summary = layout_summary(ds)
    assert len(contigs) >= 2 and summary["chromosomes"] == contigs
    assert summary["files"] == len(contigs)                       # one file per chromosome here
    assert summary["row_groups"] > 10 and summary["max_overlap"] <= 3
    for frag in ds.get_fragments():
        keys = pads.get_partition_keys(frag.partition_expression)
        assert keys["chromosome"] in contigs and f"chromosome={keys['chromosome']}" in frag.path
        pos = frag.to_table(columns=["position"])["position"].to_numpy()
        assert np.all(np.diff(pos) >= 0)                         # sorted by position in the file
        assert frag.metadata.num_row_groups > 1
        assert frag.metadata.row_group(0).num_rows == ROW_GROUP
    assert not os.listdir(os.path.join(lake.root, "_staging"))    # staging cleaned up
    # Partition pruning: one chromosome's filter keeps only its files ...
    c = contigs[1]
    kept = list(ds.get_fragments(filter=pads.field("chromosome") == c))
    assert kept and all(pads.get_partition_keys(f.partition_expression)["chromosome"] == c for f in kept)
    # ... and a point lookup keeps one to three row groups of the partition's many.
    v = per_variant[(per_variant["chromosome"] == c) & (per_variant["n"] > 0)].iloc[len(per_variant) // 4]
    f = (pads.field("chromosome") == c) & (pads.field("position") == int(v.position))
    rgs = [rg for frag in ds.get_fragments(filter=f) for rg in frag.split_by_row_group(f, schema=ds.schema)]
    total = sum(fr.metadata.num_row_groups for fr in kept)
    assert 1 <= len(rgs) <= 3 < total


@pytest.fixture(scope="module")
def carrier_cases(hl, small_mt, per_variant):
    """Hail's carriers, as {(participant, genotype)}, of three variants (incl. the commonest)."""
    some = per_variant[per_variant["n"] > 0]
    cases = []
    for v in (some.iloc[0], some.iloc[len(some) // 2], some.sort_values("n").iloc[-1]):
        mt = small_mt.filter_rows((small_mt.locus == hl.locus(v.chromosome, int(v.position)))
                                  & (small_mt.alleles == [v.ref, v.alt]))
        cases.append((v, {(s, g) for s, *_, g in _calls(hl, mt)}))
    return cases


@pytest.fixture(scope="module")
def region_cases(hl, small_mt, per_variant):
    """Hail's calls, as {(position, ref, alt, genotype)}, of two participants in the middle
    half of each chromosome."""
    samples = small_mt.s.collect()
    who = [samples[7], samples[-1]]
    regions = []
    for c in sorted(per_variant["chromosome"].unique()):
        pos = per_variant.loc[per_variant["chromosome"] == c, "position"]
        regions.append((c, int(pos.quantile(0.25)), int(pos.quantile(0.75))))
    mt = small_mt.filter_cols(hl.literal(set(who)).contains(small_mt.s))
    mt = mt.filter_rows(hl.any([(mt.locus.contig == c) & (mt.locus.position >= a) & (mt.locus.position <= b)
                                for c, a, b in regions]))
    calls = _calls(hl, mt)
    return [((s, c, a, b), {(p, ref, alt, g) for s2, c2, p, ref, alt, g in calls if s2 == s and c2 == c})
            for s in who for c, a, b in regions]


@pytest.mark.parametrize("engine", ENGINES)
def test_carriers_of_matches_hail(calls_lake, per_variant, carrier_cases, engine):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    for v, want in carrier_cases:
        got = carriers_of(ds, v.chromosome, int(v.position), v.ref, v.alt, engine=engine)
        assert {(r["participant"], r["genotype"]) for r in got.iter_rows(named=True)} == want
        assert got.height == len(want) == v.n
        assert set(got["n_alt"].to_list()) <= {1, 2} and got["participant"].is_sorted()
    # Without alleles: every alt allele at the position.
    v = carrier_cases[1][0]
    all_alts = per_variant[(per_variant["chromosome"] == v.chromosome) & (per_variant["position"] == v.position)]
    assert carriers_of(ds, v.chromosome, int(v.position), engine=engine).height == all_alts["n"].sum()
    assert carriers_of(ds, v.chromosome, 1, engine=engine).height == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_variants_of_matches_hail(calls_lake, region_cases, engine):
    lake, _ = calls_lake
    ds = open_calls_dataset(lake)
    for (s, c, start, end), want in region_cases:
        got = variants_of(ds, s, c, start, end, engine=engine)
        assert want and {(r["position"], r["ref"], r["alt"], r["genotype"]) for r in got.iter_rows(named=True)} == want
        assert got.height == len(want) and got["position"].is_sorted()
        assert set(got["participant"].to_list()) == {s} and set(got["chromosome"].to_list()) == {c}
    assert variants_of(ds, "nobody", c, start, end, engine=engine).height == 0


def test_participant_major_companion(calls_lake, region_cases):
    """The optional companion: same rows, participant-major; variants_of gives the same answers
    while reading one or two row groups per chromosome."""
    lake, version = calls_lake
    assert write_calls_by_participant(lake, version=version, row_group_size=ROW_GROUP) == 0
    ds = open_calls_dataset(lake, "genotype_calls_by_participant")
    assert ds.count_rows() == open_calls_dataset(lake, version=version).count_rows()
    assert layout_summary(ds, "participant")["max_overlap"] <= 2
    for engine in ENGINES:
        for (s, c, start, end), want in region_cases:
            got = variants_of(ds, s, c, start, end, engine=engine)
            assert {(r["position"], r["ref"], r["alt"], r["genotype"]) for r in got.iter_rows(named=True)} == want
    (s, c, start, end), _ = region_cases[0]
    f = (pads.field("chromosome") == c) & (pads.field("participant") == s)
    assert len([rg for fr in ds.get_fragments(filter=f) for rg in fr.split_by_row_group(f, schema=ds.schema)]) <= 2


def test_rerun_overwrites_without_duplicates(hl, small_mt, calls_lake):
    from genomics.carriers import non_ref_calls
    lake, version = calls_lake
    before = open_calls_dataset(lake).count_rows()
    files_before = set(DeltaTable(lake.path("genotype_calls")).file_uris())
    assert write_genotype_calls(lake, non_ref_calls(small_mt), row_group_size=ROW_GROUP) == version + 1
    ds = open_calls_dataset(lake)
    assert ds.count_rows() == before
    dt = DeltaTable(lake.path("genotype_calls"))
    assert not files_before & set(dt.file_uris())                 # the new version replaced every file
    assert len(dt.history()) == 2
    # The previous version is still readable (time travel), with the same rows.
    assert open_calls_dataset(lake, version=version).count_rows() == before


def _stage(folder, chrom, name, positions, participant="P1"):
    """A file as Spark's partitioned write leaves it (no chromosome column)."""
    d = folder / f"chromosome={chrom}"
    d.mkdir(parents=True, exist_ok=True)
    n = len(positions)
    pq.write_table(pa.table({"participant": [participant] * n, "position": pa.array(positions, pa.int32()),
                             "ref": ["A"] * n, "alt": ["G"] * n, "genotype": ["0/1"] * n,
                             "n_alt": pa.array([1] * n, pa.int8())}), d / name)


def test_commit_lays_out_exact_row_groups_and_fails_cleanly(tmp_path):
    """No Hail: staged files (named out of position order, odd sizes) become exact, sorted
    row groups; a failing rewrite leaves the table at its version and no stray files."""
    staging, table = tmp_path / "staging", str(tmp_path / "lake" / "genotype_calls")
    _stage(staging, "chr1", "part-00000.parquet", list(range(5000, 7000)))
    _stage(staging, "chr1", "part-00001.parquet", list(range(1, 5000)))     # comes first by position
    _stage(staging, "chr2", "part-00002.parquet", list(range(100, 1100)))
    assert commit_staged_calls(table, str(staging), row_group_size=1000) == 0
    ds = open_calls_dataset(str(tmp_path / "lake"))
    assert ds.count_rows() == 7999
    for frag in ds.get_fragments():
        md = frag.metadata
        assert [md.row_group(i).num_rows for i in range(md.num_row_groups)][:-1] == [1000] * (md.num_row_groups - 1)
        assert np.all(np.diff(frag.to_table(columns=["position"])["position"].to_numpy()) > 0)
    assert layout_summary(ds)["max_overlap"] == 1
    files = {str(p) for p in (tmp_path / "lake").rglob("*.parquet")}
    # A rewrite that fails half-way (chr2's positions do not parse) commits nothing.
    bad = tmp_path / "bad"
    _stage(bad, "chr1", "part-00000.parquet", list(range(1, 3000)))
    (bad / "chromosome=chr2").mkdir()
    pq.write_table(pa.table({"participant": ["P1"], "position": ["x"], "ref": ["A"], "alt": ["G"],
                             "genotype": ["0/1"], "n_alt": pa.array([1], pa.int8())}),
                   bad / "chromosome=chr2" / "part-00001.parquet")
    with pytest.raises(Exception):
        commit_staged_calls(table, str(bad), row_group_size=1000)
    assert DeltaTable(table).version() == 0
    assert {str(p) for p in (tmp_path / "lake").rglob("*.parquet")} == files
