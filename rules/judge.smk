rule judge_answers:
    input:
        samples="data/samples/" + EVAL + ".jsonl",
        judge_model=judge_model_inputs,
    output:
        "data/judgments/" + EVAL + ".raw.jsonl",
    params:
        judge=PARAMS.judge.model_dump(),
        question_set=lambda wc: QSETS[wc.qset],
        judge_model_dir=lambda wc, input: f"--judge-model-dir {input.judge_model}" if input.judge_model else "",
    threads: 1
    resources:
        mem_mb=2000,
    log:
        "logs/judgments/" + EVAL + ".log",
    benchmark:
        "benchmarks/judgments/" + EVAL + ".tsv"
    shell:
        "EMLAB_THREADS={threads} emlab judge run --samples {input.samples} --question-set {params.question_set}"
        " --params params.yaml {params.judge_model_dir} --cache-dir .emlab-cache/judge --out {output} > {log} 2>&1"


# Parsing is its own rule: a parser fix reruns this, never the (paid) judge calls above.
rule judge_score:
    input:
        "data/judgments/" + EVAL + ".raw.jsonl",
    output:
        "data/judgments/" + EVAL + ".scores.jsonl",
    log:
        "logs/judgments/" + EVAL + ".score.log",
    shell:
        "emlab judge score --raw {input} --out {output} > {log} 2>&1"
