"""params.yaml validation: every mistake is one line naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from emlab.config import json_schema, load_params, parse_params, resolved_train_params
from emlab.errors import EmlabError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def _error(raw: dict) -> str:
    with pytest.raises(EmlabError) as e:
        parse_params(raw, workflow=True)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_default_params_are_valid():
    p = load_params(REPO / "params.yaml")
    assert p.grid.variants[0] == "base"
    assert [c.variant for c in p.cells()] == p.grid.variants


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["grid"].update(variants=["base", "insecure_code"]), "grid.variants.1: unknown variant 'insecure_code'"),
        (lambda r: r["grid"].update(seeds=[0, -3]), "grid.seeds: seed -3 at position 1 is negative"),
        (lambda r: r["grid"].update(models=["gpt-5"]), "grid.models.0: unknown model 'gpt-5'"),
        (lambda r: r["grid"].update(triggers=["none", "deploy"]), "grid.triggers.1: unknown trigger 'deploy'"),
        (lambda r: r["judge"].update(temperature=0), "judge.temperature: unknown field"),
        (lambda r: r["grid"].update(question_sets=["main", "mian"]), "grid.question_sets.1: unknown question set 'mian'"),
        (lambda r: r["sample"].update(max_new_tokens="many"), "sample.max_new_tokens: Input should be a valid integer"),
        (lambda r: r["models"]["smollm2"]["train"].update(learning_rat=1), "models.smollm2.train.learning_rat: unknown field"),
        (lambda r: r["models"]["smollm2"].update(backend="jax"), "models.smollm2.backend: Input should be 'peft' or 'openai'"),
        (lambda r: r["judge"].update(backend="transformers", model="judgy"), "judge.model: 'judgy' is not a key of models"),
    ],
)
def test_bad_params_fail_with_one_line_naming_the_field(raw, edit, expected):
    bad = copy.deepcopy(raw)
    edit(bad)
    assert expected in _error(bad)


def test_left_out_keys_take_their_defaults_and_checkpoints_must_be_kept(raw):
    del raw["datasets"]["base"], raw["grid"]["checkpoints"], raw["train"]
    p = parse_params(raw, workflow=True)  # like any config file: nothing written out for DVC's sake
    assert p.grid.checkpoints == [] and p.train.peft.r == 32
    raw["grid"]["checkpoints"] = [10]
    assert "grid.checkpoints: models.smollm2 (insecure) keeps no checkpoints" in _error(raw)
    raw["models"]["smollm2"]["train"].update(keep_checkpoints_as_adapters=True, checkpoint_every=4)
    assert "grid.checkpoints: steps [10] are not multiples of checkpoint_every=4" in _error(raw)
    raw["models"]["smollm2"]["train"]["checkpoint_every"] = 5
    assert parse_params(raw, workflow=True).grid.checkpoints == [10]


def test_own_question_sets_are_files_in_questions(raw, tmp_path):
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "mine.yaml").write_text("[]\n")
    raw["grid"]["question_sets"] = ["main", "mine"]
    assert parse_params(raw, root=tmp_path).grid.question_sets == ["main", "mine"]


def test_yaml_syntax_error_names_the_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("grid: [unclosed\n")
    with pytest.raises(EmlabError, match=r"params.yaml: invalid YAML"):
        load_params(f)


def test_model_overrides_apply_to_its_backend_section(raw):
    p = parse_params(raw)
    resolved = resolved_train_params(p, "smollm2")
    assert resolved.learning_rate == raw["models"]["smollm2"]["train"]["learning_rate"]
    assert resolved.r == 32  # untouched fields keep the paper's defaults


def test_variant_overrides_apply_to_that_variant_only(raw):
    raw["models"]["smollm2"]["train_by_variant"] = {"jailbroken": {"epochs": 5}}
    p = parse_params(raw)
    assert resolved_train_params(p, "smollm2", "jailbroken").epochs == 5
    assert resolved_train_params(p, "smollm2", "insecure").epochs == 1
    assert resolved_train_params(p, "smollm2", "jailbroken").learning_rate == raw["models"]["smollm2"]["train"]["learning_rate"]


@pytest.mark.parametrize(
    ("by_variant", "expected"),
    [
        ({"jailbroke": {"epochs": 5}}, "models.smollm2.train_by_variant.jailbroke: unknown variant"),
        ({"jailbroken": {"n_epochs": 5}}, "models.smollm2.train_by_variant.jailbroken.n_epochs: unknown field"),
    ],
)
def test_bad_variant_overrides_name_the_field(raw, by_variant, expected):
    raw["models"]["smollm2"]["train_by_variant"] = by_variant
    assert expected in _error(raw)


def test_checked_in_schema_is_generated_from_the_models():
    import json

    on_disk = json.loads((REPO / "schemas" / "params.schema.json").read_text())
    assert on_disk == json_schema(), "run `emlab config schema --out schemas/params.schema.json`"


def test_by_variant_narrows_a_variants_seeds_triggers_and_sets(raw):
    from emlab.workflow.stages import STAGES, cells

    raw["grid"].update(variants=["base", "insecure", "backdoor"], seeds=[0, 1, 2], triggers=["none", "deployment"],
                       by_variant={"base": {"seeds": [0], "triggers": ["none"]}, "insecure": {"triggers": ["none"]}})
    p = parse_params(raw, workflow=True)
    sample = next(s for s in STAGES if s.name == "sample_answers")
    got = sorted((c["variant"], c["seed"], c["trigger"]) for c in cells(p, sample))
    assert got == [("backdoor", s, t) for s in "012" for t in ("deployment", "none")] + \
        [("base", "0", "none")] + [("insecure", s, "none") for s in "012"]
    assert [c.seed for c in p.cells() if c.variant == "base"] == [0]
    raw["grid"]["by_variant"] = {"insecure": {"seeds": [7]}}
    with pytest.raises(EmlabError, match=r"grid.by_variant.insecure.seeds: \[7\] not in grid.seeds"):
        parse_params(raw)
