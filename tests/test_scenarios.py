"""The scenario matrix (issue 11): each tests/scenarios/<name>/ holds a config template and a
scenario.yaml (generator options, the Snakefile target, an expected failure while its fix is
unmerged). The test generates the tiny cohort (tests/scenarios/cohort.py, shared between
scenarios with the same options), runs the Snakefile end to end and asserts on values against
the generator's truth: the samples QC removes, the variants it removes and reads, sex checks,
the cohort, the split, reports and the GWAS against plink2 --glm."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from jobs.lake import open_lake
from tests.scenarios.cohort import contig_name, make_cohort, options_from

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCEN = os.path.join(ROOT, "tests", "scenarios")
NAMES = sorted(d for d in os.listdir(SCEN) if os.path.isfile(os.path.join(SCEN, d, "config.yaml")))


def read_scenario(name: str) -> dict:
    with open(os.path.join(SCEN, name, "scenario.yaml")) as fh:
        return yaml.safe_load(fh)


def fill_config(name: str, data: str, results: str, vcfs: list) -> dict:
    """The scenario's config.yaml with {data}, {results} and {vcfs} filled in."""
    with open(os.path.join(SCEN, name, "config.yaml")) as fh:
        text = fh.read()
    text = text.replace("{vcfs}", json.dumps(vcfs)).replace("{data}", data).replace("{results}", results)
    return yaml.safe_load(text)


def test_every_scenario_config_validates():
    """Fast: each config template, filled, passes the schema and the cross-field rules."""
    from jobs.config import validate_config
    assert len(NAMES) >= 13
    for name in NAMES:
        cfg = fill_config(name, "/data", "/results", ["/data/genotypes/chr1.vcf.gz"])
        out = validate_config(cfg, source=f"tests/scenarios/{name}/config.yaml")
        assert out["cohort"] == name and out["pca"]["n_pcs"] == 3, name
        options_from(read_scenario(name).get("cohort") or {})     # the generator options are known


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory):
    """Generated cohorts keyed by their options: scenarios differing only in config share one."""
    cache: dict = {}

    def get(options):
        if options not in cache:
            cache[options] = make_cohort(options, str(tmp_path_factory.mktemp("cohort")))
        return cache[options]
    return get


def snakemake(config_path: str, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", os.path.join(ROOT, "Snakefile"),
           "--configfile", str(config_path), "--cores", "2", "--profile", os.path.join(ROOT, "conf/profiles/local"),
           *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)


