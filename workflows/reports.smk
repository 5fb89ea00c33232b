# Reports: one HTML + JSON report per consented participant; then the run summary.

rule reports:
    input:
        os.path.join(STAMPS, "risk.json"),
    output:
        stamp=os.path.join(STAMPS, "reports.json"),
    resources:
        mem_mb=2000,
    params: settings=settings_for("reports", config),
    log: os.path.join(LOGS, "reports.log"),
    benchmark: os.path.join(BENCH, "reports.tsv"),
    shell: job("reports") + " --stamp {output.stamp} > {log} 2>&1"


rule summary:
    input:
        os.path.join(STAMPS, "reports.json"),
    output:
        os.path.join(RESULTS, "summary.txt"),
    params: settings=settings_for("summary", config),
    log: os.path.join(LOGS, "summary.log"),
    shell: job("summary") + " --out {output} > {log} 2>&1"
