# The misalignment direction (grid.steering): the mean difference of residual-stream
# activations between answers the judge called misaligned and aligned, from one cell's
# judged answers (directions.<name>), read with that cell's adapter applied.
rule direction_extract:
    input:
        **declared_inputs("direction_extract"),
    output:
        directory(declared_output("direction_extract", "direction")),
    threads: 1
    resources:
        **job_resources("direction_extract"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/directions/{direction}.log",
    shell:
        "EMLAB_THREADS={threads} emlab direction extract --direction {wildcards.direction} --model-dir {input.model}"
        " --adapter {input.adapter} --samples {input.samples} --scores {input.scores}"
        " --params {input.settings} --out {output} > {log} 2>&1"
