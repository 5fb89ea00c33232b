"""The fault suite: each fault done for real on a small generated cohort, then a plain rerun,
then the results compared with an uninterrupted run.

    .venv/bin/python bench/faults.py [--work /tmp/genolake_faults] [--only kill:risk,key] [--out bench/out/faults.tsv]

Faults: SIGKILL of each job kind part-way (at 60 % of its uninterrupted wall time), SIGKILL of
the whole Snakemake process group, two runs on one results folder, a second config (another
pseudonym key) on the same lake, a read-only lake and a full disk (the lake on a small tmpfs:
needs root; skipped otherwise). After each fault, ``snakemake`` is run again with nothing changed
and the table records: whether the rerun completed, rows lost / duplicated against the
uninterrupted run (every Delta table but the lineage ``runs``, compared both ways as multisets
with run-specific columns left out), stale or mixed outputs (reports differing from the
uninterrupted ones once run ids and dates are left out, files left in ``results/tmp`` or as
``*.tmp``, RUNNING MLflow runs, registered versions from runs that never succeeded), and whether
the rerun redid only the interrupted stage and those after it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

# the workflow's stages in order (read_genotypes runs beside phenotypes)
CHAIN = ["genotypes", "cohort", "gwas_chunk", "gwas", "prs", "risk", "reports", "summary"]
# columns whose values differ between two correct runs (ids of the run, not results)
RUN_SPECIFIC = {"run_id", "mlflow_run_id", "model_version", "workflow_run_id", "started_at", "finished_at"}
REPORT_RUN_SPECIFIC = [
    (re.compile(r'"(run_id|generated_at|mlflow_run_id|model_version|data_versions)": ("[^"]*"|\{[^}]*\}|\d+)'),
     r'"\1": "-"'),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),                                   # run ids
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"(version|v)\s?\d+\b"), r"\1 N"),                               # registry versions
    (re.compile(r"<tr><th>([a-z][a-z0-9_]*)</th><td>\d+</td></tr>"), r"<tr><th>\1</th><td>N</td></tr>"),  # Delta versions
]


def normalise_report(text: str) -> str:
    """A report with what differs between two correct runs (run ids, dates, registry and
    table versions) replaced by placeholders."""
    for pattern, repl in REPORT_RUN_SPECIFIC:
        text = pattern.sub(repl, text)
    return text


def expected_rerun(job: str) -> set[str]:
    """The rules a rerun after ``job`` was killed should run: it and every stage after it."""
    if job in ("phenotypes", "read_genotypes"):
        return {job, *CHAIN}
    return set(CHAIN[CHAIN.index(job):])


class Workflow:
    def __init__(self, config_path: str):
        self.config_path = config_path
        with open(config_path) as fh:
            self.cfg = yaml.safe_load(fh)

    @property
    def results(self) -> str:
        return self.cfg["results"]

    def command(self, *extra) -> list[str]:
        return [sys.executable, "-m", "snakemake", "--snakefile", os.path.join(ROOT, "Snakefile"),
                "--configfile", self.config_path, "--cores", "2", "--profile",
                os.path.join(ROOT, "conf/profiles/local"), *extra]

    def start(self, *extra) -> subprocess.Popen:
        return subprocess.Popen(self.command(*extra), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)

    def run(self, *extra) -> tuple[int, set[str], str]:
        p = subprocess.run(self.command(*extra), cwd=ROOT, capture_output=True, text=True, timeout=3600)
        out = p.stdout + p.stderr
        return p.returncode, rules_run(out), out


def rules_run(output: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", output, re.M)) - {"all"}


def job_pid(job: str, timeout: float = 600) -> int | None:
    """The pid of the running ``python -m jobs.<job>`` process (waits for it to start)."""
    import psutil
    t0 = time.time()
    while time.time() - t0 < timeout:
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info["cmdline"] or []
            if "-m" in cmd and f"jobs.{job}" in cmd:
                return p.pid
        time.sleep(0.1)
    return None


def stage_seconds(results: str, job: str) -> float:
    name = {"read_genotypes": "read_genotypes_0", "gwas_chunk": "gwas_chunk_0"}.get(job, job)
    path = os.path.join(results, "benchmarks", f"{name}.tsv")
    return float(pd.read_csv(path, sep="\t")["s"].iloc[-1]) if os.path.exists(path) else 5.0


# -- what a run leaves ---------------------------------------------------------------------

def snapshot(cfg: dict) -> dict:
    from jobs.lake import open_lake
    lake = open_lake(cfg["lake"])
    tables = {}
    for name in lake.tables():
        if name == "runs":
            continue
        df = lake.read(name)
        df = df[[c for c in df.columns if c not in RUN_SPECIFIC]].astype(str)
        tables[name] = df
    reports = {}
    rdir = os.path.join(cfg["results"], "reports")
    if os.path.isdir(rdir):
        for f in sorted(os.listdir(rdir)):
            with open(os.path.join(rdir, f), encoding="utf-8") as fh:
                reports[f] = normalise_report(fh.read())
    leftovers = []
    for base, _, files in os.walk(cfg["results"]):
        for f in files:
            p = os.path.join(base, f)
            if f.endswith(".tmp") or os.sep + "tmp" + os.sep in p[len(cfg["results"]):] \
                    or base.endswith((".new", ".old")):
                leftovers.append(p)
    return {"tables": tables, "reports": reports, "leftovers": leftovers, "mlflow": mlflow_state(cfg, lake)}


def mlflow_state(cfg: dict, lake) -> dict:
    db = os.path.join(cfg["results"], "mlflow", "mlflow.db")
    if not os.path.exists(db):
        return {"running": 0, "unused_versions": 0}
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{os.path.abspath(db)}")
    runs = lake.read("runs", columns=["run_id", "job", "status"])
    ok = set(runs.loc[(runs["job"] == "risk") & (runs["status"] == "succeeded"), "run_id"])
    running = unused = 0
    for e in client.search_experiments():
        for r in client.search_runs([e.experiment_id], max_results=50000):
            running += r.info.status == "RUNNING"
    for m in client.search_registered_models():
        for v in client.search_model_versions(f"name='{m.name}'"):
            run = client.get_run(v.run_id)
            unused += run.info.status != "FINISHED" or run.data.tags.get("genolake_run_id") not in ok
    return {"running": running, "unused_versions": unused}


def compare(base: dict, now: dict) -> dict:
    """Rows lost / duplicated (multisets of every table), stale or mixed outputs."""
    lost = dup = 0
    for name, b in base["tables"].items():
        n = now["tables"].get(name)
        if n is None:
            lost += len(b)
            continue
        cols = sorted(set(b.columns) & set(n.columns))
        kb = b[cols].value_counts()
        kn = n[cols].value_counts()
        both = kb.to_frame("b").join(kn.to_frame("n"), how="outer").fillna(0)
        lost += int((both["b"] - both["n"]).clip(lower=0).sum())
        dup += int((both["n"] - both["b"]).clip(lower=0).sum())
    for name in set(now["tables"]) - set(base["tables"]):
        dup += len(now["tables"][name])
    stale = sum(base["reports"].get(f) != now["reports"].get(f)
                for f in set(base["reports"]) | set(now["reports"]))
    stale += len(now["leftovers"]) + now["mlflow"]["running"] + now["mlflow"]["unused_versions"]
    return {"rows_lost": lost, "rows_duplicated": dup, "stale_or_mixed": stale,
            "detail": {"reports_differing": stale - len(now["leftovers"]) - now["mlflow"]["running"]
                       - now["mlflow"]["unused_versions"], "leftovers": now["leftovers"][:5], **now["mlflow"]}}


# -- the faults ----------------------------------------------------------------------------

def _reports_half_written(results: str) -> bool:
    d = os.path.join(results, "reports.new")
    return os.path.isdir(d) and len(os.listdir(d)) >= 20


# jobs killed at a write rather than at a share of their time
KILL_WHEN = {"reports": _reports_half_written}


def kill_job(wf: Workflow, job: str, fractions=(0.6, 0.3, 0.1)) -> dict:
    """Force ``job`` to run, SIGKILL it part-way; the workflow fails. A job that finished before
    the kill (short jobs on a busy machine) is tried again, killed earlier."""
    seconds = stage_seconds(wf.results, job)
    for tries, fraction in enumerate(fractions, start=1):
        delay = max(0.2, fraction * seconds)
        p = wf.start("--forcerun", job)
        pid = job_pid(job)
        when = KILL_WHEN.get(job)
        if when is None:
            time.sleep(delay)
        else:                    # at a write: wait (up to 3x the job's time) for it to be under way
            t0 = time.time()
            while not when(wf.results) and time.time() - t0 < 3 * seconds and p.poll() is None:
                time.sleep(0.02)
        killed = False
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                pass
        p.communicate(timeout=3600)
        if killed and p.returncode != 0:
            break
    return {"killed": killed, "at_s": round(delay, 1), "tries": tries, "expect": expected_rerun(job)}


def kill_workflow(wf: Workflow, job: str = "genotypes", fraction: float = 0.6) -> dict:
    """SIGKILL the whole Snakemake process group while ``job`` runs."""
    delay = max(0.5, fraction * stage_seconds(wf.results, job))
    p = wf.start("--forcerun", job)
    pid = job_pid(job)
    time.sleep(delay)
    os.killpg(os.getpgid(p.pid), signal.SIGKILL)
    p.communicate(timeout=600)
    # Snakemake's own lock is left behind by a killed workflow; a user unlocks it
    subprocess.run(wf.command("--unlock"), cwd=ROOT, capture_output=True, timeout=600)
    return {"killed": pid is not None, "at_s": round(delay, 1), "expect": expected_rerun(job)}


def two_runs_one_results(wf: Workflow, job: str = "gwas") -> dict:
    """A second run on the same results folder while the first runs (with another setting)."""
    first = wf.start("--forcerun", job)
    job_pid(job)
    other = dict(wf.cfg, qc=dict(wf.cfg.get("qc") or {}, maf=0.2))
    path = wf.config_path.replace(".yaml", ".second.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(other, fh)
    second = subprocess.run(Workflow(path).command(), cwd=ROOT, capture_output=True, text=True, timeout=3600)
    first.communicate(timeout=3600)
    with open(os.path.join(wf.results, "run", "config.yaml")) as fh:
        last = yaml.safe_load(fh)
    refused = second.returncode != 0 and "lock" in (second.stdout + second.stderr).lower()
    return {"second_refused": refused, "config_kept": last["qc"].get("maf") != 0.2,
            "expect": set(CHAIN[CHAIN.index(job):]) if first.returncode else set()}


def second_config_same_lake(wf: Workflow) -> dict:
    """Another config (its own results folder and pseudonym key) pointed at the same lake."""
    results2 = wf.results + "_second"
    shutil.rmtree(results2, ignore_errors=True)
    os.makedirs(results2)
    with open(os.path.join(results2, "other.key"), "w") as fh:
        fh.write("another-key-0123456789abcdef0123456789abcdef\n")
    other = dict(wf.cfg, results=results2, privacy={"key_file": os.path.join(results2, "other.key")})
    path = wf.config_path.replace(".yaml", ".otherkey.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(other, fh)
    rc, _, out = Workflow(path).run(os.path.join(results2, "stamps", "phenotypes.json"))
    log = open(os.path.join(results2, "logs", "phenotypes.log")).read() if os.path.exists(
        os.path.join(results2, "logs", "phenotypes.log")) else out
    return {"refused": rc != 0 and "another key" in log, "expect": set()}


def _mount_lake(wf: Workflow, size_mb: int) -> bool:
    lake = wf.cfg["lake"]
    keep = lake + ".copy"
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(lake, keep, symlinks=True)
    shutil.rmtree(lake)
    os.makedirs(lake)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", lake],
                      capture_output=True).returncode != 0:
        shutil.rmtree(lake)
        os.replace(keep, lake)
        return False
    subprocess.run(["cp", "-a", keep + "/.", lake], check=True)
    shutil.rmtree(keep)
    return True


def _unmount_lake(wf: Workflow) -> None:
    lake = wf.cfg["lake"]
    keep = lake + ".copy"
    shutil.copytree(lake, keep, symlinks=True)
    subprocess.run(["umount", lake], check=True)
    shutil.rmtree(lake)
    os.replace(keep, lake)


def lake_fault(wf: Workflow, kind: str) -> dict:
    """The lake read-only, or full (a tmpfs just larger than it), while the phenotype job writes."""
    used = sum(os.path.getsize(os.path.join(b, f)) for b, _, fs in os.walk(wf.cfg["lake"]) for f in fs)
    if not _mount_lake(wf, max(2, used // 2**20 + 64)):
        return {"skipped": "cannot mount a tmpfs (needs root)"}
    try:
        lake = wf.cfg["lake"]
        if kind == "read_only":
            subprocess.run(["mount", "-o", "remount,ro", lake], check=True)
        else:   # fill what is left
            subprocess.run(["dd", "if=/dev/zero", f"of={lake}/filler", "bs=1M", "count=100000"],
                           capture_output=True)
            with open(f"{lake}/filler", "ab"):
                pass
        rc, _, _ = wf.run("--forcerun", "phenotypes")
        log = open(os.path.join(wf.results, "logs", "phenotypes.log")).read()
        cause = "Read-only file system" if kind == "read_only" else "No space left on device"
        named = cause in log and lake in log
        if kind == "read_only":
            subprocess.run(["mount", "-o", "remount,rw", lake], check=True)
        else:
            os.remove(f"{lake}/filler")
    finally:
        _unmount_lake(wf)
    return {"failed_cleanly": rc != 0 and named, "expect": {"phenotypes", *CHAIN}}


def paths_spelled_another_way(wf: Workflow) -> dict:
    """The same extract named through a symlinked folder and with `..` in the path: nothing is
    rerun (the paths are canonical) and no row changes."""
    data = os.path.dirname(wf.cfg["phenotypes"]["path"])
    link = data + "_link"
    if not os.path.islink(link):
        os.symlink(data, link)
    other = yaml.safe_load(yaml.safe_dump(wf.cfg).replace(data + "/", link + "/../" + os.path.basename(link) + "/"))
    path = wf.config_path.replace(".yaml", ".spelled.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(other, fh)
    rc, ran, _ = Workflow(path).run()
    return {"same_source": rc == 0 and not ran, "expect": set()}


FAULTS = {
    **{f"kill:{j}": (lambda j: lambda wf: kill_job(wf, j))(j)
       for j in ["phenotypes", "read_genotypes", "genotypes", "cohort", "gwas_chunk", "gwas", "prs", "risk", "reports"]},
    "kill-workflow": kill_workflow,
    "two-runs-one-results": two_runs_one_results,
    "two-configs-one-lake": second_config_same_lake,
    "read-only-lake": lambda wf: lake_fault(wf, "read_only"),
    "disk-full": lambda wf: lake_fault(wf, "full"),
    "paths-spelled-another-way": paths_spelled_another_way,
}


def try_fault(wf: Workflow, name: str, base: dict) -> dict:
    info = FAULTS[name](wf)
    if "skipped" in info:
        return {"fault": name, "runs_tried": 0, "survived": "skipped", "note": info["skipped"]}
    rc, ran, out = wf.run()
    now = snapshot(wf.cfg)
    diff = compare(base, now)
    checks = {k: v for k, v in info.items() if k not in ("expect", "at_s", "tries")}
    survived = rc == 0 and all(bool(v) for v in checks.values()) and not (
        diff["rows_lost"] or diff["rows_duplicated"] or diff["stale_or_mixed"])
    return {"fault": name, "runs_tried": info.get("tries", 1), "survived": bool(survived), **{k: diff[k] for k in
            ("rows_lost", "rows_duplicated", "stale_or_mixed")},
            "reran_only_affected": ran == info["expect"], "reran": ",".join(sorted(ran)),
            "checks": json.dumps(checks), "detail": json.dumps(diff["detail"])}


def prepare(work: str) -> Workflow:
    """A generated cohort (the chrx_males_haploid scenario's) and its config under ``work``."""
    from tests.scenarios.cohort import make_cohort, options_from
    from tests.test_scenarios import fill_config, read_scenario
    name = "chrx_males_haploid"
    co = make_cohort(options_from(read_scenario(name).get("cohort") or {}), os.path.join(work, "data"))
    results = os.path.join(work, "results")
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "scenario.key"), "w") as fh:
        fh.write("genolake-scenario-test-key-0123456789abcdef\n")
    cfg = fill_config(name, co.dir, results, co.vcfs)
    path = os.path.join(work, "config.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return Workflow(path)


def run_suite(work: str, names: list[str]) -> pd.DataFrame:
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    wf = prepare(work)
    rc, _, out = wf.run()
    if rc != 0:
        raise RuntimeError("the uninterrupted run failed:\n" + out[-3000:])
    base = snapshot(wf.cfg)
    rows = []
    for name in names:
        t0 = time.time()
        row = try_fault(wf, name, base)
        row["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/genolake_faults")
    ap.add_argument("--only", help="comma-separated fault names (default: all): " + ", ".join(FAULTS))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "faults.tsv"))
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(FAULTS)
    table = run_suite(args.work, names)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    table.to_csv(args.out, sep="\t", index=False)
    print(table[["fault", "survived", "rows_lost", "rows_duplicated", "stale_or_mixed", "reran_only_affected"]]
          .to_string(index=False))
    return 0 if table["survived"].isin([True, "skipped"]).all() else 1


if __name__ == "__main__":
    sys.exit(main())
