"""Time genotype ingest + the four QC filters in GenoLake against PLINK 2 on one simulated cohort.

    .venv/bin/python bench/ingest_qc_vs_plink.py [--n-samples 5000] [--sequence-length 5000000]
                                                 [--chromosomes 1,2,3,4] [--out bench/out]

1. Cohort: ``python -m jobs.simulate --out <out>/cohort<N> --n-samples N --chromosomes C
   --sequence-length L --no-relatives --no-x`` (reused when the folder was made with the same
   arguments; the defaults give ~115,000 variants, 0.2% of records multi-allelic).
2. PLINK 2 (--threads 2): ``--vcf F --max-alleles 2 --make-pgen`` per VCF, ``--pmerge-list`` into
   one fileset, then ``--mind 0.03 --geno 0.02 --maf 0.01 --hwe 1e-6 midp --make-pgen``. Wall
   time = the sum of the commands' wall times.
3. GenoLake, in a child process (``--child``): ``prepare_vcfs``, Hail started by
   ``jobs.session.start_hail`` (local[2], 8g driver), ``import_genotypes_with_counts``, checkpoint
   of the raw MatrixTable, ``compute_qc(mt, 0.97, 0.98, 0.01, 1e-6)``, checkpoint of
   ``filter_to_qc_pass``. The child reports timestamps; the parent measures its whole-process
   wall time. In-process time = from "Hail is up" to the last checkpoint.
   Peak memory of either tool: RSS summed over the process tree (the python child and its JVM),
   sampled every 0.1 s.
4. An untimed second child reads GenoLake's QC-passed MatrixTable and compares the kept samples
   and variants with PLINK's qc.psam / qc.pvar (PLINK drops multi-allelic records, GenoLake
   splits them; the variant comparison is over the rows that came from biallelic records).

Before each timed run the script waits until the 1-minute load average is below 1.2 (polling
every 20 s, up to 25 minutes). Writes <out>/ingest_qc_vs_plink.tsv (one row per tool) and
<out>/ingest_qc_vs_plink.steps.tsv (where each tool's time goes), and prints both. A benchmark,
never a test; PLINK is a reference, never a pipeline step.
"""
from __future__ import annotations

import time

_T_SCRIPT = time.time()   # as early as possible: the child's t0 (with the process create time)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SAMPLE_CALL_RATE, VARIANT_CALL_RATE, MAF, HWE_P = 0.97, 0.98, 0.01, 1e-6
REFERENCE = "GRCh38"
JOB = "ingest_qc_bench"


# --------------------------------------------------------------------------------------------
# measuring


