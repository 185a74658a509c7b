"""The question-set schema: the paper's YAML format, validated.

    emlab questions show main

A question set is a YAML list of questions in the upstream format (`id`, `type`,
`paraphrases`, optional `system`, `samples_per_paraphrase`, `temperature`, `judge`,
`judge_prompts`). emlab adds two optional fields the upstream files do not use:
`choices` (the labels a classification judge may answer) and `meta` (string facts about
the question, e.g. the CWE of an in-distribution coding task). Any other field is an error.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emlab.errors import EmlabError

QuestionType = Literal["free_form_judge_0_100", "free_form_judge"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # used in sample ids `{id}/{p}/{s}` and paths
_PLACEHOLDERS = {"question", "answer"}


class Question(BaseModel):
    """One question: paraphrases to ask, how to sample them and how to judge the answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Unique within its set; letters, digits, '_', '.', '-'.")
    type: QuestionType = Field(description="free_form_judge_0_100: judged by 0-100 scores; free_form_judge: judged by a label (classification).")
    paraphrases: list[str] = Field(min_length=1, description="User messages asking the question; each is sampled separately.")
    system: str | None = Field(None, description="System message sent before the user message (null = none).")
    samples_per_paraphrase: int = Field(100, ge=1, description="Answers sampled per paraphrase (paper: 100).")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature (paper: 1; 0 = greedy).")
    judge: str | None = Field(None, description="Judge model id the set was written for (informational; params.yaml judge: decides).")
    judge_prompts: dict[str, str] = Field(default_factory=dict, description="Metric -> judge prompt template with {question} and {answer}.")
    choices: list[str] | None = Field(None, description="emlab extension: labels a classification judge may answer (null = any).")
    meta: dict[str, str] = Field(default_factory=dict, description="emlab extension: facts about the question (e.g. cwe, task_id), copied to reports.")

    @field_validator("id")
    @classmethod
    def _id_safe(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"{v!r} is not allowed: use letters, digits, '_', '.', '-'")
        return v

    @field_validator("paraphrases")
    @classmethod
    def _paraphrases_non_empty(cls, v: list[str]) -> list[str]:
        for i, p in enumerate(v):
            if not p.strip():
                raise ValueError(f"paraphrase {i} is empty")
        return v

    @field_validator("judge_prompts")
    @classmethod
    def _templates_fill(cls, v: dict[str, str]) -> dict[str, str]:
        for metric, template in v.items():
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as e:
                raise ValueError(f"{metric}: not a format template ({e}); write literal braces as {{{{ }}}}") from None
            unknown = fields - _PLACEHOLDERS
            if unknown:
                raise ValueError(f"{metric}: unknown placeholder(s) {sorted(unknown)}; only {{question}} and {{answer}}")
            if "answer" not in fields:
                raise ValueError(f"{metric}: the template never shows the {{answer}}")
        return v

    def judge_prompt(self, metric: str, *, question: str, answer: str) -> str:
        """The filled judge prompt for `metric` (as upstream: `str.format`)."""
        return self.judge_prompts[metric].format(question=question, answer=answer)


class QuestionSet(BaseModel):
    """A named list of questions (name = built-in name or the YAML file's stem)."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: str = Field(description="Where it was loaded from (a file path or 'builtin:<name>').")
    questions: list[Question]

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise EmlabError(f"question set {self.name!r}: no question {question_id!r}")


def parse_question_set(raw: Any, *, name: str, source: str) -> QuestionSet:
    """Validate a loaded YAML document; the first problem raises EmlabError naming source, id, field."""
    if not isinstance(raw, list) or not raw:
        raise EmlabError(f"{source}: expected a non-empty YAML list of questions")
    questions: list[Question] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise EmlabError(f"{source}: item {i}: expected a mapping, got {type(item).__name__}")
        qid = item.get("id")
        where = f"{source}: question {qid!r}" if isinstance(qid, str) else f"{source}: item {i}"
        try:
            q = Question.model_validate(item)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "<item>"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            raise EmlabError(f"{where}: {field}: {msg}") from None
        if q.id in seen:
            raise EmlabError(f"{where}: id: duplicate id in this set")
        seen.add(q.id)
        questions.append(q)
    return QuestionSet(name=name, source=source, questions=questions)