def run_scenario(cfg: dict, results: str, target: str) -> subprocess.CompletedProcess:
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "scenario.key"), "w") as fh:
        fh.write("genolake-scenario-test-key-0123456789abcdef\n")
    path = os.path.join(results, "config.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    extra = [] if target == "all" else [os.path.join(results, "stamps", f"{target}.json")]
    proc = snakemake(path, *extra)
    if proc.returncode != 0:
        logs = os.path.join(results, "logs")
        tails = "".join(open(os.path.join(logs, f)).read()[-2500:] for f in sorted(os.listdir(logs))
                        if f.endswith(".log")) if os.path.isdir(logs) else ""
        raise AssertionError("snakemake failed:\n" + proc.stderr[-3000:] + tails)
    return proc


def linkage(results: str) -> dict:
    """source sample ID -> pseudonym, from the private linkage table."""
    link = open_lake(os.path.join(results, "private")).read("linkage")
    link = link[link["source_kind"] == "sample_id"]
    return dict(zip(link["source_id"], link["participant_id"]))


def job_details(lake, job: str) -> dict:
    runs = lake.read("runs").sort_values("finished_at")
    return json.loads(runs[runs["job"] == job].iloc[-1]["details"])


def params():
    out = []
    for name in NAMES:
        sc = read_scenario(name)
        marks = [pytest.mark.slow]
        if sc.get("xfail"):
            marks.append(pytest.mark.xfail(reason=sc["xfail"], strict=False))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", params())
def test_scenario(name, cohorts, tmp_path):
    sc = read_scenario(name)
    co = cohorts(options_from(sc.get("cohort") or {}))
    results = str(tmp_path / "results")
    cfg = fill_config(name, co.dir, results, co.vcfs)
    t0 = time.time()
    run_scenario(cfg, results, sc["target"])
    seconds = time.time() - t0
    lake = open_lake(cfg["lake"])
    pid = linkage(results)
    check_qc(co, lake, pid, cfg)
    check_cohort(co, lake, pid, cfg)
    extra = CHECKS.get(name)
    if extra:
        extra(co, lake, pid, cfg, results)
    print(f"scenario {name}: {seconds:.0f} s (target {sc['target']})")


# ---- value checks shared by every scenario ----------------------------------------------------

def truth_variant_ids(co) -> pd.Series:
    v = co.variants
    names = v["contig"].map(lambda c: contig_name(c, co.options.build))
    return names + ":" + v["pos"].astype(str) + ":" + v["ref"] + ":" + v["alt"]


def check_qc(co, lake, pid, cfg):
    """QC removes exactly the injected low-call-rate samples (and, with chrX, the sex
    mismatches); every variant is read once; the injected bad variants fail QC."""
    sqc = lake.read("sample_qc")
    sid = {v: k for k, v in pid.items()}
    sqc["sample"] = sqc["s"].map(sid)
    assert len(sqc) == co.options.n and sqc["sample"].notna().all()
    assert sorted(sqc.loc[~sqc["pass_call_rate"], "sample"]) == sorted(co.low_call)
    evidence = job_details(lake, "genotypes").get("evidence", {})
    sex_ran = co.options.chrx != "none" and evidence.get("sex_check", {}).get("verdict") != "skip"
    expect_mismatch = sorted(co.sex_mismatch) if sex_ran else []
    assert sorted(sqc.loc[sqc["sex_mismatch"], "sample"]) == expect_mismatch
    assert sorted(sqc.loc[~sqc["qc_pass"], "sample"]) == sorted(set(co.low_call) | set(expect_mismatch))
    vqc = lake.read("variant_qc")
    ids = truth_variant_ids(co)
    assert len(vqc) == len(co.variants) and vqc["variant_id"].is_unique
    assert set(vqc["variant_id"]) == set(ids)
    failed = set(vqc.loc[~vqc["qc_pass"], "variant_id"])
    bad = set(ids[co.variants["kind"] != "ok"])
    assert bad <= failed
    kind = dict(zip(ids, co.variants["kind"]))
    mono = {i for i, k in kind.items() if k in ("monomorphic", "singleton")}
    miss = {i for i, k in kind.items() if k == "high_missing"}
    v = vqc.set_index("variant_id")
    assert (~v.loc[sorted(mono), "pass_maf"]).all() and (~v.loc[sorted(miss), "pass_call_rate"]).all()
    auto_ok = set(ids[(co.variants["kind"] == "ok") & (co.variants["contig"] != "X")])
    assert len(auto_ok & failed) <= 0.01 * len(auto_ok)        # good autosomal variants pass
    # the QC steps' counts, in order: the call-rate filter takes the high-missing variants, MAF
    # the monomorphic and singleton ones (hand count from the generator's plan)
    steps = {st["step"]: st for st in job_details(lake, "genotypes")["qc_steps"]}
    n_auto = len(co.options.contigs)
    assert steps["sample_call_rate"]["removed"] == len(co.low_call)
    assert steps["variant_call_rate"]["removed"] == co.options.high_missing * n_auto
    assert steps["maf"]["removed"] == (co.options.monomorphic + co.options.singletons) * n_auto


def check_cohort(co, lake, pid, cfg):
    """The cohort is every QC-passed participant (research use is the default without FHIR
    Consent), each once, its consent_feedback the table's where the config names the column."""
    cohort = lake.read("cohort")
    sqc = lake.read("sample_qc")
    passed = set(sqc.loc[sqc["qc_pass"], "s"])
    assert cohort["participant_id"].is_unique and set(cohort["participant_id"]) <= passed
    if not cfg.get("fhir", {}).get("paths"):
        assert set(cohort["participant_id"]) == passed
        assert len(cohort) == co.options.n - len(co.low_call) - len(
            co.sex_mismatch if co.options.chrx != "none" and sqc["sex_mismatch"].any() else [])
    if cfg.get("consent_feedback_column") and not cfg.get("fhir", {}).get("paths"):
        truth = co.people.assign(participant_id=co.people["sample_id"].map(pid)).set_index("participant_id")
        got = cohort.set_index("participant_id")["consent_feedback"].astype(str).str.lower()
        assert (got == truth.loc[got.index, "consent_feedback"]).all()
    splits = cohort["split"].value_counts()
    assert set(splits.index) == {"train", "validation", "test"}


def check_reports(co, lake, pid, cfg, results):
    """One report per cohort member with feedback consent "yes", and no other."""
    cohort = lake.read("cohort")
    yes = set(cohort.loc[cohort["consent_feedback"].astype(str).str.lower() == "yes", "participant_id"])
    rdir = os.path.join(results, "reports")
    stems = {f[:-5] for f in os.listdir(rdir) if f.endswith(".json")}
    assert stems == yes and len(yes) > 0.6 * len(cohort)
    if not cfg.get("fhir", {}).get("paths"):
        truth = co.people.set_index("sample_id")["consent_feedback"]
        sid = {v: k for k, v in pid.items()}
        assert len(yes) == sum(truth[sid[p]] == "yes" for p in cohort["participant_id"])


# ---- per-scenario checks ----------------------------------------------------------------------

def check_security(co, lake, pid, cfg, results, names=frozenset()):
    """issue 12: the private folder and the reports are owner-only (0700 folders, 0600 files); no
    file under results/ but the private folder holds a source sample ID (lake, work arrays, QC
    .fam and MatrixTable, GWAS, MLflow store, logs) or one of ``names``; the logs and the MLflow
    store hold no pseudonym either; the key (given in a file) is in no other file."""
    from tests.test_security import assert_owner_only, files_holding, source_identifiers
    private = os.path.join(results, "private")
    assert assert_owner_only(private) >= 3           # the linkage table: data + log files
    if os.path.isdir(os.path.join(results, "reports")):
        assert assert_owner_only(os.path.join(results, "reports")) > 0
    key_file = os.path.join(results, "scenario.key")
    ids = set(co.samples) | source_identifiers(private)
    assert files_holding(results, ids | set(names), skip=(private, key_file)) == {}
    for store in ("logs", "mlflow"):
        if os.path.isdir(os.path.join(results, store)):
            assert files_holding(os.path.join(results, store), set(pid.values())) == {}, store
    key = open(key_file).read().strip()
    assert files_holding(results, {key}, skip=(key_file,)) == {}


def check_full_run(co, lake, pid, cfg, results):
    """chrx_males_haploid: reports, trait summary rows, the security checks, and the linear
    GWAS = plink2 --glm on the QC .bed with the GWAS samples and covariates (autosomes)."""
    check_reports(co, lake, pid, cfg, results)
    check_security(co, lake, pid, cfg, results)
    assert len(os.listdir(os.path.join(results, "mlflow"))) > 0 and len(os.listdir(os.path.join(results, "logs"))) > 5
    ts = pd.read_csv(os.path.join(results, "phenotypes", "trait_summary.tsv"), sep="\t").set_index("trait")
    assert list(ts.index) == ["ldl_c", "cad"] and ts.loc["ldl_c", "n"] == co.options.n
    summary = open(os.path.join(results, "summary.txt")).read()
    assert f"sample_call_rate   samples        {len(co.low_call)} / {co.options.n - len(co.low_call)}" in summary
    assert f"input              variants       0 / {len(co.variants)}" in summary
    if not shutil.which("plink2"):
        pytest.skip("plink2 not installed (make test installs it)")
    from jobs.config import load_config
    from jobs.gwas_inputs import gwas_inputs
    from jobs.runtime import JobContext
    from genomics.plink_bed import read_bim_fam
    eff = load_config(os.path.join(results, "run", "config.yaml"))
    inp = gwas_inputs(JobContext(job="test", config=eff, lake=lake))
    _, fam = read_bim_fam(inp.prefix)
    fid = dict(zip(fam["iid"], fam["fid"])) if "fid" in fam else {}
    work = os.path.join(results, "plink_check")
    os.makedirs(work, exist_ok=True)
    ids = inp.pheno["participant_id"]
    head = pd.DataFrame({"#FID": ids.map(fid).fillna(ids) if fid else ids, "IID": ids})
    trait = next(t for t in eff["traits"] if t["name"] == "ldl_c")
    head.assign(ldl_c=inp.pheno[trait["column"]].to_numpy()).to_csv(f"{work}/pheno.txt", sep="\t", index=False,
                                                                     na_rep="NA")
    cov = head.copy()
    for c in inp.covariates:
        cov[c] = inp.pheno[c].to_numpy()
    cov.to_csv(f"{work}/covar.txt", sep="\t", index=False, na_rep="NA")
    head.to_csv(f"{work}/keep.txt", sep="\t", index=False)
    subprocess.run(["plink2", "--bfile", inp.prefix, "--keep", f"{work}/keep.txt", "--autosome",
                    "--pheno", f"{work}/pheno.txt", "--covar", f"{work}/covar.txt", "--covar-variance-standardize",
                    "--glm", "hide-covar", "omit-ref", "--threads", "1", "--out", f"{work}/glm"],
                   check=True, capture_output=True)
    pl = pd.read_csv(f"{work}/glm.ldl_c.glm.linear", sep="\t")
    pl = pl[pl["TEST"] == "ADD"].dropna(subset=["BETA"])
    g = lake.read("gwas_results")
    g = g[(g["trait"] == "ldl_c")].dropna(subset=["beta"])
    g = g.assign(chrom=g["chromosome"].astype(str).str.replace("^chr", "", regex=True))
    pl = pl.assign(chrom=pl["#CHROM"].astype(str).str.replace("^chr", "", regex=True))
    m = g.merge(pl, left_on=["chrom", "base_pair_location", "effect_allele"], right_on=["chrom", "POS", "ALT"])
    assert len(m) == len(pl) > 1000 and int(g["n"].max()) == len(ids)
    assert np.abs(m["beta"] - m["BETA"]).max() < 1e-4
    assert np.allclose(-np.log10(m["p_value"]), -np.log10(m["P"]), atol=1e-3)
    # the causal ldl_c variants are the top hits
    top = set(g.nsmallest(2, "p_value")["base_pair_location"])
    assert top == {int(p) for _, p in co.causal["ldl_c"]}


def check_families(co, lake, pid, cfg, results):
    """KING finds the families' first-degree pairs; nobody in validation/test has a
    first-degree relative in train (split by family)."""
    cohort = lake.read("cohort").set_index("participant_id")["split"]
    pairs = {tuple(sorted((pid[a], pid[b]))) for a, b in co.first_degree_pairs()}
    rel = lake.read("relatedness")
    found = {tuple(sorted(x)) for x in zip(rel["i"], rel["j"])}
    assert len(pairs & found) >= 0.9 * len(pairs)
    for a, b in pairs:
        if a in cohort.index and b in cohort.index:
            sa, sb = cohort[a], cohort[b]
            assert not ({sa, sb} & {"validation", "test"} and "train" in {sa, sb}), (sa, sb)


def check_few_variants(co, lake, pid, cfg, results):
    """Thin evidence: the sex check and KING are skipped (below qc.min_variants skip), PCA
    warns; the run details and the QC report say so; nobody is dropped on noise."""
    ev = job_details(lake, "genotypes")["evidence"]
    assert ev["sex_check"]["verdict"] == "skip" and ev["kinship"]["verdict"] == "skip"
    assert ev["pca"]["verdict"] in ("warn", "skip")
    sqc = lake.read("sample_qc")
    assert sqc.loc[sqc["qc_pass"], "unrelated"].all()     # KING skipped: nobody left out
    report = open(next(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(results, "qc"))
                       for f in fs if f.endswith(".html"))).read().lower()
    assert "skip" in report and "sex" in report


