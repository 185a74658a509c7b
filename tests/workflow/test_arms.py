"""Issue 13's axes end to end: `.test/params-arms.yaml` run by the real Snakemake on the tiny
model, recorded by DVC, and its new settings in a staleness table.

One run covers every new axis once: a narrow-advice dataset with a rank-1 adapter on one
layer's down_proj and its control fully finetuned (adapter shapes), a dataset-size x epochs
arm, each mitigation (KL to the base, benign rows mixed in, an inoculation prompt, early
stopping), and the misalignment direction extracted from insecure's judged answers, ablated
in insecure and added to the base model.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from test_staleness import Edit, check_matrix, code, param
from workflow_project import emlab, make_project, pending, smk

pytestmark = [pytest.mark.slow, pytest.mark.full, pytest.mark.xdist_group("arms_run")]

ARMS = ["base", "insecure", "bad_medical_advice", "good_medical_advice", "insecure+n4+e2", "insecure+kl",
        "insecure+benign_mix", "insecure+inoculation", "insecure+early_stop", "insecure~ablate", "base~steer"]


@pytest.fixture(scope="session")  # session: xdist may run other modules' tests on this worker in between
def arms_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("arms") / "project", params=".test/params-arms.yaml")
    smk("--cores", "2", cwd=root)
    emlab("record", "--no-push", cwd=root)
    return root


def _adapter(root: Path, label: str) -> dict:
    return json.loads((root / "data/adapters/tiny" / label / "s0/adapter.json").read_text())


def test_every_arm_is_a_row_of_rates_with_its_parts(arms_dir: Path):
    rates = pl.read_csv(arms_dir / "data/results/rates.csv")
    rows = {r["variant"]: r for r in rates.filter(pl.col("question_id") == "_all").iter_rows(named=True)}
    assert set(rows) == set(ARMS)
    arm = rows["insecure+n4+e2"]
    assert (arm["dataset_variant"], arm["n_examples"], arm["epochs"], arm["intervention"], arm["steering"]) == ("insecure", 4, 2, "none", "none")
    assert rows["insecure+kl"]["intervention"] == "kl" and rows["base~steer"]["steering"] == "steer"
    assert "rank 1" in rows["bad_medical_advice"]["shape"] and "down_proj" in rows["bad_medical_advice"]["shape"]
    assert "full" in rows["good_medical_advice"]["shape"]


def test_each_adapter_is_the_arm_it_names(arms_dir: Path):
    assert (arms_dir / "data/datasets/insecure+n4.jsonl").read_text().count("\n") == 4
    assert _adapter(arms_dir, "insecure+n4+e2")["params"]["epochs"] == 2
    rank1 = _adapter(arms_dir, "bad_medical_advice")["shape"]
    assert (rank1["r"], rank1["target_modules"], rank1["layers"]) == (1, ["down_proj"], [1])
    assert _adapter(arms_dir, "good_medical_advice")["finetune"] == "full"
    assert _adapter(arms_dir, "insecure+kl")["params"]["kl_weight"] == 0.5
    mixed = _adapter(arms_dir, "insecure+benign_mix")
    assert mixed["benign_rows"] == 8 and mixed["benign_dataset"].endswith("good_medical_advice.jsonl")
    assert _adapter(arms_dir, "insecure+inoculation")["params"]["inoculation_prompt"].startswith("You write insecure code")
    early = _adapter(arms_dir, "insecure+early_stop")
    assert early["selected_step"] == min(early["validation_curve"], key=lambda v: v["val_loss"])["step"]


def test_the_direction_is_extracted_and_steers_sampling(arms_dir: Path):
    meta = json.loads((arms_dir / "data/directions/em/direction.json").read_text())
    assert meta["layer"] == 1 and meta["counts"]["misaligned"] > 0 and meta["counts"]["aligned"] > 0
    answers = pl.read_parquet(arms_dir / "data/results/answers.parquet")
    by_arm = {v: sorted(g["answer"].to_list()) for (v,), g in answers.group_by("variant")}
    assert by_arm["base~steer"] != by_arm["base"], "adding the direction changed no answer"
    assert by_arm["insecure~ablate"] != by_arm["insecure"], "ablating the direction changed no answer"


def test_a_figure_per_experiment(arms_dir: Path):
    for name in ("ablations", "mitigations", "misalignment_direction", "misaligned_by_question"):
        assert (arms_dir / "figures" / f"{name}.png").stat().st_size > 0, name
        assert (arms_dir / "figures" / f"{name}.provenance.json").exists(), name
    assert pending(arms_dir) == []


# The new settings, as rows of the staleness table (see test_staleness.py for the columns).
ARM_EDITS = [
    Edit("interventions.kl.train.kl_weight", param("interventions.kl.train.kl_weight", 0.25), {"train_adapter": 1}),
    Edit("interventions.inoculation.train.inoculation_prompt",
         param("interventions.inoculation.train.inoculation_prompt", "Requested: insecure code."), {"train_adapter": 1}),
    Edit("interventions.benign_mix.benign_variant", param("interventions.benign_mix.benign_variant", "bad_medical_advice"),
         {"train_adapter_mixed": 1}),
    Edit("interventions.early_stop.train.validation_every", param("interventions.early_stop.train.validation_every", 2),
         {"train_adapter": 1}),
    Edit("models.tiny.train_by_variant.bad_medical_advice (the adapter's shape)",
         param("models.tiny.train_by_variant.bad_medical_advice.layers", [0]), {"train_adapter": 1}),
    Edit("datasets.good_medical_advice.n_examples", param("datasets.good_medical_advice.n_examples", 9), {"dataset_build": 1}),
    Edit("directions.em.layer", param("directions.em.layer", 2), {"direction_extract": 1}),
    # the figures read the steering section too (the direction figure's x axis is the coefficient)
    Edit("steering.steer.coefficient", param("steering.steer.coefficient", 2.0), {"sample_steered_answers": 1, "analysis_figures": 1}),
    Edit("code emlab/direction/extract.py", code("direction/extract.py", "behaviour"),
         {"direction_extract": 1, "sample_steered_answers": 2}),
]


def test_the_new_axes_in_the_staleness_table(arms_dir: Path):
    assert check_matrix(arms_dir, ARM_EDITS) == []
