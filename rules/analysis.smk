rule analysis_aggregate:
    input:
        **declared_inputs("analysis_aggregate"),
        samples=samples_files(),
        scores=scores_files(),
    output:
        table=declared_output("analysis_aggregate", "table"),
        csv=declared_output("analysis_aggregate", "csv"),
    resources:
        **job_resources("analysis_aggregate"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/aggregate.log",
    shell:
        "emlab analysis aggregate --samples {input.samples} --scores {input.scores} --out {output.table} > {log} 2>&1"


rule analysis_rates:
    input:
        **declared_inputs("analysis_rates"),
    output:
        rates=report(declared_output("analysis_rates", "rates"), caption="../docs/report/rates.rst", category="Results"),
        metrics=declared_output("analysis_rates", "metrics"),
    resources:
        **job_resources("analysis_rates"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/rates.log",
    shell:
        "emlab analysis rates --answers {input.table} --params {input.settings} --calibration {input.calibration}/calibration.json"
        " --out {output.rates}"
        " --metrics {output.metrics} > {log} 2>&1"


rule analysis_figures:
    input:
        **declared_inputs("analysis_figures"),
        # hashed into every figure's provenance.json
        samples=samples_files(),
        scores=scores_files(),
    output:
        report(
            directory(declared_output("analysis_figures", "figures")),
            patterns=["{name}.png"],
            caption="../docs/report/figure.rst",
            category="Figures",
        ),
    resources:
        **job_resources("analysis_figures"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/analysis/figures.log",
    shell:
        "emlab analysis figures --answers {input.table} --rates {input.rates} --params {input.settings}"
        " --calibration {input.calibration}/calibration.json --out-dir {output} > {log} 2>&1"
