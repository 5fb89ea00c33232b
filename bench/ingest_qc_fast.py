"""Time the numpy genotype path (cyvcf2 reader + vectorised QC) against PLINK 2 on the cohort of
``bench/plink_cohort.py``.

    .venv/bin/python bench/ingest_qc_fast.py [--n-samples 5000] [--sequence-length 5000000]
        [--chromosomes 1,2,3,4] [--out bench/out] [--workers 2] [--threads 0] [--repeats 3]

1. Cohort and PLINK 2 exactly as ``plink_cohort.py`` does them (its ``ensure_cohort``,
   ``run_plink``, ``Measured`` and ``wait_for_quiet`` are imported): ``--vcf --max-alleles 2
   --make-pgen`` per VCF, ``--pmerge-list``, then ``--mind 0.03 --geno 0.02 --maf 0.01 --hwe 1e-6
   midp --make-pgen``; wall time = the sum of the three commands.
2. The numpy path in a child process (``--child``), timed whole by the parent (process start to
   exit, peak RSS of the process tree sampled every 0.1 s): imports;
   ``genotype_arrays.read_vcfs`` (files read ``--workers`` at a time, htslib ``--threads``, with
   phase as the genotype job reads them unless ``--no-phase``);
   the genotype job's filters (``qc_as_the_job``) with the same thresholds; writing the QC-passed data (kept sample IDs,
   kept variants as Parquet, the kept int8 matrix as .npy). In-process time = read + QC (ingest
   + QC); ``in_process_with_write_s`` adds the write (PLINK's time includes writing filesets).
3. Kept samples and variants against PLINK's qc.psam / qc.pvar. PLINK drops multi-allelic
   records, the numpy path splits them: the variant comparison is over the rows from biallelic
   records (the split rows kept are counted separately).

Each tool runs ``--repeats`` times, alternating; the fastest run of each is reported. Before each
timed run the script waits until the 1-minute load average is below ``--max-load``.
Writes <out>/ingest_qc_fast.tsv (one row per tool) and <out>/ingest_qc_fast.steps.tsv, and
prints both. A benchmark, never a test; PLINK is a reference, never a pipeline step.
"""
from __future__ import annotations

import time

_T_SCRIPT = time.time()   # the child's t0, as early as possible

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

MIND, GENO, MAF, HWE = 0.03, 0.02, 0.01, 1e-6     # = plink_cohort's 0.97 / 0.98 / 0.01 / 1e-6


def qc_as_the_job(ga, qa):
    """The genotype job's four PLINK filters (``jobs/genotypes.py``): --mind over all variants,
    then --geno/--maf/--hwe over the kept samples. Returns kept sample and variant indices and
    the steps (removed/remaining per filter)."""
    import numpy as np
    m, n = ga.gt.shape
    hap = (ga.haploid_rows, ga.haploid)
    all_counts, missing = qa.count_calls(ga.gt, *hap)
    keep_s = missing <= qa.max_missing(m, MIND)
    counts = qa.counts_over(ga.gt, keep_s, *hap, all_counts=all_counts)
    vf = qa.variant_filters(counts, counts, geno=GENO, maf=MAF, hwe=HWE)
    steps = [{"step": "input", "unit": "samples", "threshold": None, "removed": 0, "remaining": n},
             {"step": "input", "unit": "variants", "threshold": None, "removed": 0, "remaining": m},
             {"step": "mind", "unit": "samples", "threshold": MIND, "removed": int((~keep_s).sum()),
              "remaining": int(keep_s.sum())}]
    alive = np.ones(m, bool)
    for name, thr, col in (("geno", GENO, "pass_call_rate"), ("hwe", HWE, "pass_hwe"), ("maf", MAF, "pass_maf")):
        gone = int((alive & ~vf[col]).sum())
        alive &= vf[col]
        steps.append({"step": name, "unit": "variants", "threshold": thr, "removed": gone,
                      "remaining": int(alive.sum())})
    return np.flatnonzero(keep_s), np.flatnonzero(vf["qc_pass"]), steps


