# Genotypes: the example cohort (when configured), then ingest + QC + ancestry PCA in one JVM.

if "example_cohort" in config:
    EX = config["example_cohort"]
    _prefix = "chr" if config["reference_genome"] == "GRCh38" else ""

    rule example_cohort:
        output:
            vcfs=[os.path.join(EX["out"], "genotypes", f"{_prefix}{c}.vcf.gz")
                  for c in EX["chromosomes"] + (["X"] if EX["include_x"] else [])],
            phenotypes=os.path.join(EX["out"], "phenotypes.csv"),
            truth=os.path.join(EX["out"], "truth.tsv"),
            clinical=os.path.join(EX["out"], "clinical_dirty.tsv"),
            devices=os.path.join(EX["out"], "clinical", "devices.csv"),
        params:
            args=(f"--out {EX['out']} --n-samples {EX['n_samples']} --seed {EX['seed']} "
                  f"--chromosomes {','.join(EX['chromosomes'])} --contig-prefix '{_prefix}'"
                  + (f" --sequence-length {EX['sequence_length_bp']}" if "sequence_length_bp" in EX else "")
                  + (f" --mutation-rate {EX['mutation_rate']}" if "mutation_rate" in EX else "")
                  + (f" --x-sequence-length {EX['x_sequence_length_bp']}" if "x_sequence_length_bp" in EX else "")
                  + ("" if EX["include_x"] else " --no-x")),
        log: os.path.join(LOGS, "example_cohort.log"),
        benchmark: os.path.join(BENCH, "example_cohort.tsv"),
        shell: "{PY} -m jobs.simulate {params.args} > {log} 2>&1"


rule read_genotypes:
    # one job per input VCF (a file per chromosome reads in parallel), combined by `genotypes`;
    # independent of the phenotype ingest (a new clinical extract does not re-read the VCFs);
    # parallel first appends to the lineage `runs` table are safe (jobs/lineage.py append_run)
    input:
        vcf=lambda wc: config["vcfs"][int(wc.i)],
    output:
        stamp=os.path.join(STAMPS, "read_genotypes", "{i}.json"),
    wildcard_constraints:
        i=r"\d+",
    threads: 1
    resources:
        mem_mb=4000,
    params: settings=settings_for("read_genotypes", config),
    log: os.path.join(LOGS, "read_genotypes_{i}.log"),
    benchmark: os.path.join(BENCH, "read_genotypes_{i}.tsv"),
    shell: job("read_genotypes") + " --vcf-index {wildcards.i} --stamp {output.stamp} > {log} 2>&1"


rule genotypes:
    input:
        vcfs=config["vcfs"],
        arrays=expand(os.path.join(STAMPS, "read_genotypes", "{i}.json"), i=range(len(config["vcfs"]))),
        phenotypes=os.path.join(STAMPS, "phenotypes.json"),
    output:
        stamp=os.path.join(STAMPS, "genotypes.json"),
    threads: 2
    resources:
        mem_mb=9000,
    params: settings=settings_for("genotypes", config),
    log: os.path.join(LOGS, "genotypes.log"),
    benchmark: os.path.join(BENCH, "genotypes.tsv"),
    shell: job("genotypes") + " --stamp {output.stamp} > {log} 2>&1"
