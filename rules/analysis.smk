rule analysis_aggregate:
    input:
        samples=samples_files(),
        scores=scores_files(),
    output:
        table="data/results/answers.parquet",
        csv="data/results/answers.csv",
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/aggregate.log",
    shell:
        "emlab analysis aggregate --samples {input.samples} --scores {input.scores} --out {output.table} > {log} 2>&1"


rule analysis_rates:
    input:
        "data/results/answers.parquet",
    output:
        rates=report("data/results/rates.csv", caption="../docs/report/rates.rst", category="Results"),
        metrics="data/results/metrics.json",
    params:
        analysis=PARAMS.analysis.model_dump(),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/rates.log",
    shell:
        "emlab analysis rates --answers {input} --params params.yaml --out {output.rates}"
        " --metrics {output.metrics} > {log} 2>&1"


rule analysis_figures:
    input:
        table="data/results/answers.parquet",
        # hashed into every figure's provenance.json
        samples=samples_files(),
        scores=scores_files(),
    output:
        report(
            directory("figures"),
            patterns=["{name}.png"],
            caption="../docs/report/figure.rst",
            category="Figures",
        ),
    params:
        analysis=PARAMS.analysis.model_dump(),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/figures.log",
    shell:
        "emlab analysis figures --answers {input.table} --params params.yaml --out-dir {output} > {log} 2>&1"