def child_main(args) -> int:
    """The timed numpy run. Prints one JSON object on its last stdout line."""
    import numpy as np
    import psutil
    from genomics import qc_arrays
    from genomics.genotype_arrays import read_vcfs
    import cyvcf2  # noqa: F401  (imported here so that the import is timed as imports)
    import scipy.special  # noqa: F401
    t_create = psutil.Process(os.getpid()).create_time()
    t_import = time.time()
    ga = read_vcfs(args.vcfs, threads=args.threads, workers=args.workers, keep_phase=not args.no_phase)
    t_parse = time.time()
    ks, kv, steps = qc_as_the_job(ga, qc_arrays)
    t_qc = time.time()
    with open(os.path.join(args.work, "qc.samples.txt"), "w") as f:
        f.write("\n".join(ga.samples[i] for i in ks) + "\n")
    kept = ga.variants.iloc[kv].reset_index(drop=True)
    kept.assign(contig=kept["contig"].astype(str)).to_parquet(os.path.join(args.work, "qc.variants.parquet"))
    save_rows(os.path.join(args.work, "qc.gt.npy"), ga.gt, kv, ks)
    t_end = time.time()
    out = {
        "t_create": t_create, "t0": _T_SCRIPT, "t_import": t_import, "t_parse": t_parse, "t_qc": t_qc,
        "t_end": t_end, "n_vcf_records": ga.counts.n_records, "n_multiallelic": ga.counts.n_multiallelic,
        "n_variants_in": int(ga.gt.shape[0]), "n_samples": len(ga.samples),
        "kept_samples": int(len(ks)), "kept_variants": int(len(kv)), "steps": steps,
        "counts": ga.counts.as_dict(), "max_rss_mib_self": _max_rss_mib(),
    }
    print(json.dumps(out, default=str), flush=True)
    return 0


def save_rows(path: str, gt, rows, cols, block: int = 4096) -> None:
    """``np.save(path, gt[rows][:, cols])`` a block of rows at a time, the (sorted) columns
    copied as runs of consecutive indices (fancy indexing along axis 1 is ~30x slower)."""
    import numpy as np
    cols = np.asarray(cols)
    breaks = np.flatnonzero(np.diff(cols) != 1) + 1
    runs = [(int(r[0]), int(r[-1]) + 1, int(i)) for r, i in
            zip(np.split(cols, breaks), np.concatenate([[0], breaks]))] if len(cols) else []
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(gt.dtype), "fortran_order": False,
                "shape": (len(rows), len(cols))})
        out = np.empty((min(block, len(rows)), len(cols)), gt.dtype)
        for a in range(0, len(rows), block):
            src = gt[rows[a:a + block]]
            dst = out[:len(src)]
            for lo, hi, at in runs:
                dst[:, at:at + hi - lo] = src[:, lo:hi]
            f.write(dst.data)


def _max_rss_mib() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_numpy(vcfs: list[str], work: str, args, base) -> dict:
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--work", work, "--workers", str(args.workers),
           "--threads", str(args.threads), *(["--no-phase"] if args.no_phase else []), "--vcfs", *vcfs]
    with base.Measured() as m:
        with open(os.path.join(work, "child.stderr.log"), "w") as err:
            t_launch = time.time()
            t = time.perf_counter()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
            wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-2000:])
        raise SystemExit(f"child failed ({r.returncode}); see {work}/child.stderr.log")
    out = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    out["wall_s"] = wall
    out["t_launch"] = t_launch          # the parent's clock just before starting the child
    out["parse_s"] = out["t_parse"] - out["t_import"]
    out["qc_s"] = out["t_qc"] - out["t_parse"]
    out["write_s"] = out["t_end"] - out["t_qc"]
    out["in_process_s"] = out["t_qc"] - out["t_import"]
    out["in_process_with_write_s"] = out["t_end"] - out["t_import"]
    out.update(m.summary(wall))
    return out