def check_no_chrx(co, lake, pid, cfg, results):
    """No chrX: no sex call, nobody removed for sex; nothing left in results/tmp/genotypes."""
    sqc = lake.read("sample_qc")
    assert not sqc["sex_mismatch"].any() and sqc["genetic_sex"].isna().all()
    tmp = os.path.join(results, "tmp", "genotypes")
    assert not os.path.isdir(tmp) or not [f for f in os.listdir(tmp) if f.startswith("qc.")]


def check_diploid_males(co, lake, pid, cfg, results):
    """Males coded diploid (homozygous) on chrX: sex F still separates the sexes."""
    sqc = lake.read("sample_qc")
    sid = {v: k for k, v in pid.items()}
    truth = co.people.set_index("sample_id")["sex"]
    called = sqc.dropna(subset=["genetic_sex"])
    ok = called[~called["s"].map(sid).isin(co.low_call)]
    assert (ok["genetic_sex"].astype(str).str[0].str.upper() == ok["s"].map(sid).map(truth)).mean() > 0.98


def check_table_traits(co, lake, pid, cfg, results):
    """Traits from table columns: the participants table holds the table's values; the summary lists both."""
    tr = lake.read("participants").set_index("participant_id")
    truth = co.people.assign(participant_id=co.people["sample_id"].map(pid)).set_index("participant_id")
    common = tr.index.intersection(truth.index)
    assert len(common) == co.options.n
    assert np.allclose(tr.loc[common, "ldl_c"].astype(float), truth.loc[common, "ldl_c"], atol=1e-6)
    ts = pd.read_csv(os.path.join(results, "phenotypes", "trait_summary.tsv"), sep="\t")
    assert list(ts["trait"]) == ["ldl_c", "cad"]
    check_reports(co, lake, pid, cfg, results)
    check_trait_without_score(lake, cfg, results)


