"""Shared pieces of the PLINK 2 comparisons (``bench/ingest_qc_fast.py``, ``bench/gwas_fast.py``):
the simulated cohort, PLINK 2's ingest + QC run, process-tree memory sampling and the tables.

1. Cohort: ``python -m jobs.simulate --out <out>/cohort<N> --n-samples N --chromosomes C
   --sequence-length L --no-relatives --no-x`` (reused when the folder was made with the same
   arguments; the defaults give ~115,000 variants, 0.2% of records multi-allelic).
2. PLINK 2 (--threads 2): ``--vcf F --max-alleles 2 --make-pgen`` per VCF, ``--pmerge-list`` into
   one fileset, then ``--mind 0.03 --geno 0.02 --maf 0.01 --hwe 1e-6 midp --make-pgen``. Wall
   time = the sum of the commands' wall times.
Peak memory: RSS summed over the process tree, sampled every 0.1 s. Before each timed run a
caller can wait until the 1-minute load average is low (``wait_for_quiet``). PLINK is a
reference, never a pipeline step.
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
