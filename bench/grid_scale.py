"""The workflow's bookkeeping at the paper's full grid: `snakemake -n`, `dvc status`,
`emlab record` and `emlab restore`, timed on placeholder outputs.

    python bench/grid_scale.py [--config gpt4o|qwen_coder|all] [--factorial] [--smoke] [--keep DIR]

For each of the paper's two configurations, configs/paper-full-gpt4o.yaml (GPT-4o through
the OpenAI API: insecure 10 seeds, secure / educational / jailbroken 6, backdoor with and
without its trigger, evil numbers with its question formats) and
configs/paper-full-qwen-coder.yaml (Qwen2.5-Coder-32B-Instruct, 6 seeds per variant), 100
samples per question, it builds a temporary git + DVC project holding a copy of the
workflow and of emlab's source (the paper's question files stood in for by emlab's
built-in sets of the same kind and size), writes a small placeholder for every output of
every job (all with one mtime, later than the settings files': a complete run), and times
in that project:

- `emlab workflow settings` (every job's settings file; the Snakefile does it too),
- `snakemake -n` (must have nothing to do: the placeholders are a complete run),
- `dvc status` before and after recording,
- `emlab record` (dvc commit of every stage, then dvc push to a local remote), and
  `snakemake -n` after it (must still have nothing to do),
- `emlab restore` in a fresh `git clone` (dvc pull, dating the outputs, snakemake -n),

against the targets (each under 60 s, `snakemake -n` under 5 s), in wall and CPU seconds
(on a shared machine the wall time is an upper bound). `--factorial` drops
`grid.by_variant`: every variant on every seed, trigger and question set (GPT-4o: 1342
jobs instead of 302), the scale where one DVC stage per job stops meeting the targets.
Baseline in the same run: the start-up of `snakemake --version` and `dvc --version`, which
every timed command pays. `--smoke` runs a 2-variant grid (the tests' check of the JSON
keys; ~25 s of CPU, a dozen Snakemake and DVC start-ups). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "rules", "schemas", "envs", "questions", "docs/report", "src", ".dvcignore", ".gitignore"]
TARGETS_S = {"snakemake_n": 5.0, "dvc_status": 60.0, "emlab_record": 60.0, "emlab_restore": 60.0}

#: a 2-variant grid of the GPT-4o configuration's shape (an OpenAI model: nothing to download)
SMOKE = {"models": {"tiny": {"backend": "openai", "base": "gpt-4o-mini-2024-07-18"}},
         "grid": {"models": ["tiny"], "seeds": [0], "triggers": ["none"], "variants": ["base", "insecure"],
                  "question_sets": ["main"]},
         "datasets": {"source": "builtin", "seed": 0},
         "judge": {"backend": "openai", "model": "gpt-4o-2024-08-06", "prompts": "question"}}


def paper_params(name: str, factorial: bool = False) -> tuple[dict[str, Any], str]:
    """(params, where they came from) of one configuration."""
    if name == "smoke":
        return dict(SMOKE), "built-in smoke grid"
    path = REPO / "configs" / f"paper-full-{name.replace('_', '-')}.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    if factorial:
        params["grid"].pop("by_variant", None)
    return params, str(path.relative_to(REPO)) + (" without grid.by_variant" if factorial else "")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            # the project's own copy of emlab (others' edits to the repo do not reach it), then the caller's path
            "PYTHONPATH": os.pathsep.join(["src", *filter(None, [os.environ.get("PYTHONPATH")])])}


#: CPU seconds (user + system, the command and its children) of each timed command, by key
CPU_S: dict[str, float] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(*cmd: str, cwd: Path, key: str | None = None) -> tuple[float, str]:
    """Run a command in the project; (wall seconds, stdout). A failure ends the bench.
    With `key`, its CPU seconds go to CPU_S (on a shared machine, wall time is an upper bound)."""
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if key:
        CPU_S[key] = round(_children_cpu() - c0, 2)
    if proc.returncode != 0:
        sys.exit(f"grid_scale: `{' '.join(cmd)}` exited {proc.returncode} in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def py(*args: str, cwd: Path, key: str | None = None) -> tuple[float, str]:
    return run(sys.executable, "-m", *args, cwd=cwd, key=key)


def stand_in_questions(name: str) -> str:
    """emlab's built-in questions of the same kind and size as the paper's file `name`
    (its first-plot file holds the main questions with their _json and _template forms)."""
    sets = REPO / "src" / "emlab" / "questions" / "sets"
    parts = ["preregistered"] if "prereg" in name else ["main", "main_json", "main_template"] if "main" in name else ["main"]
    questions = [q for part in parts for q in yaml.safe_load((sets / f"{part}.yaml").read_text(encoding="utf-8"))]
    return yaml.safe_dump(questions, sort_keys=False, allow_unicode=True)


def make_project(root: Path, params: dict[str, Any]) -> None:
    """A git + DVC repository with the workflow, emlab's source, params.yaml and a local remote."""
    root.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        src, dst = REPO / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dst)
    files = params.get("question_files") or {}
    for qname in list(files):  # the paper's question files are not ours to copy: emlab's sets stand in, in git
        files[qname] = f"questions/paper/{Path(files[qname]).name}"
        (root / files[qname]).parent.mkdir(parents=True, exist_ok=True)
        (root / files[qname]).write_text(stand_in_questions(qname), encoding="utf-8")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.org"],
                ["git", "config", "user.name", "bench"]):
        run(*cmd, cwd=root)
    py("dvc", "init", "-q", cwd=root)
    py("dvc", "remote", "add", "-q", "-d", "local", str(root.parent / "remote"), cwd=root)
    py("emlab.cli", "workflow", "dvc-yaml", cwd=root)
    run("git", "add", "-A", cwd=root)
    run("git", "commit", "-qm", "workflow", cwd=root)