def check_trait_without_score(lake, cfg, results):
    """A trait whose best GWAS p-value misses every PRS threshold gets no score and no model; the
    other trait's score, model and report sections go on, and the changed setting reruns only the
    stages from prs on."""
    g = lake.read("gwas_results")
    best = g.groupby("trait")["p_value"].min()
    weak, strong = best.idxmax(), best.idxmin()
    cut = float(best[weak]) / 2
    assert best[strong] < cut
    cfg2 = dict(cfg, prs=dict(cfg.get("prs") or {}, p_thresholds=[cut]))
    proc = run_scenario(cfg2, results, "all")
    ran = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))
    assert "prs" in ran and not ran & {"phenotypes", "read_genotypes", "genotypes", "cohort", "gwas"}, ran
    lake = open_lake(cfg["lake"])
    assert set(lake.read("prs_scores")["trait"]) == {strong}
    assert set(lake.read("risk_predictions")["trait"]) == {strong}
    assert job_details(lake, "prs")["no_score"] == {weak: f"no GWAS variant with p <= {cut:g}"}
    text = open(os.path.join(results, "summary.txt")).read()
    assert f"{weak:<10} no polygenic score, so no risk model" in text


def check_fhir_traits(co, lake, pid, cfg, results):
    tr = lake.read("traits").set_index("participant_id")
    truth = co.people.assign(participant_id=co.people["sample_id"].map(pid)).set_index("participant_id")
    m = truth.join(tr, rsuffix="_derived").dropna(subset=["ldl_c_derived"])
    assert len(m) > 0.8 * co.options.n and np.corrcoef(m["ldl_c"], m["ldl_c_derived"].astype(float))[0, 1] > 0.95
    from tests.test_security import patient_details
    check_security(co, lake, pid, cfg, results, names=patient_details(co.fhir_dir))


