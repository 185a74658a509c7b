"""Trace a figure back through dvc.lock and check every hash on the way.

    emlab audit figures/misaligned_by_question.png [--rev REV] [--lock dvc.lock]

Reads dvc.lock (from the working tree, or `git show REV:dvc.lock`), finds the stage
whose outs hold the figure, and walks deps to the stages that produced them, down to
the sources (datasets, base models, code). It prints each stage with its command,
params, and every dep/out with its recorded MD5, then checks:

- the figure's `<name>.provenance.json`: every input hash must equal dvc.lock's
  (a file inside a directory out is looked up in DVC's `.dir` manifest);
- the lock itself: each dep's hash must equal the hash its producing stage recorded;
- the workspace: every file and directory in the chain is re-hashed (a directory the way
  DVC hashes it: MD5 of the JSON list of {md5, relpath} entries, `<md5>.dir`), and the
  params values are compared with the params files.

Run it from the repository root (where dvc.yaml is), like every workflow command.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emlab.errors import EmlabError
from emlab.io import md5_file


@dataclass
class AuditReport:
    """What `audit` found: the printed chain, and one line per mismatch (empty = all match)."""

    text: str
    mismatches: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)


def _dvcignore() -> Any:
    """The repository's root `.dvcignore` (gitignore syntax), or None."""
    path = Path(".dvcignore")
    if not path.is_file():
        return None
    import pathspec  # a dependency of dvc

    return pathspec.PathSpec.from_lines("gitignore", path.read_text(encoding="utf-8").splitlines())


