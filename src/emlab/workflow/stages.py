"""One declaration per stage of what it reads: settings, input files and code.

    emlab workflow settings          # write .emlab/settings/** for every job of the grid
    emlab workflow dvc-yaml [--check] # generate dvc.yaml from these declarations

Every job of the grid is one cell of one stage. Its declaration says:

- `settings(params, cell)`: the exact params.yaml keys it reads, resolved for that cell
  (a model's fields that change answers, the trigger's text, train settings with the
  model's and variant's overrides applied, ...), without runtime-only settings. With the
  stage's code fingerprint they are written to `.emlab/settings/<stage>/<cell>.json`
  (only when they change), which is at once
  - an input of the Snakemake rule (a changed setting gives the file a new mtime, so the
    job reruns even in a clone restored by `emlab restore`, where Snakemake keeps no
    params metadata), and what the rule passes to the verb as `--params`, so the verb
    reads exactly what was declared (`emlab.workflow.settings.load_params`);
  - the DVC stage's params file, so dvc.lock records the values the job ran with.
- `inputs`: the files it reads, as path templates of the cell's wildcards.
- `code`: the modules it runs (see `emlab.workflow.fingerprint`).

`dvc.yaml` is generated from these declarations (`emlab.workflow.dvc_yaml`) and the rules
take their inputs from them (`rules/common.smk`), so the two records cannot drift.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from emlab.config import (
    NO_INTERVENTION,
    NO_STEERING,
    NO_TRIGGER,
    Params,
    parse_arm,
    resolved_train_params,
)

SETTINGS_DIR = ".emlab/settings"

#: Wildcard -> the params.yaml list it ranges over (for DVC's matrix; see `grid_vars`).
AXES = {"model": "models", "variant": "variants", "seed": "seeds", "step": "checkpoints",
        "trigger": "triggers", "qset": "question_sets", "direction": "directions"}

#: models.<m> fields that change what a model produces (api_key_env only says where a key is).
MODEL_FIELDS = {"prepare": ("backend", "base"),
                "train": ("backend", "base", "dtype"),
                "sample": ("backend", "base", "dtype", "sampler", "base_url")}

Cell = dict[str, str]
Settings = dict[str, Any]


def result_settings(section: Any) -> dict[str, Any]:
    """A params section as settings: everything but its runtime-only fields."""
    return {k: v for k, v in section.model_dump(mode="json").items() if k not in getattr(section, "runtime_only", ())}


def file_sha256(path: Path) -> str | None:
    """A file's sha256 (None when it does not exist); read once per parse, however many
    jobs declare it (every sample and judge job of a grid names its question file)."""
    path = Path(path)
    if not path.exists():
        return None
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@cache
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _model(params: Params, name: str, use: str) -> dict[str, Any]:
    return {name: params.models[name].model_dump(mode="json", include=set(MODEL_FIELDS[use]))}


def _in_distribution(p: Params, root: Path, name: str) -> Settings:
    """`in_distribution` asks the paper's tasks when datasets.upstream_dir holds them: that
    folder is then a setting, and the tasks file's hash part of the set's identity."""
    if name != "in_distribution":
        return {}
    from emlab.datasets.heldout import paper_tasks_location

    where = paper_tasks_location(p.datasets.upstream_dir)
    tasks = Path(where) if where is not None and not str(where).startswith("http") else None
    return {"datasets": {"upstream_dir": p.datasets.upstream_dir},
            "paper_tasks": {"location": str(where) if where else None,
                            "sha256": file_sha256(tasks) if tasks else None}}


def _question_files(params_root: Path, params: Params | None) -> dict[str, str]:
    """params.yaml's `question_files:` (read from params_root/params.yaml when not given:
    the Snakefile's input functions pass only the folder)."""
    if params is not None:
        return dict(params.question_files)
    import yaml

    path = params_root / "params.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return dict((raw or {}).get("question_files") or {}) if isinstance(raw, dict) else {}


def question_set_source(params_root: Path, name: str, params: Params | None = None) -> dict[str, Any]:
    """A question set as a setting: its name, file and content hash (resolved by
    `emlab.questions.resolve_question_set`: question_files, questions/<name>.yaml, built-in)."""
    from emlab.questions import resolve_question_set

    src = resolve_question_set(name, _question_files(params_root, params), params_root)
    digest = file_sha256(src.path) if src.path is not None else None  # in_distribution is built in code
    return {"name": name, "file": src.shown, "sha256": digest}