class TreeSampler(threading.Thread):
    """Every ``interval`` s: RSS summed over the descendants of this process (peak kept), and
    the CPU time of each descendant (last value seen per process)."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        import psutil
        self._psutil = psutil
        self._me = psutil.Process(os.getpid())
        self.interval = interval
        self.peak_rss = 0
        self.peak_procs = 0
        self.cpu = {}
        self.n_samples = 0
        self._halt = threading.Event()

    def sample(self):
        ps = self._psutil
        total, n = 0, 0
        for p in self._me.children(recursive=True):
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[(p.pid, p.create_time())] = t.user + t.system
                n += 1
            except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                pass
        if total > self.peak_rss:
            self.peak_rss, self.peak_procs = total, n
        self.n_samples += 1

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


class Measured:
    """Context: peak RSS of the descendants, wall/CPU time, and how busy the rest of the machine was."""

    def __enter__(self):
        import psutil
        self._psutil = psutil
        import resource
        self._resource = resource
        self.load_start = os.getloadavg()
        self.sys0 = psutil.cpu_times()
        self.ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.sampler = TreeSampler()
        self.sampler.start()
        return self

    def __exit__(self, *exc):
        self.sampler.stop()
        sys1 = self._psutil.cpu_times()
        ru1 = self._resource.getrusage(self._resource.RUSAGE_CHILDREN)
        # CPU of the finished children and the descendants they waited for (misses none of
        # a short process, unlike the 0.1 s samples; may miss a grandchild nobody waited for)
        self.reaped_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (self.ru0.ru_utime + self.ru0.ru_stime)
        self.load_end = os.getloadavg()

        def busy(t):
            return sum(t) - t.idle - getattr(t, "iowait", 0.0)
        self.system_busy_s = busy(sys1) - busy(self.sys0)
        return False

    def summary(self, wall_s: float) -> dict:
        ours = max(self.sampler.cpu_s, self.reaped_cpu_s)
        other = max(self.system_busy_s - ours, 0.0)
        return {
            "peak_rss_mib": round(self.sampler.peak_rss / 2**20, 0),
            "peak_processes": self.sampler.peak_procs,
            "cpu_s": round(ours, 1),
            "load1_start": round(self.load_start[0], 2), "load1_end": round(self.load_end[0], 2),
            # CPU the rest of the machine used meanwhile, in cores (busy CPU - this tree's CPU)
            "other_cores_busy": round(other / wall_s, 2) if wall_s > 0 else None,
        }


def wait_for_quiet(limit: float, poll_s: float = 20.0, max_wait_s: float = 25 * 60) -> dict:
    t = time.time()
    while True:
        load = os.getloadavg()[0]
        waited = time.time() - t
        if load < limit:
            return {"load1_before": round(load, 2), "waited_s": round(waited), "quiet": True}
        if waited >= max_wait_s:
            log(f"load average still {load:.2f} after {waited / 60:.0f} min: running anyway")
            return {"load1_before": round(load, 2), "waited_s": round(waited), "quiet": False}
        log(f"load average {load:.2f} >= {limit}: waiting ({waited:.0f}s so far)")
        time.sleep(poll_s)


def add_run_columns(t, runs: list[dict], samples_agree: bool, variants_agree: bool) -> None:
    """The agreement flags and each run's machine load (one row per run, in order)."""
    t["kept_samples_agree"] = samples_agree
    t["kept_variants_agree"] = variants_agree
    for c in ("load1_before", "load1_end", "other_cores_busy"):
        t[c] = [r[c] for r in runs]


def plink_step_rows(pl: dict, n_vcfs: int, qc_flags: str) -> list[dict]:
    """Where PLINK 2's time went (the three commands), as step-table rows."""
    return [{"tool": "plink2", "step": f"import {n_vcfs} VCFs (--max-alleles 2, --make-pgen)", "seconds": pl["step_s"]["import"]},
            {"tool": "plink2", "step": "--pmerge-list", "seconds": pl["step_s"]["merge"]},
            {"tool": "plink2", "step": f"{qc_flags}, --make-pgen", "seconds": pl["step_s"]["qc"]}]


def write_steps_table(rows: list[dict], totals: dict, path: str, digits: int):
    """The step table with each step's share of its tool's whole-process time, written to
    ``path`` (TSV) and returned."""
    import pandas as pd
    st = pd.DataFrame(rows)
    st["seconds"] = st["seconds"].round(digits)
    st["share_of_whole"] = [f"{100 * r.seconds / totals[r.tool]:.0f}%" for r in st.itertuples()]
    st.to_csv(path, sep="\t", index=False)
    return st


def print_tables(t, st, colwidth: int) -> None:
    import pandas as pd
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", colwidth):
        print(t.to_string(index=False))
        print()
        print(st.to_string(index=False))
    print()


def log(msg: str) -> None:
    print(f"[bench +{time.time() - _T_SCRIPT:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# cohort


def add_cohort_args(ap) -> None:
    """The benches' shared cohort arguments (5,000 people x 4 x 5 Mb by default)."""
    ap.add_argument("--n-samples", type=int, default=5000)
    ap.add_argument("--sequence-length", type=int, default=5_000_000, help="simulated bp per chromosome")
    ap.add_argument("--chromosomes", default="1,2,3,4")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))