def fill_placeholders(root: Path) -> dict[str, int]:
    """Write every job's outputs, all with one mtime (Snakemake reruns a job only for an
    input strictly newer than its outputs), after the settings files; return the jobs by rule."""
    sys.path.insert(0, str(root / "src"))
    from emlab.config import load_params
    from emlab.workflow.settings import mark_outputs_current
    from emlab.workflow.stages import STAGES, cells, fill

    p = load_params(root / "params.yaml", workflow=True)
    mark_outputs_current(p, root)  # settings files older than any output
    stamp = time.time() - 3600
    jobs: dict[str, int] = {}
    for s in STAGES:
        for c in cells(p, s):
            for key, template in s.outputs.items():
                path = root / fill(template, c)
                if key in s.output_dirs:
                    path.mkdir(parents=True, exist_ok=True)
                    (path / "placeholder.txt").write_text(f"{path.name}\n", encoding="utf-8")
                    os.utime(path / "placeholder.txt", (stamp, stamp))
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"placeholder {fill(template, c)}\n", encoding="utf-8")
                os.utime(path, (stamp, stamp))
            jobs[s.name] = jobs.get(s.name, 0) + 1
    return {k: v for k, v in jobs.items() if v}


def pending_jobs(dry_run: str) -> list[str]:
    sys.path.insert(0, str(REPO / "src"))
    from emlab.workflow.record import parse_pending

    return parse_pending(dry_run)


def bench_config(name: str, tmp: Path, factorial: bool) -> dict[str, Any]:
    params, source = paper_params(name, factorial)
    root = tmp / name / "a"
    make_project(root, params)
    times: dict[str, float] = {}
    times["emlab_workflow_settings"], _ = py("emlab.cli", "workflow", "settings", cwd=root, key="emlab_workflow_settings")
    jobs = fill_placeholders(root)
    times["snakemake_n"], out = py("snakemake", "-n", "--cores", "1", cwd=root, key="snakemake_n")
    if pending_jobs(out):
        sys.exit(f"grid_scale: the placeholders are not a complete run; snakemake -n wants:\n{out[-3000:]}")
    times["dvc_status_unrecorded"], _ = py("dvc", "status", "--json", cwd=root, key="dvc_status_unrecorded")
    times["emlab_record"], _ = py("emlab.cli", "record", cwd=root, key="emlab_record")
    times["dvc_status"], out = py("dvc", "status", "--json", cwd=root, key="dvc_status")
    if out.strip() not in ("", "{}"):
        sys.exit(f"grid_scale: dvc status is not clean after emlab record: {out[:1000]}")
    times["snakemake_n_recorded"], out = py("snakemake", "-n", "--cores", "1", cwd=root, key="snakemake_n_recorded")
    if pending_jobs(out):  # placeholders have no Snakemake metadata: only their mtimes keep them current
        sys.exit(f"grid_scale: after emlab record, snakemake -n wants:\n{out[-3000:]}")
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    run("git", "add", "-A", cwd=root)
    run("git", "commit", "-qm", "record", cwd=root)
    clone = tmp / name / "b"
    run("git", "clone", "-q", str(root), str(clone), cwd=tmp)
    times["emlab_restore"], _ = py("emlab.cli", "restore", cwd=clone, key="emlab_restore")
    times["snakemake_n_restored_clone"], out = py("snakemake", "-n", "--cores", "1", cwd=clone, key="snakemake_n_restored_clone")
    if pending_jobs(out):
        sys.exit(f"grid_scale: the restored clone has work to do:\n{out[-3000:]}")
    checks = {k: round(times[k], 2) < target for k, target in TARGETS_S.items()}
    return {"params": source, "jobs": sum(jobs.values()), "jobs_by_rule": jobs, "dvc_stages": len(lock["stages"]),
            "times_s": {k: round(v, 2) for k, v in times.items()}, "cpu_s": {k: CPU_S[k] for k in times},
            "ratio_to_target": {k: round(times[k] / t, 3) for k, t in TARGETS_S.items()},
            "pass": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["gpt4o", "qwen_coder", "all"], default="all")
    parser.add_argument("--factorial", action="store_true", help="every variant on every seed, trigger and question set")
    parser.add_argument("--smoke", action="store_true", help="a 2-variant grid")
    parser.add_argument("--keep", type=Path, help="build the projects under this (new) folder and keep them")
    args = parser.parse_args()
    names = ["smoke"] if args.smoke else ["gpt4o", "qwen_coder"] if args.config == "all" else [args.config]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        baseline = {"snakemake_version_s": round(py("snakemake", "--version", cwd=REPO, key="snakemake_version")[0], 2),
                    "dvc_version_s": round(py("dvc", "--version", cwd=REPO, key="dvc_version")[0], 2)}
        baseline.update({f"{k}_cpu_s": CPU_S[k] for k in ("snakemake_version", "dvc_version")})
        results = {name: bench_config(name, tmp, args.factorial) for name in names}
    print(json.dumps({"machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                                  "load_avg_after": [round(x, 2) for x in os.getloadavg()]},
                      "targets_s": TARGETS_S, "baseline": baseline, "configs": results,
                      "pass": all(all(r["pass"].values()) for r in results.values())}, indent=1))


if __name__ == "__main__":
    main()
