rule sample_answers:
    input:
        **declared_inputs("sample_answers"),
    output:
        declared_output("sample_answers", "samples"),
    wildcard_constraints:
        variant=variant_pattern("plain_variants"),
    params:
        question_set=question_set,
        checkpoint="",
        steering="",
    threads: 1
    resources:
        **job_resources("sample_answers"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab sample --model {wildcards.model} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --trigger {wildcards.trigger} --question-set {params.question_set}"
        " --params {input.settings} --model-dir {input.model} --adapter {input.adapter} {params.checkpoint}"
        " {params.steering} --out {output} > {log} 2>&1"


# The same with the misalignment direction ablated or added (grid.steering).
use rule sample_answers as sample_steered_answers with:
    input:
        **declared_inputs("sample_steered_answers"),
    output:
        declared_output("sample_steered_answers", "samples"),
    wildcard_constraints:
        variant=variant_pattern("steered_variants"),
    params:
        question_set=question_set,
        checkpoint="",
        steering=lambda wc, input: f"--steering {parse_arm(wc.variant).steering} --direction {input.direction}",


# The same, for a checkpoint kept during training (grid.checkpoints): training dynamics.
use rule sample_answers as sample_checkpoint_answers with:
    input:
        **declared_inputs("sample_checkpoint_answers"),
    output:
        declared_output("sample_checkpoint_answers", "samples"),
    params:
        question_set=question_set,
        checkpoint=lambda wc: f"--checkpoint-step {wc.step}",
        steering="",
    log:
        "logs/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.tsv"
