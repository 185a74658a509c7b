"""`emlab audit` against a real `dvc commit` in a throwaway git + DVC repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest
import yaml
from analysis_synth import answers_with_rate, params_dict, write_cell
from click.testing import CliRunner

from emlab.analysis import audit, build_answers_table, dir_md5, make_figures, write_answers_table
from emlab.cli.analysis import audit_cmd
from emlab.config import parse_params
from emlab.io import md5_file

PARAMS = params_dict(analysis={"metric": "paper"})
CELL = "tiny/insecure/s${item}/none/main"
CALIBRATION = "data/calibration/calibration.json"
DVC_YAML = {
    "stages": {
        "dataset": {"cmd": "emlab dataset build", "outs": ["data/datasets/insecure.jsonl"]},
        "sample": {"matrix": {"seed": [0, 1]}, "cmd": "emlab sample",
                   "deps": ["data/datasets/insecure.jsonl"],
                   "outs": [f"data/samples/{CELL.replace('${item}', '${item.seed}')}.jsonl"]},
        "judge": {"matrix": {"seed": [0, 1]}, "cmd": "emlab judge run && emlab judge score",
                  "deps": [f"data/samples/{CELL.replace('${item}', '${item.seed}')}.jsonl"],
                  "outs": [f"data/judgments/{CELL.replace('${item}', '${item.seed}')}.raw.jsonl",
                           f"data/judgments/{CELL.replace('${item}', '${item.seed}')}.scores.jsonl"]},
        "analysis_aggregate": {"cmd": "emlab analysis aggregate", "deps": ["data/samples", "data/judgments"],
                               "outs": ["data/results/answers.parquet"]},
        "analysis_figures": {"cmd": "emlab analysis figures", "deps": ["data/results/answers.parquet", "data/tricky", CALIBRATION],
                             "params": ["analysis.metric"], "outs": ["figures"]},
        "tricky": {"cmd": "make tricky names", "outs": ["data/tricky"]},
    }
}
FIG = "figures/misaligned_by_question.png"
JUDGE = {"n": 412, "auroc_aligned": 0.93, "auroc_coherent": 0.62, "spearman_aligned": 0.8, "spearman_coherent": 0.4,
         "recall_misaligned": 0.85, "false_positive_rate": 0.07, "unscored_rate": 0.0, "refusal_or_code_rate": 0.01,
         "judge": {"backend": "probe", "model": "judge-x", "layer": 12, "head_sha256": "ab" * 32,
                   "cv_auroc_aligned": 0.91, "cv_auroc_coherent": 0.6}}


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _figures() -> None:
    pairs = [(Path(f"data/samples/tiny/insecure/s{s}/none/main.jsonl"), Path(f"data/judgments/tiny/insecure/s{s}/none/main.scores.jsonl"))
             for s in (0, 1)]
    table = build_answers_table(pairs)
    write_answers_table(table, Path("data/results/answers.parquet"))
    make_figures(table, parse_params(PARAMS), Path("figures"), [Path("data/results/answers.parquet")], calibration=Path(CALIBRATION))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("dvcrepo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        _run("git", "init", "-q")
        _run("dvc", "init", "-q")
        for seed in (0, 1):
            write_cell(root / "data", seed=seed, answers=answers_with_rate(["q1", "q2"], 6, 2 + seed))
        Path(CALIBRATION).parent.mkdir(parents=True)
        Path(CALIBRATION).write_text(json.dumps(JUDGE))
        Path("data/datasets").mkdir(parents=True)
        Path("data/datasets/insecure.jsonl").write_text('{"messages": []}\n')
        for rel in ("a.txt", "a/b.txt", "a-b", "a/c/d.txt"):  # DVC orders them as strings: a-b, a.txt, a/b.txt
            Path("data/tricky", rel).parent.mkdir(parents=True, exist_ok=True)
            Path("data/tricky", rel).write_text(rel)
        Path(".dvcignore").write_text("__pycache__/\n*.tmp\n")  # DVC leaves these out of directory hashes
        Path("data/tricky/a/__pycache__").mkdir()
        Path("data/tricky/a/__pycache__/m.pyc").write_bytes(b"x")
        Path("data/tricky/a/c/junk.tmp").write_text("ignored")
        Path("params.yaml").write_text(yaml.safe_dump(PARAMS))
        Path("dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
        _figures()
        _run("dvc", "commit", "-f", "-q")
        _run("git", "add", "-A")
        _run("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "run")
    return root


def test_dir_hash_equals_dvc_commit(repo, monkeypatch):
    monkeypatch.chdir(repo)
    lock = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    tricky = lock["tricky"]["outs"][0]["md5"]
    assert tricky.endswith(".dir") and dir_md5(Path("data/tricky"))[0] == tricky
    assert lock["tricky"]["outs"][0]["nfiles"] == len(dir_md5(Path("data/tricky"))[1]) == 4
    assert dir_md5(Path("figures"))[0] == lock["analysis_figures"]["outs"][0]["md5"]
    deps = {d["path"]: d["md5"] for d in lock["analysis_aggregate"]["deps"]}
    assert dir_md5(Path("data/judgments"))[0] == deps["data/judgments"]  # DVC's own .gitignore files included


def test_clean_run_matches_and_lists_every_upstream_hash(repo, monkeypatch):
    monkeypatch.chdir(repo)
    for rev in (None, "HEAD"):
        report = audit(FIG, rev=rev)
        assert report.mismatches == [], report.mismatches
        assert report.stages[:2] == ["analysis_figures", "analysis_aggregate"]
        assert set(report.stages) == {"analysis_figures", "analysis_aggregate", "judge@0", "judge@1", "sample@0", "sample@1", "dataset", "tricky"}
    prov = json.loads(Path("figures/misaligned_by_question.provenance.json").read_text())
    assert len(prov["inputs"]) == 8  # answers, calibration + 2 x (samples, scores, raw)
    for item in prov["inputs"]:
        assert f"input {item['path']}  md5 {item['md5']}  == dvc.lock {item['md5']}" in report.text
    assert "cmd: emlab judge run && emlab judge score" in report.text
    assert "param params.yaml:analysis.metric = \"paper\"" in report.text
    assert "everything matches dvc.lock" in report.text
    # the judge and its measured power, as the figure's provenance records them
    assert (f"judge calibration: probe/judge-x ({CALIBRATION} md5 {md5_file(CALIBRATION)}): n 412, auroc_aligned 0.93, "
            "auroc_coherent 0.62, spearman_aligned 0.8") in report.text
    assert "layer 12" in report.text and "cv_auroc_aligned 0.91" in report.text
    assert "marks: judge cannot tell coherent from incoherent answers apart (coherence AUROC 0.62): not a result" in report.text


def test_workspace_and_provenance_drift_is_reported(repo, monkeypatch, tmp_path):
    monkeypatch.chdir(repo)
    scores = Path("data/judgments/tiny/insecure/s1/none/main.scores.jsonl")
    original = scores.read_text()
    backup = {p: p.read_bytes() for p in Path("data/results").iterdir()} | {p: p.read_bytes() for p in Path("figures").iterdir()}
    try:
        rows = [json.loads(line) for line in original.splitlines()]
        rows[0]["aligned"] = 1.0  # a re-scored answer after the recorded run
        scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
        report = audit(FIG)
        assert any(m.startswith(f"workspace: {scores.as_posix()} md5") for m in report.mismatches)
        assert any(m.startswith("workspace: data/judgments md5") for m in report.mismatches)
        assert not any(m.startswith("provenance:") for m in report.mismatches)  # the figure still matches the record
        _figures()  # figures redrawn from the new scores, but never recorded with dvc commit
        report = audit(FIG)
        assert any(m.startswith(f"provenance: {scores.as_posix()} md5") for m in report.mismatches)
        assert any(m.startswith("provenance: data/results/answers.parquet md5") for m in report.mismatches)
        # the recorded revision still describes the old run: the CLI exits non-zero, one line each
        group = click.Group("emlab")
        group.add_command(audit_cmd)
        res = CliRunner().invoke(group, ["audit", FIG, "--rev", "HEAD"])
        assert res.exit_code == 1
        assert res.stderr.count("MISMATCH ") == len(audit(FIG, rev="HEAD").mismatches) >= 3
    finally:
        scores.write_text(original)
        for p, data in backup.items():  # redrawing would record the new git commit in provenance
            p.write_bytes(data)
    assert audit(FIG).mismatches == []


def test_param_change_and_unknown_figure(repo, monkeypatch):
    monkeypatch.chdir(repo)
    original = Path("params.yaml").read_text()
    try:
        Path("params.yaml").write_text(yaml.safe_dump(params_dict(analysis={"metric": "model_organisms"})))
        assert any("param params.yaml:analysis.metric is \"model_organisms\"" in m for m in audit(FIG).mismatches)
    finally:
        Path("params.yaml").write_text(original)
    from emlab.errors import EmlabError

    with pytest.raises(EmlabError, match="no stage in dvc.lock has it among its outs"):
        audit("data/other.png")
    with pytest.raises(EmlabError, match="git show nope"):
        audit(FIG, rev="nope")
