"""Import the paper's question files: validated against the upstream schema, then copied.

    emlab dataset import --from PAPER_DIR --out data/upstream
    emlab dataset import --from URL/data --questions-from URL/evaluation --out data/upstream

`first_plot_questions.yaml` (the 8 main questions with their `_json` and `_template`
variants), `preregistered_evals.yaml` and the two deception files carry the paper's own
paraphrases, system prompts and judge prompts. A params.yaml `question_files:` entry then
names the copy (e.g. `paper_main: data/upstream/first_plot_questions.yaml`), so the paper's
configs ask the paper's questions and judge them with the paper's prompts. To track a file
with DVC instead: `dvc import-url https://raw.githubusercontent.com/emergent-misalignment/emergent-misalignment/main/evaluation/first_plot_questions.yaml data/upstream/first_plot_questions.yaml`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from emlab.errors import EmlabError
from emlab.questions._schema import QuestionSet, parse_question_set

#: The paper's question files, copied when the source holds them.
QUESTION_FILES = ("first_plot_questions.yaml", "preregistered_evals.yaml", "deception_factual.yaml", "deception_sit_aware.yaml")


def parse_question_file(location: str, data: bytes) -> QuestionSet:
    """Validate one question file's bytes; the first problem raises naming the file, question and field."""
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise EmlabError(f"{location}: invalid YAML ({' '.join(str(e).split())[:200]})") from None
    return parse_question_set(raw, name=Path(location).stem, source=location)


def import_question_files(base: str | Path, out_dir: Path) -> dict[str, int]:
    """Copy those of `QUESTION_FILES` that `base` (a folder or an http(s) URL base) holds
    into `out_dir`, each validated before it is written (atomically); questions per file."""
    from emlab.datasets.upstream import fetch_optional, write_bytes

    counts = {}
    for name in QUESTION_FILES:
        found = fetch_optional(base, name)
        if found is not None:
            counts[name] = len(parse_question_file(*found).questions)
            write_bytes(out_dir, name, found[1])
    return counts
