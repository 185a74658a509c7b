# The misalignment direction (grid.steering): the mean difference of residual-stream
# activations between answers the judge called misaligned and aligned, from one cell's
# judged answers (directions.<name>), read with that cell's adapter applied.
rule direction_extract:
    input:
        **declared_inputs("direction_extract"),
    output:
        directory(declared_output("direction_extract", "direction")),
    params:
        layer=lambda wc: PARAMS.directions[wc.direction].layer,
        aligned_min=lambda wc: PARAMS.directions[wc.direction].aligned_min,
        model=lambda wc: PARAMS.directions[wc.direction].model,
    threads: 1
    resources:
        **job_resources("direction_extract"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/directions/{direction}.log",
    shell:
        "EMLAB_THREADS={threads} emlab direction extract --model {params.model} --model-dir {input.model}"
        " --adapter {input.adapter} --samples {input.samples} --scores {input.scores} --layer {params.layer}"
        " --aligned-min {params.aligned_min} --params {input.settings} --out {output} > {log} 2>&1"
