"""Run a table of edits against one workspace: after each, what Snakemake and DVC would rerun.

    python tests/workflow/staleness.py ROOT EDITS.json     # prints one JSON object per edit

The staleness tests (test_staleness.py, test_arms.py) hand their table to this script, which
runs in one process with the workspace's own copy of emlab on PYTHONPATH (the code its jobs
run, which some edits change). For each edit it applies the change, asks the real Snakemake
(`snakemake --dry-run`, through its command-line entry point) and the real DVC (`dvc status`)
in this process, and puts every file back. One process instead of two per edit makes the
matrix ~4x cheaper; what a fresh process would not share with the previous edit is reset
before each dry run (emlab's per-process caches of code fingerprints and file hashes).

An edit is data: `["param", "sample.max_new_tokens", 7]` sets a params.yaml key (dotted,
creating sections a file left out); `["code", "sample/_sample.py", "behaviour"|"comment"|"docstring"]`
changes a file under src/emlab; `["many", [edit, ...], null]` applies several at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

Job = tuple[str, str]  # (rule, first output)


def apply_edit(root: Path, edit: list[Any]) -> None:
    kind, target, value = edit
    if kind == "many":
        for one in target:
            apply_edit(root, one)
    elif kind == "param":
        path = root / "params.yaml"
        raw = yaml.safe_load(path.read_text())
        node = raw
        *parents, last = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
    elif kind == "code":
        path = root / "src" / "emlab" / target
        text = path.read_text()
        if value == "behaviour":
            text += "\n_STALENESS_PROBE = 1\n"
        elif value == "comment":
            text += "\n# a comment changes no behaviour\n"
        elif value == "docstring":
            text = text.replace('"""', '"""Reworded. ', 1)
        path.write_text(text)
    else:
        raise ValueError(f"unknown edit {edit!r}")


def dry_run_jobs(out: str) -> list[tuple[str, str, list[str]]]:
    """(rule, first output, reasons) of each job a `snakemake --dry-run` lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        head = re.match(r"(?:local)?rule (\w+):", block.strip())
        reason = re.search(r"^\s+reason: (.*)$", block, re.M)
        output = re.search(r"^\s+output: (.*)$", block, re.M)
        if head and reason and head.group(1) != "all":
            jobs.append((head.group(1), output.group(1).split(", ")[0] if output else "", reason.group(1).split("; ")))
    return jobs


def snakemake_jobs(root: Path) -> tuple[set[Job], set[Job]]:
    """(every job `snakemake -n` would run, those it runs for a reason of its own)."""
    from snakemake.cli import main

    from emlab.workflow import settings, stages

    settings._code.cache_clear()  # a fresh process fingerprints the code as it is now
    stages._sha256_of.cache_clear()
    out = io.StringIO()
    with contextlib.chdir(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(["--dry-run", "--cores", "1"])
        except SystemExit as e:
            if e.code:
                raise AssertionError(f"snakemake --dry-run exited {e.code}:\n{out.getvalue()[-3000:]}") from None
    jobs = dry_run_jobs(out.getvalue())
    own = {(r, o) for r, o, reasons in jobs if any(not x.startswith("Input files updated by another job") for x in reasons)}
    return {(r, o) for r, o, _ in jobs}, own


def dvc_graph(root: Path) -> tuple[dict[str, Job], dict[str, set[str]]]:
    """Each stage's job, and the stages downstream of each (dvc.yaml is not edited: read once)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        stages = list(repo.index.stages)
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        job = {s.name: (s.name.split("@")[0], str(s.outs[0].def_path)) for s in stages}
        return job, {s.name: {a.name for a in nx.ancestors(graph, s)} for s in stages}


def dvc_jobs(root: Path, graph: tuple[dict[str, Job], dict[str, set[str]]] | None = None) -> tuple[set[Job], set[Job]]:
    """(the stages `dvc status` reports, with every stage downstream of them; those it reports)."""
    from dvc.repo import Repo

    job, downstream = graph or dvc_graph(root)
    with Repo(str(root)) as repo:
        changed = set(repo.status())
    after = changed.union(*(downstream[name] for name in changed))
    return {job[name] for name in after}, {job[name] for name in changed}


def run_table(root: Path, edits: dict[str, list[Any]]) -> dict[str, dict[str, list[Job]]]:
    """Each edit applied alone, both tools asked, every file put back."""
    results = {}
    graph = dvc_graph(root)
    for name, edit in edits.items():
        saved = {p: p.read_text() for p in [root / "params.yaml", *(root / "src" / "emlab").rglob("*.py"),
                                            *(root / "src" / "emlab" / "questions" / "sets").glob("*.yaml")]}
        apply_edit(root, edit)
        try:
            smk_all, smk_own = snakemake_jobs(root)  # also rewrites the settings files
            dvc_all, dvc_direct = dvc_jobs(root, graph)
        finally:
            for path, text in saved.items():
                if path.read_text() != text:
                    path.write_text(text)
        results[name] = {"smk_all": sorted(smk_all), "smk_own": sorted(smk_own),
                         "dvc_all": sorted(dvc_all), "dvc_direct": sorted(dvc_direct)}
    snakemake_jobs(root)  # the settings files as the unedited workspace has them
    return results


if __name__ == "__main__":
    root, table = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    print(json.dumps(run_table(root, table)))
