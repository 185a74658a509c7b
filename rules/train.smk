rule train_adapter:
    input:
        model="data/models/{model}",
        dataset="data/datasets/{variant}.jsonl",
    output:
        directory("data/adapters/{model}/{variant}/s{seed}"),
    params:
        model=lambda wc: PARAMS.models[wc.model].model_dump(),
        train=lambda wc: PARAMS.train.model_dump(),
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/train/{model}/{variant}/s{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{variant}/s{seed}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab train --model {wildcards.model} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --params params.yaml --model-dir {input.model}"
        " --dataset {input.dataset} --out {output} > {log} 2>&1"
