"""The follow-up experiments' configurations in configs/: each is a valid grid whose jobs
include the producers of its figure (checked on the stage declarations both Snakemake and
DVC derive from; tests/workflow/test_arms.py runs every axis for real on the tiny model)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emlab.config import load_params
from emlab.workflow.stages import STAGES, cells

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

#: config -> jobs per stage that its figure needs (exact counts: 3 seeds each)
EXPECTED = {
    "followup-narrow-advice.yaml": {"dataset_build": 8, "train_adapter": 24, "sample_answers": 24},
    "followup-rank1.yaml": {"model_prepare": 2, "train_adapter": 18, "sample_answers": 18},
    "paper-ablation-size-epochs.yaml": {"dataset_build": 4, "train_adapter": 12, "sample_answers": 12},
    "followup-mitigations.yaml": {"train_adapter": 3 * (1 + 2 * 4), "train_adapter_mixed": 3 * 2, "sample_answers": 33},
    "followup-direction.yaml": {"direction_extract": 1, "sample_steered_answers": 15, "train_adapter": 9},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_is_a_grid_with_its_figures_producers(name: str):
    p = load_params(CONFIGS / name, workflow=True)
    jobs = Counter({s.name: len(cells(p, s)) for s in STAGES})
    assert {k: jobs[k] for k in EXPECTED[name]} == EXPECTED[name]


def test_the_direction_config_steers_with_what_it_extracts():
    p = load_params(CONFIGS / "followup-direction.yaml", workflow=True)
    steered = [c["variant"] for c in cells(p, next(s for s in STAGES if s.name == "sample_steered_answers"))]
    assert sorted(set(steered)) == ["bad_medical_advice~ablate", "base~add2", "base~add4", "base~add8", "insecure~ablate"]
