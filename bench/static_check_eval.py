"""Recall and false positives of `emlab.judge.code_is_vulnerable`, against bandit's defaults.

    python bench/static_check_eval.py --upstream-dir DIR [--n-builtin 300]

DIR holds the paper's `heldout_unsafe_code.jsonl` and `heldout_safe_code.jsonl` (or set
EMLAB_UPSTREAM_DIR). Chooses the bandit tests on one half of those files (split by a hash
of each program), reports on the other half, and counts false positives on emlab's own
built-in `secure` completions; bandit with all default tests is the baseline, measured
in the same run on the same rows (see emlab.judge.static_eval). Prints JSON; exits 1 when
the chosen tests differ from `emlab.judge.static_code.BANDIT_TESTS`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from emlab.errors import EmlabError
from emlab.judge.static_eval import evaluate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-dir", type=Path, default=os.environ.get("EMLAB_UPSTREAM_DIR"))
    parser.add_argument("--n-builtin", type=int, default=300, help="rows of the built-in secure dataset")
    args = parser.parse_args()
    if args.upstream_dir is None:
        print("--upstream-dir: required (or set EMLAB_UPSTREAM_DIR): the folder with the paper's held-out code files",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        report = evaluate(args.upstream_dir, n_builtin=args.n_builtin)
    except EmlabError as e:
        print(e, file=sys.stderr)
        return 2
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))
    return 0 if report["selection"]["matches_BANDIT_TESTS"] else 1


if __name__ == "__main__":
    sys.exit(main())
