rule train_adapter:
    input:
        **declared_inputs("train_adapter"),
    output:
        directory(declared_output("train_adapter", "adapter")),
    wildcard_constraints:
        variant=variant_pattern("trained_variants"),
    params:
        benign="",
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
        " --dataset {input.dataset} {params.benign} --out {output} > {log} 2>&1"


# An arm whose intervention mixes in benign rows (interventions.<name>.benign_variant).
use rule train_adapter as train_adapter_mixed with:
    input:
        **declared_inputs("train_adapter_mixed"),
    wildcard_constraints:
        variant=variant_pattern("mixed_variants"),
    params:
        benign=lambda wc, input: f"--benign-dataset {input.benign}",
