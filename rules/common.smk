# Grid constants, paths and input functions shared by every rule file.
# The grid comes from params.yaml only; nothing here enumerates cells by hand.

import sys
from pathlib import Path

import yaml

from emlab.config import NO_TRIGGER, load_params, resolved_train_params
from emlab.errors import EmlabError

PARAMS_FILE = "params.yaml"

try:
    PARAMS = load_params(PARAMS_FILE, workflow=True)
except EmlabError as e:
    sys.exit(f"emlab: error: {e}")

# DVC records params.yaml; a --config override would make the run and the record disagree.
if config != yaml.safe_load(Path(PARAMS_FILE).read_text()):
    sys.exit("emlab: error: edit params.yaml instead of passing --config/--configfile (DVC records params.yaml)")

GRID = PARAMS.grid
MODELS = list(PARAMS.models)
# a question set is questions/<name>.yaml when that file exists, else a built-in set
QSETS = {q: (f"questions/{q}.yaml" if Path(f"questions/{q}.yaml").exists() else q) for q in GRID.question_sets}
JUDGE_LOCAL = PARAMS.judge.backend == "transformers"


wildcard_constraints:
    model="|".join(MODELS),
    variant="|".join(GRID.variants),
    seed=r"\d+",
    step=r"\d+",
    trigger="|".join([NO_TRIGGER, *PARAMS.triggers]),
    qset="|".join(QSETS),


def eval_conditions():
    """Every sampled condition of the grid: a run (final adapter or kept checkpoint, see
    Params.eval_runs) under each trigger, on each question set, as a path stem."""
    return [f"{run}/{t}/{q}" for run in PARAMS.eval_runs() for t in GRID.triggers for q in QSETS]


def scores_files():
    return [f"data/judgments/{c}.scores.jsonl" for c in eval_conditions()]


def samples_files():
    return [f"data/samples/{c}.jsonl" for c in eval_conditions()]


def result_params(section):
    """A params section without its runtime-only settings: changing those reruns nothing."""
    return section.model_dump(exclude=set(getattr(section, "runtime_only", ())))


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