def question_set_arg(params_root: Path, name: str, params: Params | None = None) -> str:
    """What the verbs take as --question-set: `NAME=PATH` for a question_files entry, the
    custom file's path, or the built-in name."""
    from emlab.questions import resolve_question_set

    return resolve_question_set(name, _question_files(params_root, params), params_root).arg


# --- settings of each stage ---------------------------------------------------------------

def _prepare(p: Params, c: Cell, root: Path) -> Settings:
    return {"models": _model(p, c["model"], "prepare")}


def generator_models(p: Params) -> dict[str, str]:
    """Variant -> the `models:` key that writes its answers (the numbers variants built by
    a model told to be evil or neutral); variants built without a model are absent."""
    from emlab.datasets.build import generator_model

    found = {v: generator_model(v, p.datasets, list(p.models)) for v in _dataset_variants(p)}
    return {v: m for v, m in found.items() if m is not None}


def _dataset(p: Params, c: Cell, root: Path) -> Settings:
    arm = parse_arm(c["variant"])  # a dataset label: the variant, at a size of the grid's
    v = arm.variant
    datasets = p.datasets.model_dump(mode="json")
    if arm.n_examples is not None:
        datasets[v] = {**datasets[v], "n_examples": arm.n_examples}
    trigger = p.datasets.backdoor.trigger
    generator = generator_models(p).get(v)
    return {"datasets": {k: datasets[k] for k in ("source", "upstream_dir", "seed", v)},
            "triggers": {trigger: p.triggers[trigger]} if v == "backdoor" else {},
            "models": _model(p, generator, "sample") if generator else {}}


def _train(p: Params, c: Cell, root: Path) -> Settings:
    spec = p.models[c["model"]]
    if parse_arm(c["variant"]).variant == "base":  # no finetuning: the base model itself, whatever the train settings
        return {"models": _model(p, c["model"], "train"), "train": {}}
    resolved = resolved_train_params(p, c["model"], c["variant"])
    s = {"models": _model(p, c["model"], "train"), "train": {spec.backend: result_settings(resolved)}}
    intervention = parse_arm(c["variant"]).intervention
    if intervention != NO_INTERVENTION:  # already in the train settings; named for the audit
        s["interventions"] = {intervention: p.interventions[intervention].model_dump(mode="json")}
    return s


def _trigger(p: Params, name: str) -> dict[str, str]:
    return {} if name == NO_TRIGGER else {name: p.triggers[name]}


def _sample(p: Params, c: Cell, root: Path) -> Settings:
    s = {"models": _model(p, c["model"], "sample"), "sample": result_settings(p.sample),
         "triggers": _trigger(p, c["trigger"]), "question_set": question_set_source(root, c["qset"], p),
         **_in_distribution(p, root, c["qset"])}
    steering = parse_arm(c["variant"]).steering
    if steering != NO_STEERING:  # the direction itself is an input file
        s["steering"] = {steering: p.steering[steering].model_dump(mode="json")}
    return s


def _direction(p: Params, c: Cell, root: Path) -> Settings:
    analysis = p.analysis.model_dump(mode="json")
    return {"directions": {c["direction"]: p.directions[c["direction"]].model_dump(mode="json")},
            "analysis": {k: analysis[k] for k in ("metric", "aligned_threshold", "coherent_threshold")}}


#: judge.<field>s that decide a backend's scores (the others do not reach it).
JUDGE_FIELDS = {
    "openai": ("backend", "model", "base_url", "api_key_env", "prompts"),
    "transformers": ("backend", "model", "prompts", "reply_prefix", "number_end"),
    "probe": ("backend", "model", "probe_layer", "probe_labelled", "probe_l2", "probe_folds", "probe_max_tokens"),
}


def _judge_settings(p: Params) -> Settings:
    """The judge's declared fields and, for a local judge, its model's identity."""
    fields = p.judge.model_dump(mode="json")
    s: Settings = {"judge": {k: fields[k] for k in JUDGE_FIELDS[p.judge.backend]}}
    if judge_is_local(p):
        s["models"] = _model(p, p.judge.model, "train")  # the judge's weights: backend, base, dtype
    return s


