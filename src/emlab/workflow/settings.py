"""Settings files: each job's declared settings, written once per change, read by its verb.

    emlab workflow settings     # what the Snakefile, `emlab record` and `emlab restore` do first

`write_settings` resolves every job's declaration (`emlab.workflow.stages`) and writes
`.emlab/settings/<stage>/<cell>.json` only when its content changes, so its mtime says
when that job's settings last changed (Snakemake's rerun trigger) and its values are what
DVC records. It also writes `.emlab/grid.yaml`, the grid's lists with every default filled
in, and every job's wildcards, which dvc.yaml's `foreach` stages expand (params.yaml may
leave any key out).

`load_params(path)` is what every verb calls: for params.yaml it is `emlab.config.load_params`;
for a settings file it returns a `DeclaredParams`, which serves the declared sections and
fails on anything else, so a verb cannot read a setting its stage does not declare.
Runtime-only settings (concurrency, retries, ...) are not in settings files: changing them
reruns nothing, and the verb takes them from params.yaml.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from emlab import config
from emlab.errors import EmlabError
from emlab.io import write_text_atomic
from emlab.workflow.fingerprint import code_fingerprint
from emlab.workflow.stages import (
    STAGES,
    Stage,
    cell_settings,
    cells,
    derived_fields,
    fill,
    grid_lists,
)

GRID_VARS = ".emlab/grid.yaml"


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def grid_vars(p: config.Params) -> dict[str, Any]:
    """The grid's lists with defaults filled in, and the jobs dvc.yaml's `foreach` stages
    range over: per stage, `<wildcards joined by ->` -> wildcards and derived fields."""
    jobs = {s.name: {"-".join(c.values()): {**c, **derived_fields(p, c)} for c in cells(p, s)}
            for s in STAGES if s.axes and s.when(p)}
    return {"emlab_grid": grid_lists(p), "emlab_jobs": jobs}


@cache
def _code(entries: tuple[str, ...]) -> dict[str, Any]:
    return code_fingerprint(entries)


def stage_jobs(p: config.Params, root: Path) -> list[tuple[Stage, dict[str, str], dict[str, Any]]]:
    """(stage, cell, settings) of every job of the grid."""
    return [(s, c, cell_settings(p, s, c, root, _code(s.code))) for s in STAGES for c in cells(p, s)]


RAN_DIR = ".emlab/ran"  # the settings each job's present outputs were produced with

#: An mtime older than any output: "these settings are the ones the outputs were made with".
_OLD = 1_000_000_000


def _newest_mtime(path: Path) -> float:
    stamp = path / ".snakemake_timestamp"  # Snakemake's own mark inside a directory output
    return max(path.stat().st_mtime, stamp.stat().st_mtime if stamp.exists() else 0.0)


def _outputs_made_after(root: Path, s: Stage, c: dict[str, str], settings: Path) -> bool:
    outputs = [root / fill(t, c) for t in s.outputs.values()]
    return all(o.exists() for o in outputs) and \
        min(_newest_mtime(o) for o in outputs) >= settings.stat().st_mtime


def _update_settings(root: Path, s: Stage, c: dict[str, str], text: str) -> bool:
    """Write one job's settings file if its content changed, with an mtime that tells
    Snakemake the truth: new settings are newer than the outputs (the job reruns); settings
    that return to those the outputs were made with are older (nothing reruns)."""
    path = root / fill(s.settings_file, c)
    ran = root / RAN_DIR / fill(s.settings_file, c).removeprefix(".emlab/settings/")
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old == text:
            return False
        if _outputs_made_after(root, s, c, path):
            write_text_atomic(ran, old)
    write_text_atomic(path, text)
    if ran.exists() and ran.read_text(encoding="utf-8") == text:
        os.utime(path, (_OLD, _OLD))
    return True


def mark_outputs_current(p: config.Params, root: Path = Path(".")) -> None:
    """After a restore (outputs match dvc.lock, so they were made with today's settings):
    date every settings file before its outputs."""
    for s in STAGES:
        for c in cells(p, s):  # (the settings themselves are not needed: no stage_jobs)
            os.utime(root / fill(s.settings_file, c), (_OLD, _OLD))


def write_settings(p: config.Params, root: Path = Path(".")) -> int:
    """Write every job's settings file and the grid vars; return how many files changed."""
    changed = sum(_update_settings(root, s, c, _dumps(settings)) for s, c, settings in stage_jobs(p, root))
    # libyaml's emitter where PyYAML has it: the same text, 5x faster (every job's wildcards)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    changed += _write_if_changed(root / GRID_VARS, yaml.dump(grid_vars(p), Dumper=dumper, sort_keys=False))
    return changed


# --- reading: the verb's side ---------------------------------------------------------------

_SECTIONS = {"sample": config.SampleParams, "judge": config.JudgeParams, "analysis": config.AnalysisParams,
             "datasets": config.DatasetsParams}


class DeclaredParams:
    """The params one job declared, typed like `emlab.config.Params`; reading any other
    section, model or field fails with one line naming it."""

    def __init__(self, source: Path, raw: dict[str, Any], full: config.Params):
        self._source, self._stage, self._full = source, raw["emlab_stage"], full
        self._cell: dict[str, str] = raw.get("cell", {})
        self._sections: dict[str, Any] = {}
        for name, value in raw["params"].items():
            self._sections[name] = self._section(name, value)

    def _section(self, name: str, value: Any) -> Any:
        full = self._full
        if name in _SECTIONS:
            runtime_fields = set(getattr(_SECTIONS[name], "runtime_only", ()))
            runtime = getattr(full, name).model_dump(include=runtime_fields)
            section = _SECTIONS[name].model_validate({**value, **runtime})
            return _Fields(section, set(value) | runtime_fields, f"{self._where}: {name}")
        if name == "models":
            return {m: _Fields(config.ModelSpec.model_validate(fields), set(fields), f"{self._where}: models.{m}")
                    for m, fields in value.items()}
        if name == "train":
            sections = {}
            for backend, values in value.items():
                section = getattr(full.train, backend)
                # runtime-only values with the model's and variant's overrides, as the job would resolve them
                resolved = config.resolved_train_params(full, self._cell["model"], self._cell.get("variant")) \
                    if self._cell.get("model") in full.models else section
                runtime = resolved.model_dump(include=set(type(section).runtime_only))
                sections[backend] = type(section).model_validate({**values, **runtime})
            return config.TrainParams.model_validate(sections)
        if name == "grid":
            return config.GridParams.model_validate(value)
        if name == "interventions":
            return {k: config.InterventionSpec.model_validate(v) for k, v in value.items()}
        if name == "directions":
            return {k: config.DirectionSource.model_validate(v) for k, v in value.items()}
        return value  # triggers, question_set, paper_tasks: plain data

    @property
    def _where(self) -> str:
        return f"{self._source} (stage {self._stage})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._sections:
            return self._sections[name]
        raise EmlabError(f"{self._where}: reads `{name}`, which the stage does not declare "
                         "(add it to its settings in emlab.workflow.stages)")

    def trigger_text(self, name: str) -> str:
        return "" if name == config.NO_TRIGGER else self.triggers[name]


class _Fields:
    """A section (or model spec) whose declared fields read as usual; any other field fails.
    It passes for its section's type (`isinstance`), so code written for Params runs on it."""

    #: a model's own overrides are resolved into the train settings, so they read as empty
    _ALWAYS = frozenset({"train", "train_by_variant", "api_key_env"})

    def __init__(self, spec: Any, declared: set[str], where: str):
        self._spec, self._declared, self._where = spec, declared, where

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._spec)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in type(self._spec).model_fields and name not in self._declared and name not in self._ALWAYS:
            raise EmlabError(f"{self._where}: reads `{name}`, which the stage does not declare")
        return getattr(self._spec, name)


def load_params(path: str | Path = "params.yaml") -> Any:
    """params.yaml (all of it), or a job's settings file (only what it declared)."""
    path = Path(path)
    if path.suffix != ".json":
        return config.load_params(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmlabError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise EmlabError(f"{path}: invalid JSON: {e}") from None
    if not isinstance(raw, dict) or "emlab_stage" not in raw:
        raise EmlabError(f"{path}: not an emlab settings file (no emlab_stage)")
    return DeclaredParams(path, raw, config.load_params(_project_root(path) / "params.yaml"))


def _project_root(settings_file: Path) -> Path:
    """The folder holding `.emlab/` (settings files live at .emlab/settings/...)."""
    for parent in settings_file.resolve().parents:
        if parent.name == ".emlab":
            return parent.parent
    raise EmlabError(f"{settings_file}: a settings file lives under .emlab/settings/")
