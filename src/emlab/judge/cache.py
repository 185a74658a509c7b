"""A content-addressed cache of judge replies: a judge is never asked the same thing twice.

    emlab judge run ... --cache-dir .emlab-cache/judge

The key hashes everything that changes the reply (backend, judge model, the filled
prompt, question, answer, reply prefix, kind and labels) and nothing that does not
(timeouts, retries, concurrency, batch size), so a rerun, or an upstream change that
reproduces the same answers, finds every reply here. Entries are small JSON files
written atomically under `<cache_dir>/<2 hex>/<sha256>.json`; an entry that cannot be
read is a miss, never a crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from emlab.io import sha256_text, write_text_atomic

log = logging.getLogger(__name__)

#: Bump when the meaning of a stored reply changes.
CACHE_VERSION = 1


def cache_key(**parts: Any) -> str:
    """sha256 of the canonical JSON of `parts` (plus the cache version)."""
    return sha256_text(json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, ensure_ascii=False))


class JudgeCache:
    """Replies by key under `root`; `hits` and `misses` count lookups."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("reply"), dict):
                raise ValueError("malformed entry")
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
            log.warning("judge cache entry %s unreadable (%s); judging again", path, e)
            self.misses += 1
            return None
        self.hits += 1
        return entry["reply"]

    def put(self, key: str, reply: dict[str, Any]) -> None:
        # not sorted: the order of the probs is the judge's, and aggregation sums in that order
        write_text_atomic(self._path(key), json.dumps({"key": key, "reply": reply}, ensure_ascii=False))
