# Association: every configured trait on the training split, one pass per trait in one JVM.

rule gwas:
    input:
        os.path.join(STAMPS, "cohort.json"),
    output:
        stamp=os.path.join(STAMPS, "gwas.json"),
    threads: 2
    resources:
        mem_mb=9000,
    log: os.path.join(LOGS, "gwas.log"),
    benchmark: os.path.join(BENCH, "gwas.tsv"),
    shell: job("gwas") + " --stamp {output.stamp} > {log} 2>&1"