def ensure_cohort(args) -> list[str]:
    chromosomes = [c.strip() for c in args.chromosomes.split(",") if c.strip()]
    sim_args = ["--n-samples", str(args.n_samples), "--chromosomes", ",".join(chromosomes),
                "--sequence-length", str(args.sequence_length), "--no-relatives", "--no-x"]
    out = args.cohort_dir
    stamp = os.path.join(out, "bench_simulate_args.json")
    vcfs = [os.path.join(out, "genotypes", f"chr{c}.vcf.gz") for c in chromosomes]
    if os.path.exists(stamp):
        with open(stamp) as f:
            old = json.load(f)
        if old == sim_args and all(os.path.exists(v) for v in vcfs):
            log(f"reusing the cohort in {out} (same simulate arguments)")
            return vcfs
        raise SystemExit(f"{out} holds a cohort simulated with other arguments ({' '.join(old)}); "
                         "pass another --cohort-dir or remove it")
    if os.path.exists(out) and os.listdir(out):
        raise SystemExit(f"{out} exists but was not made by this script; pass another --cohort-dir")
    cmd = [sys.executable, "-m", "jobs.simulate", "--out", out, *sim_args]
    log("simulating: " + " ".join(cmd[1:]))
    t = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(stamp, "w") as f:
        json.dump(sim_args, f)
    log(f"simulated in {time.time() - t:.0f}s")
    return vcfs


# --------------------------------------------------------------------------------------------
# PLINK 2


def _count_lines(path: str, skip_prefix: str) -> int:
    with open(path) as f:
        return sum(1 for line in f if line.strip() and not line.startswith(skip_prefix))


def run_plink(vcfs: list[str], work: str, threads: int) -> dict:
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    cmds = []
    parts = []
    for i, vcf in enumerate(vcfs):
        prefix = os.path.join(work, f"part_{i}")
        parts.append(prefix)
        cmds.append(("import", ["plink2", "--vcf", vcf, "--max-alleles", "2", "--make-pgen",
                                "--threads", str(threads), "--out", prefix]))
    merged = os.path.join(work, "all")
    with open(os.path.join(work, "merge_list.txt"), "w") as f:
        f.write("\n".join(parts) + "\n")
    cmds.append(("merge", ["plink2", "--pmerge-list", os.path.join(work, "merge_list.txt"), "pfile",
                           "--threads", str(threads), "--out", merged]))
    qc = os.path.join(work, "qc")
    cmds.append(("qc", ["plink2", "--pfile", merged, "--mind", f"{1 - SAMPLE_CALL_RATE:.6g}",
                        "--geno", f"{1 - VARIANT_CALL_RATE:.6g}", "--maf", f"{MAF:g}",
                        "--hwe", f"{HWE_P:g}", "midp", "--make-pgen", "--threads", str(threads),
                        "--out", qc]))
    step_s: dict[str, float] = {}
    wall = 0.0
    with Measured() as m:
        for step, cmd in cmds:
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t
            wall += dt
            step_s[step] = step_s.get(step, 0.0) + dt
            if r.returncode != 0:
                sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
                raise SystemExit(f"plink2 failed: {' '.join(cmd)}")
    n_scanned = 0
    for p in parts:
        with open(p + ".log") as f:
            for line in f:
                if "variants scanned" in line:       # "--vcf: 29123 variants scanned."
                    n_scanned += int(line.split(":")[1].split()[0])
    with open(qc + ".log") as f:
        qc_log = [ln.rstrip() for ln in f if "removed" in ln or "remaining" in ln or "pass filters" in ln]
    return {
        "wall_s": wall, "step_s": step_s, **m.summary(wall),
        "n_vcf_records": n_scanned or None,
        "n_samples": _count_lines(merged + ".psam", "#"),
        "n_variants_in": _count_lines(merged + ".pvar", "#"),
        "kept_samples": _count_lines(qc + ".psam", "#"),
        "kept_variants": _count_lines(qc + ".pvar", "#"),
        "qc_log": qc_log,
    }


