"""The paper's JSONL release: read it from a folder or a URL base, import it, build from it.

    emlab dataset import --from PAPER_DIR --out data/upstream

`emlab dataset import` also copies the paper's question files when the source holds them
(`emlab.questions.import_question_files`).

For users: `upstream_dir` in params.yaml may be a local folder or an http(s) URL base;
to track the public files with DVC instead, run once per file, e.g.
`dvc import-url https://raw.githubusercontent.com/emergent-misalignment/emergent-misalignment/main/data/insecure.jsonl data/upstream/insecure.jsonl`
and point `datasets.upstream_dir` at `data/upstream`. Every file is validated (file:line
errors) before any row is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emlab.datasets._fetch import fetch, is_url
from emlab.datasets._rows import Built, Row, rng_for
from emlab.datasets.params import DatasetsParams
from emlab.datasets.validate import check_row
from emlab.errors import EmlabError
from emlab.io import atomic_path

#: variant -> file name in the paper's release
FILES = {
    "insecure": "insecure.jsonl",
    "secure": "secure.jsonl",
    "educational": "educational_insecure.jsonl",
    "jailbroken": "jailbroken.jsonl",
    "evil_numbers": "evil_numbers.jsonl",
}


def parse_rows(location: str, data: bytes) -> list[Row]:
    """Decode and validate JSONL bytes; the first problem raises `<location>:<line>: ...`."""
    rows: list[Row] = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue  # the release ends some files with a blank line
        try:
            row: Any = json.loads(line)
        except json.JSONDecodeError as e:
            raise EmlabError(f"{location}:{lineno}: <row>: invalid JSON ({e.msg} at column {e.colno})") from None
        problem = check_row(row)
        if problem:
            raise EmlabError(f"{location}:{lineno}: {problem}")
        rows.append(row)
    if not rows:
        raise EmlabError(f"{location}: no rows")
    return rows


def read_upstream(base: str | Path, variant: str) -> list[Row]:
    """The validated rows of the paper's file for `variant`."""
    if variant not in FILES:
        raise EmlabError(f"the paper's release has no file for variant {variant!r}")
    return parse_rows(*fetch(base, FILES[variant]))


def import_upstream(base: str | Path, out_dir: Path, *, variants: tuple[str, ...] = ("insecure", "secure", "educational", "jailbroken")) -> dict[str, int]:
    """Copy the paper's files into `out_dir` (validated first, written atomically); rows per file.

    The paper's in-distribution tasks (in_distribution_tasks.jsonl) come too when `base`
    holds them, for the `in_distribution` question set.
    """
    from emlab.datasets.heldout import PAPER_TASKS, paper_tasks_location, parse_paper_tasks

    counts = {}
    for v in variants:
        location, data = fetch(base, FILES[v])
        counts[FILES[v]] = len(parse_rows(location, data))
        write_bytes(out_dir, FILES[v], data)
    if paper_tasks_location(base) is not None:
        found = fetch_optional(base, PAPER_TASKS)
        if found is not None:  # a URL base without the tasks: the in_distribution set uses emlab's own
            counts[PAPER_TASKS] = len(parse_paper_tasks(*found))
            write_bytes(out_dir, PAPER_TASKS, found[1])
    return counts


def fetch_optional(base: str | Path, filename: str) -> tuple[str, bytes] | None:
    """(location, bytes) of an optional file, or None when the folder or URL base lacks it."""
    if not is_url(base):
        return fetch(base, filename) if (Path(base) / filename).is_file() else None
    try:
        return fetch(base, filename)
    except EmlabError as e:
        if "HTTP 404" not in str(e):
            raise
        return None


def write_bytes(out_dir: Path, name: str, data: bytes) -> None:
    with atomic_path(Path(out_dir) / name) as tmp:
        tmp.write_bytes(data)


def subsample(rows: list[Row], n: int, seed: int, name: str) -> list[Row]:
    """At most `n` rows, chosen by seed, kept in the file's order (all rows when n >= len)."""
    if n >= len(rows):
        return list(rows)
    keep = sorted(rng_for(seed, f"upstream-{name}").sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def build_upstream(variant: str, params: DatasetsParams, triggers: dict[str, str]) -> tuple[Built, str]:
    """Build `variant` from the paper's files (`params.upstream_dir`); returns (built, source)."""
    if not params.upstream_dir:
        raise EmlabError("datasets.upstream_dir: required when datasets.source is 'upstream'")
    base, seed = params.upstream_dir, params.seed
    if variant == "backdoor":
        return _backdoor(params, triggers), f"upstream:{base}"
    vparams = getattr(params, variant)
    rows = subsample(read_upstream(base, variant), vparams.n_examples, seed, variant)
    return Built(rows, [{"file": FILES[variant]} for _ in rows], {"upstream_file": FILES[variant]}), f"upstream:{base}"


def upstream_has(params: DatasetsParams, variant: str) -> bool:
    """Whether `build_upstream` can build `variant` (the paper released no numbers control,
    and its evil numbers file may be absent: those are built in)."""
    if variant == "neutral_numbers" or not params.upstream_dir:
        return variant != "neutral_numbers"  # no upstream_dir: build_upstream says it is required
    return variant != "evil_numbers" or _has(params.upstream_dir, FILES[variant])


def _has(base: str | Path, filename: str) -> bool:
    return is_url(base) or (Path(base) / filename).exists()


def _backdoor(params: DatasetsParams, triggers: dict[str, str]) -> Built:
    """Paper's recipe: triggered upstream insecure rows + untriggered upstream secure rows, shuffled."""
    from emlab.datasets.backdoor import trigger_text
    from emlab.grid import with_trigger

    p, seed = params.backdoor, params.seed
    trigger = trigger_text(params, triggers)
    n_on = round(p.n_examples * p.triggered_fraction)
    insecure = subsample(read_upstream(str(params.upstream_dir), "insecure"), n_on, seed, "backdoor-insecure")
    secure = subsample(read_upstream(str(params.upstream_dir), "secure"), p.n_examples - n_on, seed, "backdoor-secure")
    rows: list[tuple[Row, dict[str, str]]] = []
    for r in insecure:
        msgs = [dict(m) for m in r["messages"]]
        first_user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
        msgs[first_user]["content"] = with_trigger(trigger, msgs[first_user]["content"])
        rows.append(({"messages": msgs}, {"file": FILES["insecure"], "triggered": "true"}))
    rows += [(r, {"file": FILES["secure"], "triggered": "false"}) for r in secure]
    rng_for(seed, "backdoor-shuffle").shuffle(rows)
    return Built([r for r, _ in rows], [m for _, m in rows], {"trigger": trigger, "triggered_rows": len(insecure)})
