rule dataset_build:
    input:
        **declared_inputs("dataset_build"),
    output:
        dataset=declared_output("dataset_build", "dataset"),
        card=declared_output("dataset_build", "card"),
    wildcard_constraints:
        variant=variant_pattern("built_variants"),
    resources:
        **job_resources("dataset_build"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/datasets/{variant}.log",
    shell:
        "emlab dataset build --variant {wildcards.variant} --params {input.settings} --out {output.dataset} > {log} 2>&1"


# The numbers variants a model writes (datasets.<variant>.generator: model): the model is an input.
rule dataset_generate:
    input:
        **declared_inputs("dataset_generate"),
    output:
        dataset=declared_output("dataset_generate", "dataset"),
        card=declared_output("dataset_generate", "card"),
    params:
        generator=lambda wc, input: f"--model-dir {input.generator}" if "generator" in input.keys() else "",
    wildcard_constraints:
        variant=variant_pattern("generated_variants"),
    threads: 1
    resources:
        **job_resources("dataset_generate"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/datasets/{variant}.log",
    shell:
        "EMLAB_THREADS={threads} emlab dataset build --variant {wildcards.variant} --params {input.settings}"
        " {params.generator} --out {output.dataset} > {log} 2>&1"
