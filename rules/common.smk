# Grid constants, paths and input functions shared by every rule file.
# The grid comes from params.yaml only; what each job reads comes from its declaration in
# emlab/workflow/stages.py (the same one dvc.yaml is generated from).

import re
import sys
from pathlib import Path

import yaml

from emlab.config import NO_TRIGGER, load_params, parse_arm
from emlab.errors import EmlabError
from emlab.workflow import dvc_yaml
from emlab.workflow.resources import rule_resources
from emlab.workflow.settings import write_settings
from emlab.workflow.stages import cells, derived_fields, grid_lists, question_set_arg, stage

PARAMS_FILE = "params.yaml"

try:
    PARAMS = load_params(PARAMS_FILE, workflow=True)
except EmlabError as e:
    sys.exit(f"emlab: error: {e}")

# DVC records params.yaml; a --config override would make the run and the record disagree.
if config != (yaml.safe_load(Path(PARAMS_FILE).read_text()) or {}):
    sys.exit("emlab: error: edit params.yaml instead of passing --config/--configfile (DVC records params.yaml)")

# Every job's declared settings, rewritten only where they changed: a job whose settings
# file is newer than its outputs reruns (also in a clone restored by `emlab restore`).
write_settings(PARAMS, Path("."))
dvc_yaml.write(PARAMS)  # the local judge's model folder is a dvc.yaml dependency

GRID = PARAMS.grid
MODELS = list(PARAMS.models)


wildcard_constraints:
    model="|".join(MODELS),
    variant="|".join(re.escape(v) for v in dict.fromkeys(sum((l for k, l in grid_lists(PARAMS).items() if k.endswith("variants")), []))),
    seed=r"\d+",
    step=r"\d+",
    trigger="|".join([NO_TRIGGER, *PARAMS.triggers]),
    qset="|".join(GRID.question_sets),


def declared_inputs(name):
    """A stage's declared input files (path templates), its settings file first. A template
    naming a derived field (an arm's dataset or adapter: `derived_fields`) is filled per job."""
    s = stage(name)
    extra = s.param_inputs(PARAMS) if s.param_inputs else {}
    return {"settings": s.settings_file, **{k: _filled(t, s.axes) for k, t in s.inputs.items()}, **extra}


def _filled(template, axes):
    if set(re.findall(r"\{(\w+)\}", template)) <= set(axes):
        return template
    return lambda wc: template.format(**{**dict(wc.items()), **derived_fields(PARAMS, dict(wc.items()))})


def variant_pattern(grid_list):
    """A wildcard pattern matching exactly the variants of one of the grid's lists."""
    variants = grid_lists(PARAMS)[grid_list]
    return "|".join(re.escape(v) for v in variants) if variants else "(?!)"  # an empty list matches nothing


def job_resources(name):
    """A stage's resources per job (gpu, mem_mb, runtime, openai_api), sized from each job's
    model and backend (emlab.workflow.resources)."""
    return rule_resources(PARAMS, name, Path("."))


def declared_output(name, key):
    return stage(name).outputs[key]


def question_set(wildcards):
    return question_set_arg(Path("."), wildcards.qset, PARAMS)


def calibration_prompts(wildcards):
    """An LLM judge is calibrated with the judge prompts the grid's answers get (its first set's)."""
    if PARAMS.judge.backend == "probe" or PARAMS.judge.prompts != "question":
        return ""
    return f"--prompts-from {question_set_arg(Path('.'), GRID.question_sets[0], PARAMS)}"


def eval_conditions():
    """Every judged condition of the grid (final adapters and kept checkpoints, under each
    trigger, on each question set, as grid.by_variant narrows them), as a path stem."""
    stems = []
    for name in ("judge_score", "judge_checkpoint_score"):
        template = stage(name).outputs["scores"].removeprefix("data/judgments/").removesuffix(".scores.jsonl")
        stems += [template.format(**c) for c in cells(PARAMS, stage(name))]
    return stems


def scores_files():
    return [f"data/judgments/{c}.scores.jsonl" for c in eval_conditions()]


def samples_files():
    return [f"data/samples/{c}.jsonl" for c in eval_conditions()]


def judge_options(wildcards, input):
    """The local judge's model folder and a probe judge's head, when the judge has them."""
    options = [f"--judge-model-dir {input.judge_model}"] if "judge_model" in input.keys() else []
    if "probe_head" in input.keys():
        options.append(f"--probe-head {input.probe_head}")
    return " ".join(options)


def all_targets():
    return [f"data/models/{m}" for m in MODELS] + [
        "data/results/rates.csv",
        "data/results/metrics.json",
        "figures",
    ]