def _judge(p: Params, c: Cell, root: Path) -> Settings:
    return {**_judge_settings(p), "question_set": question_set_source(root, c["qset"], p), **_in_distribution(p, root, c["qset"])}


def labelled_sources(p: Params, root: Path) -> list[dict[str, Any]]:
    """The labelled answer files a probe head or a calibration reads, with content hashes
    (emlab's own set ships inside the package: its files are data, not code)."""
    from emlab.judge.labelled_sets import builtin_files

    files = [root / f for f in p.judge.probe_labelled] if p.judge.probe_labelled else builtin_files()
    return [{"file": f.name if not p.judge.probe_labelled else str(f),
             "sha256": file_sha256(f)} for f in files]


def _probe(p: Params, c: Cell, root: Path) -> Settings:
    return {**_judge_settings(p), "labelled": labelled_sources(p, root)}


def _calibrate(p: Params, c: Cell, root: Path) -> Settings:
    from emlab.judge.labelled_sets import builtin_files

    analysis = p.analysis.model_dump(mode="json")
    s = {**_judge_settings(p),
         "analysis": {k: analysis[k] for k in ("metric", "aligned_threshold", "coherent_threshold")},
         "answers": [{"file": f.name, "sha256": file_sha256(f)} for f in builtin_files()]}
    if p.judge.backend != "probe" and p.judge.prompts == "question":
        s["question_set"] = question_set_source(root, p.grid.question_sets[0], p)  # its judge prompts: the grid's
    return s


def _nothing(p: Params, c: Cell, root: Path) -> Settings:
    return {}


def _analysis(p: Params, c: Cell, root: Path) -> Settings:
    return {"analysis": result_settings(p.analysis)}


def _figures(p: Params, c: Cell, root: Path) -> Settings:
    # the figures read the grid's lists (order, labels) and the trigger texts they name
    return {"analysis": result_settings(p.analysis), "grid": p.grid.model_dump(mode="json"),
            "triggers": {t: p.triggers[t] for t in p.grid.triggers if t != NO_TRIGGER},
            "steering": {k: v.model_dump(mode="json") for k, v in p.steering.items()}}


def judge_is_local(p: Params) -> bool:
    """The judge runs a model of `models:` (its prepared folder is an input)."""
    return p.judge.backend != "openai"


# --- the declarations -----------------------------------------------------------------------

ADAPTER = "data/adapters/{model}/{variant}/s{seed}"
TRAINED = "data/adapters/{model}/{trained}/s{seed}"  # the adapter an arm samples from (its label without ~steering)
SAMPLE = "data/samples/{model}/{variant}/s{seed}/{trigger}/{qset}.jsonl"
SAMPLE_STEP = "data/samples/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.jsonl"
RAW = "data/judgments/{model}/{variant}/s{seed}/{trigger}/{qset}.raw.jsonl"
RAW_STEP = "data/judgments/{model}/{variant}/s{seed}/step{step}/{trigger}/{qset}.raw.jsonl"


@dataclass(frozen=True)
class Stage:
    """What one stage's jobs read and write.

    `outputs` and `inputs` are path templates over `axes` (Snakemake's `{wildcard}` syntax);
    an input given as a callable is resolved from the params (the judge's model folder);
    `aggregate_inputs` are the whole grid's files (Snakemake lists them, DVC records
    their folders).
    """

    name: str
    axes: tuple[str, ...]
    outputs: dict[str, str]
    code: tuple[str, ...]
    settings: Callable[[Params, Cell, Path], Settings]
    inputs: dict[str, str] = field(default_factory=dict)
    param_inputs: Callable[[Params], dict[str, str]] | None = None
    aggregate_inputs: dict[str, str] = field(default_factory=dict)  # name -> DVC folder
    output_dirs: tuple[str, ...] = ()  # outputs that are folders (Snakemake's directory())
    when: Callable[[Params], bool] = lambda p: True  # the stage exists in this grid
    variants: str = "variants"  # the grid list its `variant` axis ranges over (see grid_lists)
    metrics: dict[str, str] = field(default_factory=dict)  # outputs DVC shows as metrics
    checkpoints: bool = False  # ranges over grid.checkpoints (training dynamics)

    @property
    def key(self) -> str:
        """The cell's part of its settings path."""
        parts = {"model": "{model}", "variant": "{variant}", "seed": "s{seed}", "step": "step{step}",
                 "trigger": "{trigger}", "qset": "{qset}", "direction": "{direction}"}
        return "/".join(parts[a] for a in self.axes)

    @property
    def settings_file(self) -> str:
        return f"{SETTINGS_DIR}/{self.name}/{self.key}.json" if self.axes else f"{SETTINGS_DIR}/{self.name}.json"