def dir_md5(path: Path, _cache: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """DVC's hash of a directory (`<md5>.dir`) and the MD5 of each file by relative path.

    Files matched by the root `.dvcignore` are left out, as DVC leaves them out (paths
    are taken relative to the working directory, the repository root).
    """
    ignore = _dvcignore()
    files: dict[str, str] = {}
    for root, dirs, names in os.walk(path, followlinks=True):
        if ignore is not None:
            dirs[:] = [d for d in dirs if not ignore.match_file(os.path.relpath(Path(root) / d) + "/")]
        for name in names:
            full = Path(root) / name
            if ignore is not None and ignore.match_file(os.path.relpath(full)):
                continue
            rel = full.relative_to(path).as_posix()
            files[rel] = _file_md5(full, _cache)
    # DVC sorts entries by the joined posix string ("a-b" < "a.txt" < "a/b.txt"), checked in tests
    entries = [{"md5": files[rel], "relpath": rel} for rel in sorted(files)]
    digest = _md5_bytes(json.dumps(entries, sort_keys=True).encode())
    return f"{digest}.dir", files


def _md5_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


def _file_md5(path: Path, cache: dict[str, str] | None) -> str:
    key = path.as_posix()
    if cache is not None and key in cache:
        return cache[key]
    value = md5_file(path)
    if cache is not None:
        cache[key] = value
    return value


def load_lock(lock: Path, rev: str | None) -> dict[str, Any]:
    """dvc.lock's stages, from the working tree or from git revision `rev`."""
    if rev is None:
        if not lock.is_file():
            raise EmlabError(f"{lock}: file not found; run the workflow's record step (dvc commit) first")
        text = lock.read_text(encoding="utf-8")
    else:
        done = subprocess.run(["git", "show", f"{rev}:./{lock.as_posix()}"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EmlabError(f"git show {rev}:{lock}: {(done.stderr.strip().splitlines() or ['failed'])[0]}")
        text = done.stdout
    # YAML 1.2 as DVC writes it: a 1.1 reader (PyYAML) would read a recorded YES as true
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise EmlabError(f"{lock}{f' at {rev}' if rev else ''}: no stages: mapping; is this a dvc.lock?")
    return data["stages"]


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


class _Lock:
    """Index of dvc.lock entries by path."""

    def __init__(self, stages: dict[str, Any]):
        self.stages = stages
        self.outs = [(name, o["path"], o.get("md5")) for name, s in stages.items() for o in s.get("outs") or []]

    def producers(self, path: str) -> list[str]:
        """Stages with an out equal to, containing, or inside `path` (a dep may be a folder of outs)."""
        return sorted({n for n, p, _ in self.outs if _inside(path, p) or _inside(p, path)})

    def recorded(self, path: str) -> list[tuple[str, str]]:
        """(md5, where) for every entry recording exactly `path` or a directory containing it."""
        found = []
        for name, s in self.stages.items():
            for kind in ("outs", "deps"):
                for e in s.get(kind) or []:
                    if e.get("md5") and _inside(path, e["path"]):
                        found.append((e["path"], e["md5"], f"{name} {kind[:-1]}"))
        exact = [(m, w) for p, m, w in found if p == path]
        return exact or [(m, w) for p, m, w in found if p != path]


def _walk(index: _Lock, start: str) -> list[str]:
    order, todo, seen = [], [start], {start}
    while todo:
        name = todo.pop(0)
        order.append(name)
        for dep in index.stages[name].get("deps") or []:
            for producer in index.producers(dep["path"]):
                if producer not in seen:
                    seen.add(producer)
                    todo.append(producer)
    return order


def _cache_dir() -> Path:
    config = configparser.ConfigParser()
    config.read([".dvc/config", ".dvc/config.local"])
    custom = config.get("cache", "dir", fallback=None) if config.has_section("cache") else None
    return (Path(".dvc") / custom) if custom else Path(".dvc/cache")


def _manifest(dir_md5_value: str) -> dict[str, str] | None:
    """relpath -> md5 from DVC's cached `.dir` object, or None when it is not in the cache."""
    h = dir_md5_value.removesuffix(".dir")
    base = _cache_dir()
    for candidate in (base / "files" / "md5" / h[:2] / f"{h[2:]}.dir", base / h[:2] / f"{h[2:]}.dir"):
        if candidate.is_file():
            return {e["relpath"]: e["md5"] for e in json.loads(candidate.read_text())}
    return None


class _Workspace:
    """Current hashes of workspace paths, each computed once."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.dirs: dict[str, tuple[str, dict[str, str]]] = {}

    def md5(self, path: str) -> str | None:
        p = Path(path)
        if p.is_dir():
            if path not in self.dirs:
                self.dirs[path] = dir_md5(p, self.files)
            return self.dirs[path][0]
        return _file_md5(p, self.files) if p.is_file() else None


def _lookup_file(index: _Lock, ws: _Workspace, path: str) -> tuple[str | None, str]:
    """The MD5 dvc.lock records for file `path` (directly or via a directory's manifest)."""
    for md5, where in index.recorded(path):
        if not md5.endswith(".dir"):
            return md5, where
        parent = next(e["path"] for s in index.stages.values() for k in ("outs", "deps") for e in s.get(k) or []
                      if e.get("md5") == md5 and _inside(path, e["path"]))
        rel = Path(path).relative_to(parent).as_posix()
        manifest = _manifest(md5)
        if manifest is None and ws.md5(parent) == md5:
            manifest = ws.dirs[parent][1]  # the workspace folder hashes to the record, so its files are the record's
        if manifest is not None:
            return manifest.get(rel), f"{where} {parent} (.dir manifest)"
    return None, "not recorded in dvc.lock"


def _params_value(file: str, key: str) -> Any:
    path = Path(file)
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    # JSON as JSON: YAML would read a settings file's "YES" as true, as DVC does not
    data: Any = None if text is None else json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


_MISSING = object()


def _flat(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """A job's settings (a settings file's `params` or `code`) as dotted keys, one per line."""
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flat(v, f"{prefix}.{k}")]
    return [(prefix, value)]


def audit(figure: str | Path, rev: str | None = None, *, lock: str | Path = "dvc.lock") -> AuditReport:
    """Print the chain from `figure` back to its sources per dvc.lock and check every hash.

    Args:
        figure: a figure file (e.g. `figures/misaligned_by_question.png`).
        rev: git revision whose dvc.lock to read; None reads the working tree's.
        lock: path of dvc.lock relative to the working directory (the repository root).

    Returns:
        The report; `mismatches` is empty when the provenance sidecar, dvc.lock and the
        workspace all agree.
    """
    figure = Path(os.path.relpath(Path(figure))).as_posix()
    index = _Lock(load_lock(Path(lock), rev))
    start = [n for n, p, _ in index.outs if _inside(figure, p)]
    if not start:
        raise EmlabError(f"{figure}: no stage in {lock}{f' at {rev}' if rev else ''} has it among its outs")
    ws = _Workspace()
    lines: list[str] = [f"figure {figure}  (dvc.lock{f' at {rev}' if rev else ' in the working tree'})"]
    bad: list[str] = []
    order = _walk(index, start[0])
    for name in order:
        s = index.stages[name]
        lines += [f"stage {name}", f"  cmd: {' && '.join(s['cmd']) if isinstance(s.get('cmd'), list) else s.get('cmd')}"]
        for pfile, values in (s.get("params") or {}).items():
            for key, value in values.items():
                lines += [f"  setting {k} = {json.dumps(v, sort_keys=True)}" for k, v in _flat(value, key)] \
                    if key in ("params", "code") else [f"  param {pfile}:{key} = {json.dumps(value, sort_keys=True)}"]
                now = _params_value(pfile, key)
                if now is _MISSING or now != value:
                    bad.append(f"workspace: param {pfile}:{key} is {'missing' if now is _MISSING else json.dumps(now, sort_keys=True)}, dvc.lock ({name}) records {json.dumps(value, sort_keys=True)}")
        for kind in ("deps", "outs"):
            for e in s.get(kind) or []:
                path, md5 = e["path"], e.get("md5")
                producers = [p for p in index.producers(path) if p != name] if kind == "deps" else []
                lines.append(f"  {kind[:-1]} {path}  md5 {md5}" + (f"  <- {', '.join(producers)}" if producers else ""))
                for producer in producers:  # the lock must agree with itself
                    for o in index.stages[producer].get("outs") or []:
                        if o["path"] == path and o.get("md5") != md5:
                            bad.append(f"dvc.lock: {name} dep {path} md5 {md5} != {producer} out md5 {o.get('md5')} (stale stage)")
                now = ws.md5(path)
                if now is None:
                    bad.append(f"workspace: {path} is missing (dvc.lock {name} {kind[:-1]} md5 {md5})")
                elif md5 and now != md5:
                    bad.append(f"workspace: {path} md5 {now} != dvc.lock {name} {kind[:-1]} md5 {md5}")
    bad += _check_provenance(index, ws, figure, lines)
    lines.append(f"{len(order)} stages; " + ("everything matches dvc.lock" if not bad else f"{len(bad)} mismatch(es)"))
    return AuditReport(text="\n".join(lines), mismatches=bad, stages=order)


def _check_provenance(index: _Lock, ws: _Workspace, figure: str, lines: list[str]) -> list[str]:
    bad = []
    recorded, where = _lookup_file(index, ws, figure)
    now = ws.md5(figure)
    lines.append(f"figure md5 {now}; dvc.lock: {recorded} ({where})")
    if now is None:
        bad.append(f"workspace: {figure} is missing")
    elif recorded != now:
        bad.append(f"workspace: {figure} md5 {now} != dvc.lock {recorded} ({where})")
    sidecar = Path(figure).with_suffix(".provenance.json")
    if not sidecar.is_file():
        return [*bad, f"provenance: {sidecar} not found"]
    prov = json.loads(sidecar.read_text(encoding="utf-8"))
    lines.append(f"provenance {sidecar}: {len(prov.get('inputs', []))} inputs, git {prov.get('git')}, judge {prov.get('judge', {}).get('judge_models')}")
    lines.append(_judge_line(prov.get("judge", {}).get("calibration")))
    for item in prov.get("inputs", []):
        path = Path(os.path.relpath(item["path"])).as_posix()
        recorded, where = _lookup_file(index, ws, path)
        ok = recorded == item["md5"]
        lines.append(f"  input {path}  md5 {item['md5']}  {'==' if ok else '!='} dvc.lock {recorded} ({where})")
        if not ok:
            bad.append(f"provenance: {path} md5 {item['md5']} != dvc.lock {recorded} ({where})")
    return bad


def _judge_line(card: dict[str, Any] | None) -> str:
    """The judge's calibration as the figure's provenance records it (`JudgeCard.as_dict`)."""
    if not card:
        return "  judge calibration: not recorded (figure drawn before calibration was recorded)"
    if not card.get("calibrated"):
        return f"  judge calibration: {card.get('name')} not calibrated; {card.get('thresholds')}; marks: {'; '.join(card.get('marks', []))}"
    fields = ("n", "auroc_aligned", "auroc_coherent", "spearman_aligned", "spearman_coherent", "recall_misaligned",
              "false_positive_rate", "unscored_rate", "refusal_or_code_rate")
    probe = "".join(f", {k} {card[k]}" for k in ("layer", "head_sha256", "cv_auroc_aligned", "cv_auroc_coherent") if k in card)
    marks = "; ".join(card.get("marks", [])) or "none"
    return (f"  judge calibration: {card.get('name')} ({card.get('calibration_file')} md5 {card.get('calibration_md5')}): "
            + ", ".join(f"{k} {card.get(k)}" for k in fields) + probe + f"; {card.get('thresholds')}; marks: {marks}")