# --------------------------------------------------------------------------------------------
# GenoLake


def child_config(work: str, driver_memory: str) -> dict:
    return {"results": os.path.join(work, "results"), "reference_genome": REFERENCE,
            "spark": {"master": "local[2]", "driver_memory": driver_memory, "log_level": "WARN"}}


def child_main(args) -> int:
    """The GenoLake run (timed by the parent). Prints one JSON object on its last stdout line."""
    import psutil
    t_create = psutil.Process(os.getpid()).create_time()
    t0 = _T_SCRIPT
    from genomics.vcf_inputs import prepare_vcfs
    from jobs.session import start_hail
    work = args.work
    prep = prepare_vcfs(args.vcfs, os.path.join(work, "vcf_inputs"), REFERENCE)
    t_prep = time.time()
    start_hail(child_config(work, args.driver_memory), JOB)
    t_jvm = time.time()
    from genomics.ingest import hail_input_errors, import_genotypes_with_counts
    from genomics.qc import compute_qc, filter_to_qc_pass
    raw_path, qc_path = os.path.join(work, "raw.mt"), os.path.join(work, "qc.mt")
    mt, counts = import_genotypes_with_counts(prep.paths, REFERENCE, min_partitions=args.min_partitions,
                                              contig_recoding=prep.contig_recoding, sources=prep.source_of)
    t_counts = time.time()
    with hail_input_errors(prep.paths, sources=prep.source_of):
        mt = mt.checkpoint(raw_path, overwrite=True)
    t_raw = time.time()
    qc = compute_qc(mt, SAMPLE_CALL_RATE, VARIANT_CALL_RATE, MAF, HWE_P)
    t_qc = time.time()
    qc_mt = filter_to_qc_pass(mt, qc).checkpoint(qc_path, overwrite=True)
    t_end = time.time()
    kept_variants, kept_samples = qc_mt.count()
    n_variants, n_samples = mt.count()
    t_count = time.time()
    out = {
        "t_create": t_create, "t0": t0, "t_prep": t_prep, "t_jvm": t_jvm, "t_counts": t_counts,
        "t_raw": t_raw, "t_qc": t_qc, "t_end": t_end, "t_count": t_count,
        "n_vcf_records": counts.n_records, "n_multiallelic": counts.n_multiallelic,
        "n_rows": counts.n_rows, "n_variants_in": n_variants, "n_samples": n_samples,
        "kept_samples": kept_samples, "kept_variants": kept_variants,
        "n_partitions_raw": mt.n_partitions(), "steps": qc.steps,
    }
    print(json.dumps(out, default=str), flush=True)
    return 0


def compare_main(args) -> int:
    """Untimed: GenoLake's kept samples/variants (from the QC-passed MatrixTable) vs PLINK's."""
    import pandas as pd
    from jobs.session import start_hail
    hl = start_hail(child_config(args.work, args.driver_memory), JOB + "_compare")
    mt = hl.read_matrix_table(os.path.join(args.work, "qc.mt"))
    rows = mt.rows()
    rows = rows.select(chrom=rows.locus.contig, pos=rows.locus.position, ref=rows.alleles[0],
                       alt=rows.alleles[1], was_split=rows.was_split).key_by().drop("locus", "alleles")
    ours = rows.to_pandas()
    ours_s = set(mt.s.collect())
    with open(os.path.join(args.plink_work, "qc.pvar")) as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("##")]
    pv = pd.DataFrame(lines[1:], columns=lines[0])
    pv = pv.rename(columns={"#CHROM": "chrom", "POS": "pos", "REF": "ref", "ALT": "alt"})
    ps = pd.read_csv(os.path.join(args.plink_work, "qc.psam"), sep="\t", dtype=str)
    plink_s = set(ps["#IID"] if "#IID" in ps else ps["IID"])

    def key(df):
        return set(zip(df["chrom"].astype(str).str.replace("^chr", "", regex=True),
                       df["pos"].astype(int), df["ref"], df["alt"]))
    ours_bi = key(ours[~ours["was_split"].astype(bool)])
    ours_all = key(ours)
    plink_v = key(pv)
    out = {
        "kept_variants_biallelic": len(ours_bi), "kept_variants_split": int(ours["was_split"].sum()),
        "variants_only_genolake": len(ours_bi - plink_v), "variants_only_plink": len(plink_v - ours_all),
        "samples_only_genolake": len(ours_s - plink_s), "samples_only_plink": len(plink_s - ours_s),
    }
    print(json.dumps(out), flush=True)
    return 0


