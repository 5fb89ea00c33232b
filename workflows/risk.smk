# Risk: C+T polygenic scores (threshold chosen on the validation split), then the risk models.

rule prs:
    input:
        os.path.join(STAMPS, "gwas.json"),
    output:
        stamp=os.path.join(STAMPS, "prs.json"),
    resources:
        mem_mb=4000,
    params: settings=settings_for("prs", config),
    log: os.path.join(LOGS, "prs.log"),
    benchmark: os.path.join(BENCH, "prs.tsv"),
    shell: job("prs") + " --stamp {output.stamp} > {log} 2>&1"


rule risk:
    input:
        os.path.join(STAMPS, "prs.json"),
    output:
        stamp=os.path.join(STAMPS, "risk.json"),
    resources:
        mem_mb=3000,
    params: settings=settings_for("risk", config),
    log: os.path.join(LOGS, "risk.log"),
    benchmark: os.path.join(BENCH, "risk.tsv"),
    shell: job("risk") + " --stamp {output.stamp} > {log} 2>&1"
