# Grid constants, paths and input functions shared by every rule file.
# The grid comes from params.yaml only; nothing here enumerates cells by hand.

import sys
from pathlib import Path

import yaml

from emlab.config import NO_TRIGGER, load_params
from emlab.errors import EmlabError

PARAMS_FILE = "params.yaml"

try:
    PARAMS = load_params(PARAMS_FILE)
except EmlabError as e:
    sys.exit(f"emlab: error: {e}")

# DVC records params.yaml; a --config override would make the run and the record disagree.
if config != yaml.safe_load(Path(PARAMS_FILE).read_text()):
    sys.exit("emlab: error: edit params.yaml instead of passing --config/--configfile (DVC records params.yaml)")

GRID = PARAMS.grid
MODELS = list(PARAMS.models)
QSETS = {Path(q).stem: q for q in GRID.question_sets}  # wildcard value -> name or YAML path
JUDGE_LOCAL = PARAMS.judge.backend == "transformers"
CELL = "{model}/{variant}/s{seed}"
EVAL = CELL + "/{trigger}/{qset}"


wildcard_constraints:
    model="|".join(MODELS),
    variant="|".join(GRID.variants),
    seed=r"\d+",
    trigger="|".join([NO_TRIGGER, *PARAMS.triggers]),
    qset="|".join(QSETS),


def eval_conditions():
    """Every (model, variant, seed, trigger, qset) of the grid, as wildcard dicts."""
    return [
        dict(model=m, variant=v, seed=s, trigger=t, qset=q)
        for (m, v, s) in PARAMS.cells()
        for t in GRID.triggers
        for q in QSETS
    ]


def scores_files():
    return [f"data/judgments/{EVAL}.scores.jsonl".format(**c) for c in eval_conditions()]


def samples_files():
    return [f"data/samples/{EVAL}.jsonl".format(**c) for c in eval_conditions()]


def model_dir(name):
    return f"data/models/{name}"


def judge_model_inputs(wildcards):
    return [model_dir(PARAMS.judge.model)] if JUDGE_LOCAL else []


def all_targets():
    return [model_dir(m) for m in MODELS] + [
        "data/results/rates.csv",
        "data/results/metrics.json",
        "figures",
    ]