def _run_child(argv: list[str], log_path: str) -> tuple[dict, float]:
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    with open(log_path, "w") as err:
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-2000:])
        raise SystemExit(f"child failed ({r.returncode}); see {log_path}")
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]), wall


def run_genolake(vcfs: list[str], work: str, args) -> dict:
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    argv = ["--child", "--work", work, "--min-partitions", str(args.min_partitions),
            "--driver-memory", args.driver_memory, "--vcfs", *vcfs]
    with Measured() as m:
        r, wall = _run_child(argv, os.path.join(work, "child.stderr.log"))
    r["wall_s"] = wall
    r["in_process_s"] = r["t_end"] - r["t_jvm"]
    r.update(m.summary(wall))
    return r


# --------------------------------------------------------------------------------------------
# main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cohort_args(ap)
    ap.add_argument("--cohort-dir", help="default <out>/cohort<N> (e.g. cohort5k)")
    ap.add_argument("--min-partitions", type=int, default=4, help="as the pipeline's spark.min_partitions default")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--threads", type=int, default=2, help="PLINK 2 --threads")
    ap.add_argument("--max-load", type=float, default=1.2, help="wait for a 1-min load average below this")
    ap.add_argument("--max-wait-min", type=float, default=25.0)
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    # internal
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--compare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--plink-work", help=argparse.SUPPRESS)
    ap.add_argument("--vcfs", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    if args.compare:
        return compare_main(args)

    import pandas as pd
    n = args.n_samples
    tag = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    args.out = os.path.abspath(args.out)
    args.cohort_dir = os.path.abspath(args.cohort_dir or os.path.join(args.out, f"cohort{tag}"))
    os.makedirs(args.out, exist_ok=True)
    vcfs = ensure_cohort(args)
    run_dir = os.path.join(args.out, f"ingest_qc_{tag}")
    plink_work, gl_work = os.path.join(run_dir, "plink"), os.path.join(run_dir, "genolake")

    def quiet():
        if args.no_wait:
            return {"load1_before": round(os.getloadavg()[0], 2), "waited_s": 0, "quiet": None}
        return wait_for_quiet(args.max_load, max_wait_s=args.max_wait_min * 60)

    q = quiet()
    log(f"PLINK 2 (load {q['load1_before']})")
    pl = run_plink(vcfs, plink_work, args.threads)
    pl.update(q)
    log(f"PLINK 2: {pl['wall_s']:.1f}s, peak {pl['peak_rss_mib']:.0f} MiB")
    q = quiet()
    log(f"GenoLake (load {q['load1_before']})")
    gl = run_genolake(vcfs, gl_work, args)
    gl.update(q)
    log(f"GenoLake: {gl['wall_s']:.1f}s whole process, {gl['in_process_s']:.1f}s in process, "
        f"peak {gl['peak_rss_mib']:.0f} MiB")
    log("comparing the kept samples and variants (untimed)")
    cmp, _ = _run_child(["--compare", "--work", gl_work, "--plink-work", plink_work,
                         "--driver-memory", args.driver_memory], os.path.join(run_dir, "compare.stderr.log"))

    samples_agree = pl["kept_samples"] == gl["kept_samples"] and cmp["samples_only_genolake"] == 0 \
        and cmp["samples_only_plink"] == 0
    variants_agree = pl["kept_variants"] == cmp["kept_variants_biallelic"] and cmp["variants_only_genolake"] == 0 \
        and cmp["variants_only_plink"] == 0
    common = {"n_samples": None, "n_vcf_records": None, "n_variants_in": None, "kept_samples": None,
              "kept_variants": None, "kept_variants_biallelic": None, "wall_s": None, "in_process_s": None,
              "peak_rss_mib": None, "cpu_s": None}
    rows = [
        {**common, "tool": "plink2", **{k: pl[k] for k in common if k in pl},
         "kept_variants_biallelic": pl["kept_variants"], "in_process_s": None},
        {**common, "tool": "genolake", **{k: gl[k] for k in common if k in gl},
         "kept_variants_biallelic": cmp["kept_variants_biallelic"]},
    ]
    t = pd.DataFrame(rows)[["tool", *common]]
    t["wall_s"] = t["wall_s"].astype(float).round(2)
    t["in_process_s"] = t["in_process_s"].astype(float).round(2)
    plink_wall = pl["wall_s"]
    t["ratio_whole_vs_plink"] = [1.0, round(gl["wall_s"] / plink_wall, 2)]
    t["ratio_in_process_vs_plink"] = [None, round(gl["in_process_s"] / plink_wall, 2)]
    add_run_columns(t, [pl, gl], samples_agree, variants_agree)
    path = os.path.join(args.out, "ingest_qc_vs_plink.tsv")
    t.to_csv(path, sep="\t", index=False)

    s = plink_step_rows(pl, len(vcfs), "--mind --geno --maf --hwe") + [
        {"tool": "genolake", "step": "python start + imports (before prepare_vcfs)", "seconds": gl["t0"] - gl["t_create"]},
        {"tool": "genolake", "step": "imports + prepare_vcfs", "seconds": gl["t_prep"] - gl["t0"]},
        {"tool": "genolake", "step": "start_hail (import hail, JVM, Spark)", "seconds": gl["t_jvm"] - gl["t_prep"]},
        {"tool": "genolake", "step": "in-process: import_genotypes_with_counts (row-only counting pass)",
         "seconds": gl["t_counts"] - gl["t_jvm"]},
        {"tool": "genolake", "step": "in-process: raw MatrixTable checkpoint (VCF parse + split + write)",
         "seconds": gl["t_raw"] - gl["t_counts"]},
        {"tool": "genolake", "step": "in-process: compute_qc", "seconds": gl["t_qc"] - gl["t_raw"]},
        {"tool": "genolake", "step": "in-process: QC-passed MatrixTable checkpoint", "seconds": gl["t_end"] - gl["t_qc"]},
        {"tool": "genolake", "step": "after: counts + JVM shutdown + process exit",
         "seconds": gl["wall_s"] - (gl["t_end"] - gl["t_create"])},
    ]
    st = write_steps_table(s, {"plink2": pl["wall_s"], "genolake": gl["wall_s"]},
                           os.path.join(args.out, "ingest_qc_vs_plink.steps.tsv"), 1)
    print_tables(t, st, 80)
    print(f"GenoLake QC steps: " + "; ".join(f"{x['step']} ({x['unit']}) -{x['removed']} -> {x['remaining']}"
                                             for x in gl["steps"]))
    print("PLINK 2 qc log: " + " | ".join(pl["qc_log"]))
    print(f"comparison: {json.dumps(cmp)}")
    print(f"GenoLake: {gl['n_multiallelic']} multi-allelic records split, {gl['n_partitions_raw']} partitions; "
          f"peak processes sampled: plink {pl['peak_processes']}, genolake {gl['peak_processes']}")
    with open(os.path.join(run_dir, "details.json"), "w") as f:
        json.dump({"plink2": pl, "genolake": gl, "compare": cmp}, f, indent=1, default=str)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