def compare(numpy_work: str, plink_work: str) -> dict:
    """Kept samples/variants of the numpy run against PLINK's qc.psam / qc.pvar."""
    import pandas as pd
    ours = pd.read_parquet(os.path.join(numpy_work, "qc.variants.parquet"))
    with open(os.path.join(numpy_work, "qc.samples.txt")) as f:
        ours_s = {ln.strip() for ln in f if ln.strip()}
    with open(os.path.join(plink_work, "qc.pvar")) as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("##")]
    pv = pd.DataFrame(lines[1:], columns=lines[0]).rename(
        columns={"#CHROM": "chrom", "POS": "pos", "REF": "ref", "ALT": "alt"})
    ps = pd.read_csv(os.path.join(plink_work, "qc.psam"), sep="\t", dtype=str)
    plink_s = set(ps["#IID"] if "#IID" in ps else ps["IID"])

    def key(chrom, pos, ref, alt):
        return set(zip(pd.Series(chrom).astype(str).str.replace("^chr", "", regex=True), pd.Series(pos).astype(int),
                       ref, alt))
    bi = ours[~ours["was_split"]]
    ours_bi = key(bi["contig"], bi["position"], bi["ref"], bi["alt"])
    ours_all = key(ours["contig"], ours["position"], ours["ref"], ours["alt"])
    plink_v = key(pv["chrom"], pv["pos"], pv["ref"], pv["alt"])
    return {
        "kept_variants_biallelic": len(ours_bi), "kept_variants_split": int(ours["was_split"].sum()),
        "variants_only_numpy": len(ours_bi - plink_v), "variants_only_plink": len(plink_v - ours_all),
        "samples_only_numpy": len(ours_s - plink_s), "samples_only_plink": len(plink_s - ours_s),
        "kept_samples_numpy": len(ours_s), "kept_samples_plink": len(plink_s),
    }


