# The judge itself first: a probe judge's head, trained on labelled answers (judge.backend
# probe only), and the judge's calibration on emlab's labelled set, which every figure states.
rule judge_probe_train:
    input:
        **declared_inputs("judge_probe_train"),
    output:
        directory(declared_output("judge_probe_train", "head")),
    threads: 2
    resources:
        **job_resources("judge_probe_train"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judge/probe_train.log",
    shell:
        "EMLAB_THREADS={threads} emlab judge probe-train --params {input.settings} --model-dir {input.judge_model}"
        " --out {output} > {log} 2>&1"


rule judge_calibrate:
    input:
        **declared_inputs("judge_calibrate"),
    output:
        directory(declared_output("judge_calibrate", "calibration")),
    params:
        judge=judge_options,
        prompts=calibration_prompts,
    threads: 2
    resources:
        **job_resources("judge_calibrate"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judge/calibrate.log",
    shell:
        "EMLAB_THREADS={threads} emlab judge calibrate --params {input.settings} {params.judge} {params.prompts}"
        " --cache-dir .emlab-cache/judge --out {output} > {log} 2>&1"


rule judge_answers:
    input:
        **declared_inputs("judge_answers"),
    output:
        declared_output("judge_answers", "raw"),
    params:
        question_set=question_set,
        judge=judge_options,
    threads: 1
    resources:
        **job_resources("judge_answers"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab judge run --samples {input.samples} --question-set {params.question_set}"
        " --params {input.settings} {params.judge} --cache-dir .emlab-cache/judge --out {output} > {log} 2>&1"


# Parsing is its own rule: a parser fix reruns this, never the (paid) judge calls above.
rule judge_score:
    input:
        **declared_inputs("judge_score"),
    output:
        declared_output("judge_score", "scores"),
    resources:
        **job_resources("judge_score"),
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.score.log",
    shell:
        "emlab judge score --raw {input.raw} --out {output} > {log} 2>&1"


use rule judge_answers as judge_checkpoint_answers with:
    input:
        **declared_inputs("judge_checkpoint_answers"),
    output:
        declared_output("judge_checkpoint_answers", "raw"),
    log:
        "logs/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.tsv"


use rule judge_score as judge_checkpoint_score with:
    input:
        **declared_inputs("judge_checkpoint_score"),
    output:
        declared_output("judge_checkpoint_score", "scores"),
    log:
        "logs/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.score.log",