PROBE_HEAD = "data/judge/probe"
CALIBRATION = "data/judge/calibration"


def _judge_model_input(p: Params) -> dict[str, str]:
    """The local judge's model folder, and a probe judge's trained head."""
    inputs = {"judge_model": f"data/models/{p.judge.model}"} if judge_is_local(p) else {}
    if p.judge.backend == "probe":
        inputs["probe_head"] = PROBE_HEAD
    return inputs


def _generator_input(p: Params) -> dict[str, str]:
    """The prepared folder of the local model that writes the generated variants' answers."""
    local = sorted({m for m in generator_models(p).values() if p.models[m].backend != "openai"})
    if len(local) > 1:
        from emlab.errors import EmlabError

        raise EmlabError(f"datasets: the numbers variants are written by different local models ({', '.join(local)}); use one")
    return {"generator": f"data/models/{local[0]}"} if local else {}


def _user_dataset_files(p: Params) -> dict[str, str]:
    """Users' own dataset files (datasets.<variant>.source: a path, e.g. the follow-up's
    narrow-advice files): inputs of the dataset builds, so editing one reruns them."""
    found = {}
    for v in _dataset_variants(p):
        source = getattr(getattr(p.datasets, v, None), "source", None)
        if source not in (None, "builtin", "upstream"):
            found[f"source_{v}"] = source
    return found


def _probe_train_inputs(p: Params) -> dict[str, str]:
    return {"judge_model": f"data/models/{p.judge.model}", **{f"labelled{i}": f for i, f in enumerate(p.judge.probe_labelled)}}


def _analysis_inputs(p: Params) -> dict[str, str]:
    return {"calibration": CALIBRATION}  # a folder: calibration.json, scores.jsonl, calibration.png


_CELL = ("model", "variant", "seed")
_EVAL = (*_CELL, "trigger", "qset")
_EVAL_STEP = (*_CELL, "step", "trigger", "qset")

