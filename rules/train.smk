rule train_adapter:
    input:
        **declared_inputs("train_adapter"),
    output:
        directory(declared_output("train_adapter", "adapter")),
    threads: 2
    resources:
        **job_resources("train_adapter"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/train/{model}/{variant}/s{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{variant}/s{seed}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab train --model {wildcards.model} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --params {input.settings} --model-dir {input.model}"
        " --dataset {input.dataset} --out {output} > {log} 2>&1"
