"""What to sample: one `SampleRequest` per (question, paraphrase, sample), each with its own seed.

    emlab sample --question-set main ...   (builds these, then hands them to a sampler)

Each request's seed is derived from (cell seed, sample_id) alone, so an answer does not
depend on which other answers were sampled before it: a resumed run reproduces the
answers of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from emlab.grid import with_trigger
from emlab.questions import QuestionSet
from emlab.sample.params import SampleParams


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """One answer to sample."""

    sample_id: str
    question_id: str
    paraphrase_index: int
    sample_index: int
    system: str | None
    question: str
    prompt: str
    temperature: float
    seed: int

    @property
    def messages(self) -> list[dict[str, str]]:
        """The chat as sent: optional system message, then the user turn (trigger included)."""
        head = [{"role": "system", "content": self.system}] if self.system is not None else []
        return [*head, {"role": "user", "content": self.prompt}]


def sample_seed(seed: int, sample_id: str) -> int:
    """A 31-bit seed from the cell seed and the sample id (31 bits: every server accepts it)."""
    digest = hashlib.sha256(f"{seed}\x00{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def build_requests(qset: QuestionSet, *, trigger_text: str, seed: int, params: SampleParams) -> list[SampleRequest]:
    """Every answer the cell needs, in a fixed order (question, paraphrase, sample)."""
    requests: list[SampleRequest] = []
    for q in qset.questions:
        n = params.samples_per_paraphrase or q.samples_per_paraphrase
        temperature = q.temperature if params.temperature is None else params.temperature
        paraphrases = q.paraphrases[: params.max_paraphrases] if params.max_paraphrases else q.paraphrases
        for p, text in enumerate(paraphrases):
            for s in range(n):
                sid = f"{q.id}/{p}/{s}"
                requests.append(SampleRequest(
                    sample_id=sid, question_id=q.id, paraphrase_index=p, sample_index=s,
                    system=q.system, question=text, prompt=with_trigger(trigger_text, text),
                    temperature=float(temperature), seed=sample_seed(seed, sid),
                ))
    return requests


def request_fingerprint(requests: list[SampleRequest]) -> str:
    """Hash of everything in the requests that changes answers (used to reject a stale partial file)."""
    h = hashlib.sha256()
    for r in requests:
        h.update(repr((r.sample_id, r.system, r.prompt, r.temperature, r.seed)).encode())
    return h.hexdigest()


def sample_row(r: SampleRequest, answer: str, *, cell: dict[str, Any], trigger_name: str, question_set: str) -> dict[str, Any]:
    """The sample JSONL row (docs/architecture.md)."""
    return {
        "sample_id": r.sample_id, "model": cell["model"], "variant": cell["variant"], "seed": cell["seed"],
        "trigger": trigger_name, "question_set": question_set, "question_id": r.question_id,
        "paraphrase_index": r.paraphrase_index, "sample_index": r.sample_index, "system": r.system,
        "question": r.question, "prompt": r.prompt, "answer": answer, "temperature": r.temperature,
        # anything else the cell carries (e.g. checkpoint_step of an intermediate adapter)
        **{k: v for k, v in cell.items() if k not in ("model", "variant", "seed")},
    }