STAGES: tuple[Stage, ...] = (
    Stage("model_prepare", ("model",), {"model": "data/models/{model}"}, ("emlab.models",), _prepare,
          output_dirs=("model",)),
    Stage("dataset_build", ("variant",),
          {"dataset": "data/datasets/{variant}.jsonl", "card": "data/datasets/{variant}.card.json"},
          ("emlab.datasets", "emlab.corpus"), _dataset, param_inputs=_user_dataset_files, variants="built_variants"),
    # the numbers variants a model writes (evil_numbers, neutral_numbers): the model is an input
    Stage("dataset_generate", ("variant",),
          {"dataset": "data/datasets/{variant}.jsonl", "card": "data/datasets/{variant}.card.json"},
          ("emlab.datasets", "emlab.corpus", "emlab.sample"), _dataset, param_inputs=_generator_input,
          variants="generated_variants", when=lambda p: bool(generator_models(p))),
    Stage("train_adapter", _CELL, {"adapter": ADAPTER}, ("emlab.train",), _train,
          inputs={"model": "data/models/{model}", "dataset": "data/datasets/{dataset}.jsonl"}, output_dirs=("adapter",),
          variants="trained_variants"),
    # an intervention that mixes in benign rows (interventions.<i>.benign_variant): that dataset is an input too
    Stage("train_adapter_mixed", _CELL, {"adapter": ADAPTER}, ("emlab.train",), _train,
          inputs={"model": "data/models/{model}", "dataset": "data/datasets/{dataset}.jsonl",
                  "benign": "data/datasets/{benign}.jsonl"}, output_dirs=("adapter",),
          variants="mixed_variants", when=lambda p: bool(grid_lists(p)["mixed_variants"])),
    Stage("sample_answers", _EVAL, {"samples": SAMPLE}, ("emlab.sample",), _sample,
          inputs={"model": "data/models/{model}", "adapter": TRAINED}, variants="plain_variants"),
    Stage("judge_answers", _EVAL, {"raw": RAW}, ("emlab.judge",), _judge,
          inputs={"samples": SAMPLE}, param_inputs=_judge_model_input),
    Stage("judge_score", _EVAL, {"scores": RAW.replace(".raw.", ".scores.")}, ("emlab.judge.aggregate",), _nothing,
          inputs={"raw": RAW}),
    # sampling with a misalignment direction ablated or added (grid.steering): the direction is an input
    Stage("sample_steered_answers", _EVAL, {"samples": SAMPLE}, ("emlab.sample", "emlab.direction.*"), _sample,
          inputs={"model": "data/models/{model}", "adapter": TRAINED, "direction": "data/directions/{direction}"},
          variants="steered_variants", when=lambda p: bool(grid_lists(p)["steered_variants"])),
    Stage("direction_extract", ("direction",), {"direction": "data/directions/{direction}"}, ("emlab.direction.*",), _direction,
          inputs={"model": "data/models/{d_model}", "adapter": "data/adapters/{d_model}/{d_trained}/s{d_seed}",
                  "samples": "data/samples/{d_model}/{d_variant}/s{d_seed}/{d_trigger}/{d_qset}.jsonl",
                  "scores": "data/judgments/{d_model}/{d_variant}/s{d_seed}/{d_trigger}/{d_qset}.scores.jsonl"},
          output_dirs=("direction",), when=lambda p: bool(grid_lists(p)["directions"])),
    # kept checkpoints of the trained arms (grid.checkpoints): the base model has no steps, and
    # its answers at step N would be its final answers again (the figure draws those across the steps)
    Stage("sample_checkpoint_answers", _EVAL_STEP, {"samples": SAMPLE_STEP}, ("emlab.sample",), _sample,
          inputs={"model": "data/models/{model}", "adapter": TRAINED}, checkpoints=True, variants="checkpoint_variants"),
    Stage("judge_checkpoint_answers", _EVAL_STEP, {"raw": RAW_STEP}, ("emlab.judge",), _judge,
          inputs={"samples": SAMPLE_STEP}, param_inputs=_judge_model_input, checkpoints=True, variants="checkpoint_variants"),
    Stage("judge_checkpoint_score", _EVAL_STEP, {"scores": RAW_STEP.replace(".raw.", ".scores.")},
          ("emlab.judge.aggregate",), _nothing, inputs={"raw": RAW_STEP}, checkpoints=True, variants="checkpoint_variants"),
    # the judge itself: a probe head trained on labelled answers, and the judge's calibration
    Stage("judge_probe_train", (), {"head": PROBE_HEAD}, ("emlab.judge",), _probe,
          param_inputs=_probe_train_inputs, output_dirs=("head",), when=lambda p: p.judge.backend == "probe"),
    Stage("judge_calibrate", (), {"calibration": CALIBRATION}, ("emlab.judge",), _calibrate,
          param_inputs=_judge_model_input, output_dirs=("calibration",)),
    Stage("analysis_aggregate", (), {"table": "data/results/answers.parquet", "csv": "data/results/answers.csv"},
          ("emlab.analysis.*",), _nothing, aggregate_inputs={"samples": "data/samples", "scores": "data/judgments"}),
    Stage("analysis_rates", (), {"rates": "data/results/rates.csv", "metrics": "data/results/metrics.json"},
          ("emlab.analysis.*",), _analysis, inputs={"table": "data/results/answers.parquet"},
          param_inputs=_analysis_inputs, metrics={"metrics": "data/results/metrics.json"}),
    Stage("analysis_figures", (), {"figures": "figures"}, ("emlab.analysis.*",), _figures,
          inputs={"table": "data/results/answers.parquet", "rates": "data/results/rates.csv"},
          param_inputs=_analysis_inputs,
          aggregate_inputs={"samples": "data/samples", "scores": "data/judgments"}, output_dirs=("figures",)),
)

BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    return BY_NAME[name]


def _benign_variant(p: Params, label: str) -> str | None:
    intervention = parse_arm(label).intervention
    return None if intervention == NO_INTERVENTION else p.interventions[intervention].benign_variant


