rule model_prepare:
    output:
        directory("data/models/{model}"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/models/{model}.log",
    shell:
        "emlab model prepare --model {wildcards.model} --params params.yaml --out {output} > {log} 2>&1"
