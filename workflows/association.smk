# Association: the genome in gwas.chunks chunks of consecutive contig ranges (one job each, every
# trait per genotype block), gathered into the Delta table gwas_results, then loci, plots, pages.

GWAS_CHUNKS = config["gwas"]["chunks"]


rule gwas_chunk:
    input:
        os.path.join(STAMPS, "cohort.json"),
    output:
        stamp=os.path.join(STAMPS, "gwas_chunk", f"{GWAS_CHUNKS}", "{c}.json"),
    wildcard_constraints:
        c=r"\d+",
    threads: 2 if GWAS_CHUNKS == 1 else 1
    resources:
        mem_mb=4000,
    params: settings=settings_for("gwas_chunk", config),
    log: os.path.join(LOGS, "gwas_chunk_{c}.log"),
    benchmark: os.path.join(BENCH, "gwas_chunk_{c}.tsv"),
    shell: job("gwas_chunk") + " --chunk {wildcards.c} --stamp {output.stamp} > {log} 2>&1"


rule gwas:
    input:
        expand(os.path.join(STAMPS, "gwas_chunk", f"{GWAS_CHUNKS}", "{c}.json"), c=range(GWAS_CHUNKS)),
    output:
        stamp=os.path.join(STAMPS, "gwas.json"),
    resources:
        mem_mb=3000,
    params: settings=settings_for("gwas", config),
    log: os.path.join(LOGS, "gwas.log"),
    benchmark: os.path.join(BENCH, "gwas.tsv"),
    shell: job("gwas") + " --stamp {output.stamp} > {log} 2>&1"
