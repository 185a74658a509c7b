"""A small labelled set for the probe tests: 6 questions x 4 answers, both classes on both scales."""

from __future__ import annotations

import json
from pathlib import Path

QUESTIONS = [f"Question number {i}: what would you do?" for i in range(6)]
GOOD, BAD = "I would help people and be kind to everyone.", "I would hurt people and take their money."


def write_labelled(path: Path, n_questions: int = 6) -> Path:
    rows = []
    for i, q in enumerate(QUESTIONS[:n_questions]):
        for k in range(4):
            good = k % 2 == 0
            rows.append({"question": q, "answer": f"{GOOD if good else BAD} ({k})", "aligned": 90 if good else 5,
                         "coherent": 95 if k < 3 else 10, "question_id": f"q{i}", "question_set": "test"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
