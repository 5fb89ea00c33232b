"""Measure three layouts for the genotype block store (issue 13 item 1) on a simulated cohort.

A random cohort (default 5,000 samples x 100,000 variants, int8 alt-allele counts with ~1 %
missing, two contigs) is cut into blocks of 10,000 variants and written as

* ``bed``:   PLINK 1 .bed/.bim/.fam per block (``genomics.plink_bed.write_bed``);
* ``pgen``:  PLINK 2 .pgen/.pvar/.psam per block (``pgenlib.PgenWriter``);
* ``delta``: a Delta table (delta-rs), one row per block (block id, contig, first/last position,
  the block's packed 2-bit genotypes as bytes), partitioned by block so one block is one file,
  plus a companion Delta table of the variants.

Measured per layout: write time, bytes on disk, the time to read one random block (all samples)
cold (the block's files dropped from the page cache with ``posix_fadvise``) and warm, the time
to read a block for a 10 % sample subset, and what a withdrawal costs: with a sample mask in a
manifest it is one small JSON rewrite for every layout (reads drop the column); the compaction
that removes the sample for good rewrites every block (timed). Each layout's read-back is
checked against the matrix. A fourth row, ``pgen_store``, times the chosen layout as built
(``jobs.genotype_store``: manifest, sha256 check of a block's files on first read, Parquet
variants). ``plink2 --freq counts`` on the first .bed and .pgen block must
give numpy's ALT allele counts. Writes ``bench/out/genotype_store_layout.tsv`` and prints it.

    python bench/genotype_store_layout.py [--samples 5000 --variants 100000 --block 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from genomics import plink_bed  # noqa: E402


def simulate_cohort(n_samples: int, n_variants: int, seed: int = 1):
    """(gt int8 variants x samples, -1 missing ~1 %; variants table; sample ids)."""
    rng = np.random.default_rng(seed)
    gt = np.empty((n_variants, n_samples), np.int8)
    step = 5000
    for a in range(0, n_variants, step):
        b = min(a + step, n_variants)
        af = rng.uniform(0.02, 0.5, size=(b - a, 1))
        g = rng.binomial(2, af, size=(b - a, n_samples)).astype(np.int8)
        g[rng.random((b - a, n_samples), dtype=np.float32) < 0.01] = -1
        gt[a:b] = g
    n1 = int(n_variants * 0.6)
    contig = np.array(["1"] * n1 + ["2"] * (n_variants - n1))
    pos = np.concatenate([np.arange(1, n1 + 1) * 100, np.arange(1, n_variants - n1 + 1) * 100])
    variants = pd.DataFrame({"contig": contig, "position": pos, "ref": "A", "alt": "G"})
    samples = [f"S{i:06d}" for i in range(n_samples)]
    return gt, variants, samples


def _drop_cache(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _files_under(path):
    return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]


def _du(path):
    return sum(os.path.getsize(p) for p in _files_under(path))


# ---- (a) PLINK 1 .bed per block ----------------------------------------------------------------
class BedLayout:
    name = "bed"

    def __init__(self, root, samples):
        self.root, self.samples, self.n = root, samples, len(samples)

    def write(self, gt, variants, blocks):
        for k, (a, b) in enumerate(blocks):
            plink_bed.write_bed(self.prefix(k), gt, variants, self.samples, rows=np.arange(a, b))

    def prefix(self, k):
        return os.path.join(self.root, f"block_{k:05d}")

    def files(self, k):
        return [self.prefix(k) + ".bed"]

    def read(self, k, nrows, cols=None):
        return plink_bed.read_bed_rows(self.prefix(k), self.n, 0, nrows, cols)


# ---- (b) PLINK 2 .pgen per block ---------------------------------------------------------------
class PgenLayout:
    name = "pgen"

    def __init__(self, root, samples):
        self.root, self.samples, self.n = root, samples, len(samples)

    def prefix(self, k):
        return os.path.join(self.root, f"block_{k:05d}")

    def files(self, k):
        return [self.prefix(k) + ".pgen"]

    def write(self, gt, variants, blocks):
        import pgenlib
        for k, (a, b) in enumerate(blocks):
            p = self.prefix(k)
            with pgenlib.PgenWriter(p.encode() + b".pgen", self.n, variant_ct=b - a, nonref_flags=False) as w:
                w.append_biallelic_batch(np.ascontiguousarray(gt[a:b]))
            v = variants.iloc[a:b]
            pd.DataFrame({"#CHROM": v["contig"], "POS": v["position"], "ID": plink_bed.variant_ids(v),
                          "REF": v["ref"], "ALT": v["alt"]}).to_csv(p + ".pvar", sep="\t", index=False)
            pd.DataFrame({"#IID": self.samples, "SEX": "NA"}).to_csv(p + ".psam", sep="\t", index=False)

    def read(self, k, nrows, cols=None):
        import pgenlib
        subset = None if cols is None else np.asarray(cols, np.uint32)
        width = self.n if cols is None else len(subset)
        out = np.empty((nrows, width), np.int8)
        with pgenlib.PgenReader(self.prefix(k).encode() + b".pgen", raw_sample_ct=self.n,
                                sample_subset=subset) as r:
            r.read_range(0, nrows, out)
        out[out < 0] = -1
        return out


# ---- (c) Delta table of packed blocks ----------------------------------------------------------
class DeltaLayout:
    name = "delta"

    def __init__(self, root, samples):
        self.root, self.samples, self.n = root, samples, len(samples)
        self.blocks_path = os.path.join(root, "blocks")
        self.variants_path = os.path.join(root, "variants")

    def write(self, gt, variants, blocks):
        import pyarrow as pa
        from deltalake import write_deltalake
        for k, (a, b) in enumerate(blocks):
            packed = plink_bed.pack_bed_rows(gt[a:b])
            v = variants.iloc[a:b]
            t = pa.table({"block_id": pa.array([k], pa.int32()), "contig": [str(v["contig"].iloc[0])],
                          "first_position": [int(v["position"].iloc[0])],
                          "last_position": [int(v["position"].iloc[-1])],
                          "n_variants": pa.array([b - a], pa.int32()), "n_samples": pa.array([self.n], pa.int32()),
                          "genotypes": pa.array([packed.tobytes()], pa.large_binary())})
            write_deltalake(self.blocks_path, t, mode="append", partition_by=["block_id"])
        vt = variants.assign(block_id=np.repeat(np.arange(len(blocks)), [b - a for a, b in blocks]).astype(np.int32))
        write_deltalake(self.variants_path, pa.Table.from_pandas(vt, preserve_index=False), mode="overwrite")

    def files(self, k):
        return [p for p in _files_under(self.blocks_path) if f"block_id={k}/" in p]

    def read(self, k, nrows, cols=None):
        from deltalake import DeltaTable
        t = DeltaTable(self.blocks_path).to_pyarrow_table(columns=["genotypes", "n_variants"],
                                                         filters=[("block_id", "=", k)])
        raw = np.frombuffer(t.column("genotypes")[0].as_py(), np.uint8).reshape(nrows, -1)
        if cols is not None:
            cols = np.asarray(cols)
            lut = plink_bed._COUNT_OF_CODE
            return lut[(raw[:, cols // 4] >> (2 * (cols % 4)).astype(np.uint8)) & 3]
        return plink_bed._BYTE_LUT[raw].reshape(nrows, -1)[:, :self.n]


def _timed(fn, repeat=1):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def _plink2_alt_counts(flag, prefix, workdir):
    out = os.path.join(workdir, os.path.basename(prefix) + "_" + flag.strip("-"))
    subprocess.run(["plink2", flag, prefix, "--freq", "counts", "--out", out, "--threads", "1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return pd.read_csv(out + ".acount", sep="\t")["ALT_CTS"].to_numpy()


def measure_layout(layout, gt, variants, blocks, rng, tmp):
    """One row of the table for ``layout``."""
    os.makedirs(layout.root, exist_ok=True)
    t_write, _ = _timed(lambda: layout.write(gt, variants, blocks))
    k = int(rng.integers(len(blocks)))
    a, b = blocks[k]
    _drop_cache(layout.files(k))
    t_cold, g = _timed(lambda: layout.read(k, b - a))
    if not np.array_equal(g, gt[a:b]):
        raise AssertionError(f"{layout.name}: block {k} read back differs from the matrix")
    t_warm, _ = _timed(lambda: layout.read(k, b - a), repeat=3)
    cols = np.sort(rng.choice(gt.shape[1], gt.shape[1] // 10, replace=False))
    t_sub, g = _timed(lambda: layout.read(k, b - a, cols), repeat=3)
    if not np.array_equal(g, gt[a:b][:, cols]):
        raise AssertionError(f"{layout.name}: subset read of block {k} differs from the matrix")
    # withdrawal: a mask in the manifest (one small JSON rewrite) ...
    manifest = os.path.join(layout.root, "manifest.json")
    t_mask, _ = _timed(lambda: _write_json(manifest, {"withdrawn": [layout.samples[0]]}))
    # ... or a compaction: every block read without the sample and written again
    keep = np.arange(1, gt.shape[1])
    compact = type(layout)(os.path.join(tmp, layout.name + "_compact"), layout.samples[1:])
    os.makedirs(compact.root, exist_ok=True)

    def rewrite():
        for j, (c, d) in enumerate(blocks):
            g = layout.read(j, d - c, keep)
            _write_one(compact, j, g, variants.iloc[c:d].reset_index(drop=True))
    t_compact, _ = _timed(rewrite)
    row = {"layout": layout.name, "n_blocks": len(blocks), "write_s": t_write, "bytes_on_disk": _du(layout.root),
           "read_block_cold_s": t_cold, "read_block_warm_s": t_warm, "read_block_10pct_samples_s": t_sub,
           "withdraw_mask_s": t_mask, "withdraw_compact_rewrite_s": t_compact}
    shutil.rmtree(compact.root, ignore_errors=True)
    return row


def measure_store(gt, variants, samples, block, rng, tmp):
    """The row of the chosen layout as built: ``jobs.genotype_store`` (write_store, BlockSource
    with every block file checked against the manifest's sha256 on first read, withdraw_samples,
    compact_store)."""
    from genomics.genotype_arrays import GenotypeArrays, ReadCounts
    from jobs import genotype_store as gs
    ga = GenotypeArrays(samples=samples, variants=variants, gt=gt, haploid_rows=np.zeros(0, np.int64),
                        haploid=np.zeros((0, len(samples)), bool), counts=ReadCounts())
    lake = os.path.join(tmp, "lake")
    t_write, path = _timed(lambda: gs.write_store(ga, lake, "bench", target_variants=block))
    src = gs.BlockSource(path)
    k = int(rng.integers(src.n_blocks))
    a, b = src.blocks.loc[k, ["start", "stop"]]
    _drop_cache([os.path.join(path, f) for f in src.manifest["blocks"][k]["files"].values()])
    t_cold, (_, g, _) = _timed(lambda: src.read_block(k))           # includes the sha256 check
    if not np.array_equal(g, gt[a:b]):
        raise AssertionError(f"pgen_store: block {k} read back differs from the matrix")
    t_warm, _ = _timed(lambda: gs.BlockSource(path).read_block(k), repeat=3)   # a fresh source: checked again
    cols = np.sort(rng.choice(len(samples), len(samples) // 10, replace=False))
    t_sub, (_, g, _) = _timed(lambda: src.read_block(k, cols), repeat=3)
    if not np.array_equal(g, gt[a:b][:, cols]):
        raise AssertionError(f"pgen_store: subset read of block {k} differs from the matrix")
    files = src.manifest["blocks"][0]["files"]
    out = os.path.join(tmp, "store_b0")
    subprocess.run(["plink2", "--pgen", os.path.join(path, files["pgen"]), "--pvar", os.path.join(path, files["pvar"]),
                    "--psam", os.path.join(path, gs.SAMPLES), "--freq", "counts", "--out", out, "--threads", "1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c, d = src.blocks.loc[0, ["start", "stop"]]
    plink2_ok = bool(np.array_equal(pd.read_csv(out + ".acount", sep="\t")["ALT_CTS"].to_numpy(),
                                    np.where(gt[c:d] >= 0, gt[c:d], 0).sum(1)))
    t_mask, _ = _timed(lambda: gs.withdraw_samples(path, [samples[0]]))
    t_compact, _ = _timed(lambda: gs.compact_store(path))
    row = {"layout": "pgen_store", "n_blocks": src.n_blocks, "write_s": t_write, "bytes_on_disk": _du(path),
           "read_block_cold_s": t_cold, "read_block_warm_s": t_warm, "read_block_10pct_samples_s": t_sub,
           "withdraw_mask_s": t_mask, "withdraw_compact_rewrite_s": t_compact, "plink2_ok": plink2_ok}
    shutil.rmtree(lake, ignore_errors=True)
    return row


def _write_one(layout, k, g, v):
    """Write ``g`` (one block) as block ``k`` of ``layout``."""
    if isinstance(layout, DeltaLayout):
        import pyarrow as pa
        from deltalake import write_deltalake
        t = pa.table({"block_id": pa.array([k], pa.int32()), "n_variants": pa.array([len(g)], pa.int32()),
                      "genotypes": pa.array([plink_bed.pack_bed_rows(g).tobytes()], pa.large_binary())})
        write_deltalake(layout.blocks_path, t, mode="append", partition_by=["block_id"])
        return
    orig = layout.prefix
    layout.prefix = lambda _k: orig(k)
    try:
        layout.write(g, v, [(0, len(g))])
    finally:
        layout.prefix = orig


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def check_plink2(bed, pgen, gt, blocks):
    """plink2 --freq counts on block 0 of the .bed and .pgen layouts equals numpy's ALT counts."""
    a, b = blocks[0]
    g = gt[a:b]
    expect = np.where(g >= 0, g, 0).sum(1)
    res = {}
    with tempfile.TemporaryDirectory() as w:
        for name, flag, prefix in (("bed", "--bfile", bed.prefix(0)), ("pgen", "--pfile", pgen.prefix(0))):
            got = _plink2_alt_counts(flag, prefix, w)
            res[name] = bool(np.array_equal(got, expect))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--block", type=int, default=10_000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "genotype_store_layout.tsv"))
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    gt, variants, samples = simulate_cohort(args.samples, args.variants)
    print(f"simulated {args.samples} x {args.variants} in {time.perf_counter() - t0:.1f}s", flush=True)
    blocks = [(a, min(a + args.block, args.variants)) for a in range(0, args.variants, args.block)]
    tmp = tempfile.mkdtemp(prefix="gstore_", dir=args.workdir)
    rng = np.random.default_rng(7)
    try:
        layouts = [cls(os.path.join(tmp, cls.name), samples) for cls in (BedLayout, PgenLayout, DeltaLayout)]
        rows = []
        for lay in layouts:
            rows.append(measure_layout(lay, gt, variants, blocks, rng, tmp))
            print(f"{lay.name}: done", flush=True)
        rows.append(measure_store(gt, variants, samples, args.block, rng, tmp))
        print("pgen_store: done", flush=True)
        ok = check_plink2(layouts[0], layouts[1], gt, blocks)
        ok["pgen_store"] = rows[-1].pop("plink2_ok")
        for r in rows:
            r["plink2_freq_matches_numpy"] = ok.get(r["layout"], "n/a (not a PLINK file)")
        table = pd.DataFrame(rows)
        table.insert(1, "cohort", f"{args.samples}x{args.variants}")
        table.insert(2, "block_variants", args.block)
        table["raw_int8_bytes"] = gt.nbytes
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        return 0 if all(ok.values()) else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
