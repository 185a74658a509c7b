rule dataset_build:
    output:
        dataset="data/datasets/{variant}.jsonl",
        card="data/datasets/{variant}.card.json",
    params:
        # only this variant's settings (and the shared ones): editing one variant reruns one branch
        variant=lambda wc: PARAMS.datasets.model_dump()[wc.variant],
        shared=lambda wc: {k: v for k, v in PARAMS.datasets.model_dump().items() if k in ("source", "upstream_dir", "seed")},
        triggers=PARAMS.triggers,
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/datasets/{variant}.log",
    shell:
        "emlab dataset build --variant {wildcards.variant} --params params.yaml --out {output.dataset} > {log} 2>&1"
