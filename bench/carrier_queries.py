"""Carrier-query latency on the ``genotype_calls`` Delta table, polars vs DuckDB, in one process.

    .venv/bin/python bench/carrier_queries.py [--lake results/lake] [--build-lake /tmp/carrier_bench_lake]
        [--repeats 20] [--by-participant] [--plain-dataset] [--rebuild] [--out bench/out/carrier_queries.tsv]

Uses ``<lake>/genotype_calls`` when it exists, else ``<build-lake>/genotype_calls``; with
``--rebuild`` (e.g. another ``--row-group-size``) rewrites ``<lake>/genotype_calls`` into
``--build-lake`` (never into ``--lake``) with the genotype job's writer, ``write_calls_tables``.
Each query runs once to warm up, then ``--repeats`` times on different, randomly drawn
variants / participants; the median and max wall time (ms) go to stdout and the TSV, with the
table's row count and size on disk. ``--by-participant`` adds ``variants_of`` on the optional
participant-major companion table; ``--plain-dataset`` adds the queries on
``DeltaTable(path).to_pyarrow_dataset()`` as delta-rs returns it (no footer cache, no
dictionaries, delta-rs's Python file system).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pandas as pd  # noqa: E402

from genomics.carriers import carriers_of, variants_of  # noqa: E402
from jobs.carriers_io import (ROW_GROUP_SIZE, layout_summary, open_calls_dataset,  # noqa: E402
                              write_calls_by_participant, write_calls_tables)
from jobs.lake import open_lake  # noqa: E402

NAME = "genotype_calls"
COMPANION = "genotype_calls_by_participant"
WHOLE = 2**31 - 1


def start_hail(lake_root: str):
    import warnings
    warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11")
    import hail as hl
    tmp = os.path.join(lake_root, "_hail_tmp")
    os.makedirs(tmp, exist_ok=True)
    hl.init(master="local[2]", quiet=True, idempotent=True, default_reference="GRCh38",
            log=os.path.join(tmp, "hail.log"), tmp_dir=tmp, local_tmpdir=tmp,
            spark_conf={"spark.driver.memory": "4g", "spark.ui.enabled": "false",
                        "spark.ui.showConsoleProgress": "false", "spark.local.dir": tmp,
                        "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"})
    hl.spark_context().setLogLevel("ERROR")
    return hl


def build(source: str | None, lake_root: str, row_group_size: int, companion: bool) -> dict:
    """``genotype_calls`` of the lake ``source`` rewritten by the genotype job's writer into
    ``lake_root`` (when ``source``), one chromosome at a time, and the participant-major companion
    (when ``companion``; Spark re-sorts it). Returns seconds."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    secs, lake = {}, open_lake(lake_root)
    if source:
        t0 = time.time()
        ds = open_calls_dataset(open_lake(source))
        chroms = pc.unique(ds.to_table(columns=["chromosome"]).column("chromosome")).to_pylist()
        v = write_calls_tables(lake, (ds.to_table(filter=pads.field("chromosome") == str(c)) for c in chroms),
                               row_group_size=row_group_size)
        secs[NAME] = time.time() - t0
        print(f"built {lake.path(NAME)} (version {v}) in {secs[NAME]:.1f}s", file=sys.stderr)
    if companion:
        hl = start_hail(lake_root)          # write_calls_by_participant re-sorts with Spark
        t0 = time.time()
        v = write_calls_by_participant(lake, row_group_size=row_group_size)
        secs[COMPANION] = time.time() - t0
        print(f"built {lake.path(COMPANION)} (version {v}) in {secs[COMPANION]:.1f}s", file=sys.stderr)
        hl.stop()
    return secs


def dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def sample_calls(ds, n: int, seed: int = 7) -> list[dict]:
    """``n`` random calls, each read from a random row group (no full scan). A variant is
    drawn in proportion to its carriers, a participant about uniformly."""
    rng = random.Random(seed)
    frags = list(ds.get_fragments())
    out = []
    while len(out) < n:
        frag = rng.choice(frags)
        t = rng.choice(frag.split_by_row_group()).to_table(schema=ds.schema)
        out.append(t.slice(rng.randrange(t.num_rows), 1).to_pylist()[0])
    return out


def timed(fn, args_list):
    fn(*args_list[0])                      # warm-up
    ms, rows = [], []
    for args in args_list:
        t0 = time.perf_counter()
        res = fn(*args)
        ms.append((time.perf_counter() - t0) * 1000)
        rows.append(res.height)
    return ms, rows