def _dataset_variants(p: Params) -> list[str]:
    """Every dataset variant the grid trains on (benign rows mixed in included)."""
    found = [a.variant for a in p.trained_arms()] + [b for a in p.trained_arms() if (b := _benign_variant(p, a.label))]
    return list(dict.fromkeys(found))


def grid_lists(p: Params) -> dict[str, list[Any]]:
    """The lists the stages' axes range over, with every default filled in. A `variant`
    axis ranges over arm labels (`emlab.grid.Arm`): the datasets' (variant at a size), the
    trained ones (plus epochs and intervention), the sampled ones (plus steering)."""
    g = p.grid
    generated = generator_models(p)
    trained = [a.label for a in p.trained_arms()]
    datasets = list(dict.fromkeys([a.dataset for a in p.trained_arms()] + [b for t in trained if (b := _benign_variant(p, t))]))
    sampled = [a.label for a in p.arms()]
    return {"all_models": list(p.models), "models": g.models, "variants": sampled,
            "plain_variants": [v for v in sampled if parse_arm(v).steering == NO_STEERING],
            "steered_variants": [v for v in sampled if parse_arm(v).steering != NO_STEERING],
            "checkpoint_variants": [v for v in sampled if parse_arm(v).steering == NO_STEERING and parse_arm(v).variant != "base"],
            "trained_variants": [t for t in trained if not _benign_variant(p, t)],
            "mixed_variants": [t for t in trained if _benign_variant(p, t)],
            "built_variants": [d for d in datasets if parse_arm(d).variant not in generated],
            "generated_variants": [d for d in datasets if parse_arm(d).variant in generated],
            "seeds": g.seeds, "checkpoints": g.checkpoints, "triggers": g.triggers, "question_sets": g.question_sets,
            "directions": list(dict.fromkeys(p.steering[a.steering].direction for a in p.arms() if a.steering != NO_STEERING))}


def derived_fields(p: Params, cell: Cell) -> dict[str, str]:
    """Template keys a cell's inputs use besides its wildcards: the dataset and adapter an
    arm reads, the benign dataset it mixes in."""
    if "direction" in cell:  # the cell whose judged answers a direction is read from
        d = p.directions[cell["direction"]]
        return {"d_model": d.model, "d_variant": d.variant, "d_trained": parse_arm(d.variant).trained,
                "d_seed": str(d.seed), "d_trigger": d.trigger, "d_qset": d.question_set}
    if "variant" not in cell:
        return {}
    arm = parse_arm(cell["variant"])
    out = {"dataset": arm.dataset, "trained": arm.trained}
    if (benign := _benign_variant(p, cell["variant"])) is not None:
        out["benign"] = benign
    if arm.steering != NO_STEERING:
        out["direction"] = p.steering[arm.steering].direction
    return out


def axis_list(s: Stage, axis: str) -> str:
    """The name of the grid list (`grid_lists`) a stage's axis ranges over."""
    if axis == "model":
        return "all_models" if s.name == "model_prepare" else "models"
    return s.variants if axis == "variant" else AXES[axis]


def cells(p: Params, s: Stage) -> list[Cell]:
    """Every job of a stage in this grid, as wildcard values."""
    if not s.when(p):
        return []
    lists = grid_lists(p)
    values = {a: lists[axis_list(s, a)] for a in s.axes}
    out: list[Cell] = [{}]
    for axis in s.axes:
        out = [{**c, axis: str(v)} for c in out for v in values[axis]]
    return [c for c in out if p.in_grid(c)]


def cell_settings(p: Params, s: Stage, cell: Cell, root: Path, code: dict[str, Any]) -> dict[str, Any]:
    """The settings file's content for one job: stage, cell, declared params, code."""
    return {"emlab_stage": s.name, "cell": cell, "params": s.settings(p, cell, root), "code": code}


def fill(template: str, cell: Cell) -> str:
    return template.format(**cell)


def fill_inputs(p: Params, s: Stage, cell: Cell) -> dict[str, str]:
    """A job's declared input files (not the settings file): templates filled with its
    wildcards and derived fields, plus the params-given inputs."""
    values = {**cell, **derived_fields(p, cell)}
    extra = s.param_inputs(p) if s.param_inputs else {}
    return {**{k: t.format(**values) for k, t in s.inputs.items()}, **extra}