def check_no_consent(co, lake, pid, cfg, results):
    """No consent information: no personal report; the run summary names the default applied."""
    rdir = os.path.join(results, "reports")
    assert not os.path.isdir(rdir) or not [f for f in os.listdir(rdir) if f.endswith(".json")]
    text = open(os.path.join(results, "summary.txt")).read().lower()
    assert "consent" in text and "default" in text


def check_reingest(co, lake, pid, cfg, results):
    """Nothing quarantined, then an updated extract (a changed value, a new row) into the same
    lake: no error, the value updated, no row duplicated."""
    assert len(lake.read("quarantine")) == 0
    table = pd.read_csv(co.phenotypes)
    first = table["sample_id"].iloc[0]
    table.loc[0, "ldl_c"] = 9.876
    new = table.iloc[[1]].assign(sample_id="NEW0001", ldl_c=4.321)
    updated = os.path.join(results, "phenotypes_v2.csv")
    pd.concat([table, new]).to_csv(updated, index=False)
    cfg2 = dict(cfg, phenotypes=dict(cfg["phenotypes"], path=updated))
    n_before = len(lake.read("participants"))
    run_scenario(cfg2, results, "cohort")
    lake = open_lake(cfg["lake"])
    pid = linkage(results)
    parts = lake.read("participants")
    # the new row names a sample the VCFs do not hold: an ungenotyped participant (the phenotype
    # ingest never reads the VCFs), added once, outside the genotyped cohort
    assert parts["participant_id"].is_unique and len(parts) == n_before + 1
    q = lake.read("quarantine")
    assert len(q[q["source"] == updated]) == 0
    new_pid = pid["NEW0001"]
    assert new_pid in set(parts["participant_id"]) and new_pid not in set(lake.read("cohort")["participant_id"])
    tr = parts.set_index("participant_id")
    assert float(tr.loc[pid[first], "ldl_c"]) == pytest.approx(9.876)      # the changed value updated


