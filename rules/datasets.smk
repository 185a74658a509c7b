rule dataset_build:
    input:
        **declared_inputs("dataset_build"),
    output:
        dataset=declared_output("dataset_build", "dataset"),
        card=declared_output("dataset_build", "card"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/datasets/{variant}.log",
    shell:
        "emlab dataset build --variant {wildcards.variant} --params {input.settings} --out {output.dataset} > {log} 2>&1"
