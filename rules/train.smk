rule train_adapter:
    input:
        model="data/models/{model}",
        dataset="data/datasets/{variant}.jsonl",
    output:
        directory("data/adapters/{model}/{variant}/s{seed}"),
    params:
        # the model's base and its resolved training settings, without runtime-only ones
        model=lambda wc: PARAMS.models[wc.model].model_dump(include={"backend", "base", "dtype"}),
        train=lambda wc: result_params(resolved_train_params(PARAMS, wc.model, wc.variant)),
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
