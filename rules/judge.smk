rule judge_answers:
    input:
        samples="data/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.jsonl",
        judge_model=judge_model_inputs,
    output:
        "data/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.raw.jsonl",
    params:
        judge=result_params(PARAMS.judge),
        question_set=lambda wc: QSETS[wc.qset],
        judge_model_dir=lambda wc, input: f"--judge-model-dir {input.judge_model}" if input.judge_model else "",
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab judge run --samples {input.samples} --question-set {params.question_set}"
        " --params params.yaml {params.judge_model_dir} --cache-dir .emlab-cache/judge --out {output} > {log} 2>&1"


# Parsing is its own rule: a parser fix reruns this, never the (paid) judge calls above.
rule judge_score:
    input:
        "data/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.raw.jsonl",
    output:
        "data/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.scores.jsonl",
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.score.log",
    shell:
        "emlab judge score --raw {input} --out {output} > {log} 2>&1"


use rule judge_answers as judge_checkpoint_answers with:
    input:
        samples="data/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.jsonl",
        judge_model=judge_model_inputs,
    output:
        "data/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.raw.jsonl",
    log:
        "logs/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.tsv"


use rule judge_score as judge_checkpoint_score with:
    input:
        "data/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.raw.jsonl",
    output:
        "data/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.scores.jsonl",
    log:
        "logs/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.score.log",
