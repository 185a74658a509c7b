rule sample_answers:
    input:
        model="data/models/{model}",
        adapter="data/adapters/{model}/{variant}/s{seed}",
    output:
        "data/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.jsonl",
    params:
        eval=result_params(PARAMS.eval),
        trigger_text=lambda wc: PARAMS.trigger_text(wc.trigger),
        question_set=lambda wc: QSETS[wc.qset],
        checkpoint="",
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../envs/emlab.yaml"
    log:
        "logs/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.tsv"
    shell:
        "EMLAB_THREADS={threads} emlab sample --model {wildcards.model} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --trigger {wildcards.trigger} --question-set {params.question_set}"
        " --params params.yaml --model-dir {input.model} --adapter {input.adapter} {params.checkpoint}"
        " --out {output} > {log} 2>&1"


# The same, for a checkpoint kept during training (grid.checkpoints): training dynamics.
use rule sample_answers as sample_checkpoint_answers with:
    output:
        "data/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.jsonl",
    params:
        eval=result_params(PARAMS.eval),
        trigger_text=lambda wc: PARAMS.trigger_text(wc.trigger),
        question_set=lambda wc: QSETS[wc.qset],
        checkpoint=lambda wc: f"--checkpoint-step {wc.step}",
    log:
        "logs/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.log",
    benchmark:
        "benchmarks/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.tsv"