def check_contig_names(co, lake, pid, cfg, results):
    """20 and chr20 are one contig after renaming; the variant in both files is kept once and
    reported (the genotype job's details name the duplicates)."""
    vqc = lake.read("variant_qc")
    assert vqc["variant_id"].is_unique
    details = json.dumps(job_details(lake, "genotypes")).lower()
    assert "duplicate" in details


def check_sample_split(co, lake, pid, cfg, results):
    """Files of disjoint sample halves merged by variant: every sample's call rate and every
    variant's called count (QC-passed samples) are the generator's, counting as missing the
    calls of the half whose files lack the variant."""
    truth = co.dosage != -1                                   # variants x samples, cohort order
    sqc = lake.read("sample_qc").set_index("s")
    rate = sqc.loc[[pid[x] for x in co.samples], "call_rate"].to_numpy()
    assert np.allclose(rate, truth.mean(axis=0))
    dropped = np.flatnonzero(truth[:, co.options.n // 2:].sum(axis=1) == 0)
    assert len(dropped) == co.options.high_missing             # the first contig's high-missing rows
    passed = sqc.loc[[pid[x] for x in co.samples], "qc_pass"].to_numpy()
    vqc = lake.read("variant_qc").set_index("variant_id")
    n_called = vqc.loc[truth_variant_ids(co), "n_called"].to_numpy()
    assert n_called.tolist() == truth[:, passed].sum(axis=1).tolist()


def check_faults(results: str) -> None:
    """Faults done for real on the finished run (bench/faults.py): a SIGKILLed reports and risk
    job, a second config with another pseudonym key on the same lake (the full disk and the
    read-only lake: tests/test_lake.py, and all of them in bench/faults.py). After each, a plain rerun gives results equal to this run's (every Delta table both
    ways, reports but for run ids and dates, no leftovers, no RUNNING MLflow run, no registered
    version from a run that never succeeded) and redoes only the interrupted stage and after."""
    from bench.faults import Workflow, snapshot, try_fault
    wf = Workflow(os.path.join(results, "config.yaml"))
    base = snapshot(wf.cfg)
    assert len(base["reports"]) > 50 and not base["leftovers"]
    for fault in ["kill:reports", "kill:risk", "two-configs-one-lake"]:   # the rest: bench/faults.py
        row = try_fault(wf, fault, base)
        if row["survived"] == "skipped":
            continue                     # read-only-lake without root (CI runs as root)
        assert row["rows_lost"] == 0 and row["rows_duplicated"] == 0, row
        assert row["stale_or_mixed"] == 0 and row["reran_only_affected"] and row["survived"] is True, row


def check_full_run_and_faults(co, lake, pid, cfg, results):
    check_full_run(co, lake, pid, cfg, results)
    check_faults(results)


CHECKS = {"chrx_males_haploid": check_full_run_and_faults, "families": check_families, "few_variants": check_few_variants,
          "no_chrx": check_no_chrx, "chrx_males_diploid": check_diploid_males, "table_traits_only": check_table_traits,
          "fhir_traits_only": check_fhir_traits, "no_consent": check_no_consent, "reingest": check_reingest,
          "contig_names_differ": check_contig_names, "sample_split": check_sample_split}
