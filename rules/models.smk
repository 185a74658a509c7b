rule model_prepare:
    input:
        **declared_inputs("model_prepare"),
    output:
        directory(declared_output("model_prepare", "model")),
    resources:
        **job_resources("model_prepare"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/models/{model}.log",
    shell:
        "emlab model prepare --model {wildcards.model} --params {input.settings} --out {output} > {log} 2>&1"