def describe(ds, path: str) -> dict:
    frags = list(ds.get_fragments())
    return {"table_rows": sum(f.metadata.num_rows for f in frags), "files": len(frags),
            "row_groups": sum(f.metadata.num_row_groups for f in frags), "table_mib": round(dir_size(path) / 2**20, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", default="results/lake")
    ap.add_argument("--cohort", default="example")
    ap.add_argument("--build-lake", default="/tmp/carrier_bench_lake")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--row-group-size", type=int, default=ROW_GROUP_SIZE)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--region-kb", default="100,1000", help="variants_of region widths (kb); the whole chromosome too")
    ap.add_argument("--by-participant", action="store_true",
                    help=f"also time variants_of on the participant-major companion {COMPANION} (built if absent)")
    ap.add_argument("--plain-dataset", action="store_true",
                    help="also time DeltaTable(path).to_pyarrow_dataset() as is (delta-rs file system, no footer cache)")
    ap.add_argument("--out", default="bench/out/carrier_queries.tsv")
    args = ap.parse_args(argv)

    root, build_secs = args.lake, {}
    if args.rebuild or not open_lake(root).exists(NAME):
        root = args.build_lake          # never write into --lake
    lake = open_lake(root)
    need_main = args.rebuild or not lake.exists(NAME)
    need_companion = args.by_participant and (need_main or not lake.exists(COMPANION))
    if need_companion and root == args.lake:
        print(f"{COMPANION} is not in {args.lake} and is not built there; timing without it", file=sys.stderr)
        args.by_participant = need_companion = False
    if need_main or need_companion:
        if need_main and not open_lake(args.lake).exists(NAME):
            print(f"no {NAME} in {args.lake}: run the workflow with carriers.genotype_calls: true", file=sys.stderr)
            return 2
        build_secs = build(args.lake if need_main else None, root, args.row_group_size, need_companion)

    t0 = time.perf_counter()
    ds = open_calls_dataset(lake)
    open_ms = (time.perf_counter() - t0) * 1000
    tables = {NAME: ds}
    if args.plain_dataset:
        from deltalake import DeltaTable
        tables[f"{NAME} (plain dataset)"] = DeltaTable(lake.path(NAME)).to_pyarrow_dataset()
    if args.by_participant:
        tables[COMPANION] = open_calls_dataset(lake, COMPANION)
    info = {NAME: describe(ds, lake.path(NAME))}
    print(f"{lake.path(NAME)}: {info[NAME]['table_rows']:,} rows, {info[NAME]['files']} files, "
          f"{info[NAME]['row_groups']} row groups, {info[NAME]['table_mib']} MiB on disk; "
          f"dataset opened in {open_ms:.0f} ms; layout {layout_summary(ds)}")
    if args.by_participant:
        info[COMPANION] = describe(tables[COMPANION], lake.path(COMPANION))
        print(f"{lake.path(COMPANION)}: {info[COMPANION]['table_mib']} MiB on disk, "
              f"{info[COMPANION]['row_groups']} row groups")

    probes = sample_calls(ds, args.repeats)
    carriers = {
        "carriers_of(chrom,pos,ref,alt)": (carriers_of, [(p["chromosome"], p["position"], p["ref"], p["alt"])
                                                         for p in probes]),
        "carriers_of(chrom,pos)": (carriers_of, [(p["chromosome"], p["position"]) for p in probes]),
    }
    regions = {}
    for kb in [int(x) for x in args.region_kb.split(",") if x]:
        half = kb * 500
        regions[f"variants_of({kb}kb)"] = (variants_of, [
            (p["participant"], p["chromosome"], max(1, p["position"] - half), p["position"] + half) for p in probes])
    regions["variants_of(chromosome)"] = (variants_of, [(p["participant"], p["chromosome"], 1, WHOLE) for p in probes])

    rows = []
    for tname, dset in tables.items():
        queries = regions if tname == COMPANION else {**carriers, **regions}
        for engine in ("polars", "duckdb"):
            for qname, (fn, arglist) in queries.items():
                ms, n = timed(lambda *a: fn(dset, *a, engine=engine), arglist)
                rows.append({"table": tname, "query": qname, "engine": engine, "runs": len(ms),
                             "median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1),
                             "median_rows": int(statistics.median(n)),
                             **info.get(tname.split(" ")[0], info[NAME])})
    t = pd.DataFrame(rows)
    print(t[["table", "query", "engine", "runs", "median_ms", "max_ms", "median_rows"]].to_string(index=False))
    for k, v in build_secs.items():
        print(f"build {k}: {v:.1f}s")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    t.to_csv(args.out, sep="\t", index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