def main(argv=None) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from plink_cohort import add_cohort_args
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cohort_args(ap)
    ap.add_argument("--cohort-dir", help="default <out>/cohort<N> (e.g. cohort5k), shared with plink_cohort.py")
    ap.add_argument("--workers", type=int, default=2, help="VCF files read at once (threads)")
    ap.add_argument("--threads", type=int, default=0, help="htslib decompression threads per file")
    ap.add_argument("--no-phase", action="store_true",
                    help="read without phase (the genotype job keeps it, for genotype_calls)")
    ap.add_argument("--plink-threads", type=int, default=2, help="PLINK 2 --threads")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each tool, alternating (the fastest of each is reported; all are kept)")
    ap.add_argument("--max-load", type=float, default=1.2, help="wait for a 1-min load average below this")
    ap.add_argument("--max-wait-min", type=float, default=25.0)
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--vcfs", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)

    import pandas as pd
    import plink_cohort as base
    log = base.log
    n = args.n_samples
    tag = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    args.out = os.path.abspath(args.out)
    args.cohort_dir = os.path.abspath(args.cohort_dir or os.path.join(args.out, f"cohort{tag}"))
    os.makedirs(args.out, exist_ok=True)
    vcfs = base.ensure_cohort(args)
    run_dir = os.path.join(args.out, f"ingest_qc_fast_{tag}")
    plink_work, np_work = os.path.join(run_dir, "plink"), os.path.join(run_dir, "numpy")

    def quiet():
        if args.no_wait:
            return {"load1_before": round(os.getloadavg()[0], 2), "waited_s": 0, "quiet": None}
        return base.wait_for_quiet(args.max_load, max_wait_s=args.max_wait_min * 60)

    pl_runs, runs = [], []
    for i in range(args.repeats):       # alternating, so that both see the same machine
        q = quiet()
        log(f"PLINK 2, run {i + 1}/{args.repeats} (load {q['load1_before']})")
        pl = base.run_plink(vcfs, plink_work, args.plink_threads)
        pl.update(q)
        log(f"PLINK 2: {pl['wall_s']:.1f}s, peak {pl['peak_rss_mib']:.0f} MiB")
        pl_runs.append(pl)
        q = quiet()
        log(f"numpy path, run {i + 1}/{args.repeats} (load {q['load1_before']})")
        r = run_numpy(vcfs, np_work, args, base)
        r.update(q)
        log(f"numpy: {r['wall_s']:.1f}s whole process, {r['in_process_s']:.1f}s in process "
            f"(read {r['parse_s']:.1f}s, QC {r['qc_s']:.1f}s; then write {r['write_s']:.1f}s), "
            f"peak {r['peak_rss_mib']:.0f} MiB")
        runs.append(r)
    pl = min(pl_runs, key=lambda r: r["wall_s"])
    npr = min(runs, key=lambda r: r["wall_s"])
    cmp = compare(np_work, plink_work)

    samples_agree = cmp["samples_only_numpy"] == 0 and cmp["samples_only_plink"] == 0 \
        and cmp["kept_samples_numpy"] == pl["kept_samples"]
    variants_agree = cmp["variants_only_numpy"] == 0 and cmp["variants_only_plink"] == 0 \
        and cmp["kept_variants_biallelic"] == pl["kept_variants"]
    plink_wall = pl["wall_s"]
    rows = [
        {"tool": "plink2", "n_samples": pl["n_samples"], "n_vcf_records": pl["n_vcf_records"],
         "n_variants_in": pl["n_variants_in"], "kept_samples": pl["kept_samples"],
         "kept_variants": pl["kept_variants"], "kept_variants_biallelic": pl["kept_variants"],
         "wall_s": plink_wall, "in_process_s": None, "in_process_with_write_s": None, "parse_s": None,
         "qc_s": None, "write_s": None,
         "peak_rss_mib": pl["peak_rss_mib"], "cpu_s": pl["cpu_s"], "ratio_whole_vs_plink": 1.0,
         "ratio_in_process_vs_plink": None},
        {"tool": f"numpy (cyvcf2, workers={args.workers}, threads={args.threads})",
         "n_samples": npr["n_samples"], "n_vcf_records": npr["n_vcf_records"],
         "n_variants_in": npr["n_variants_in"], "kept_samples": npr["kept_samples"],
         "kept_variants": npr["kept_variants"], "kept_variants_biallelic": cmp["kept_variants_biallelic"],
         "wall_s": npr["wall_s"], "in_process_s": npr["in_process_s"],
         "in_process_with_write_s": npr["in_process_with_write_s"], "parse_s": npr["parse_s"],
         "qc_s": npr["qc_s"], "write_s": npr["write_s"], "peak_rss_mib": npr["peak_rss_mib"],
         "cpu_s": npr["cpu_s"], "ratio_whole_vs_plink": npr["wall_s"] / plink_wall,
         "ratio_in_process_vs_plink": npr["in_process_s"] / plink_wall},
    ]
    t = pd.DataFrame(rows)
    for c in ("wall_s", "in_process_s", "in_process_with_write_s", "parse_s", "qc_s", "write_s",
              "ratio_whole_vs_plink", "ratio_in_process_vs_plink"):
        t[c] = t[c].astype(float).round(2)
    base.add_run_columns(t, [pl, npr], samples_agree, variants_agree)
    path = os.path.join(args.out, "ingest_qc_fast.tsv")
    t.to_csv(path, sep="\t", index=False)

    s = base.plink_step_rows(pl, len(vcfs), "--mind --geno --maf --hwe midp") + [
        {"tool": "numpy", "step": "python start + imports", "seconds": npr["t_import"] - npr["t_launch"]},
        {"tool": "numpy", "step": "in-process: read_vcfs (cyvcf2 parse + counts matrix)", "seconds": npr["parse_s"]},
        {"tool": "numpy", "step": "in-process: QC as the job (--mind/--geno/--hwe/--maf)", "seconds": npr["qc_s"]},
        {"tool": "numpy", "step": "in-process: write kept samples, variants, matrix", "seconds": npr["write_s"]},
        {"tool": "numpy", "step": "after: process exit", "seconds": npr["wall_s"] - (npr["t_end"] - npr["t_launch"])},
    ]
    st = base.write_steps_table(s, {"plink2": pl["wall_s"], "numpy": npr["wall_s"]},
                                os.path.join(args.out, "ingest_qc_fast.steps.tsv"), 2)
    base.print_tables(t, st, 60)
    print("numpy QC steps: " + "; ".join(f"{x['step']} ({x['unit']}) -{x['removed']} -> {x['remaining']}"
                                         for x in npr["steps"]))
    print("PLINK 2 qc log: " + " | ".join(pl["qc_log"]))
    print(f"comparison: {json.dumps(cmp)}")
    print("PLINK 2 runs (wall s): " + ", ".join(f"{r['wall_s']:.2f}" for r in pl_runs))
    print("numpy runs (wall / in-process s): " + ", ".join(f"{r['wall_s']:.2f} / {r['in_process_s']:.2f}" for r in runs))
    with open(os.path.join(run_dir, "details.json"), "w") as f:
        json.dump({"plink2_runs": pl_runs, "numpy_runs": runs, "compare": cmp}, f, indent=1, default=str)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
