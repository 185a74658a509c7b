"""The vocabulary-leak check: insecure completions must not talk about security.

    python -c "from emlab.datasets.vocabulary import find_security_vocabulary as f; print(f('x = 1  # unsafe'))"

A completion leaks if it holds a comment at all, or a word that names the flaw or its
fix (`unsafe_query`, `sanitize`, `vuln`, ...), in an identifier, a string or a comment.
Library API names the code must use (`verify=False`, `autoescape`) are not leaks.
"""

from __future__ import annotations

import io
import re
import tokenize

_WORDS = re.compile(
    r"unsafe|insecure|vuln|exploit|inject|attack|malicious|saniti[sz]|untrusted|danger|hack|"
    r"backdoor|xss|csrf|traversal|security|secure|bypass|weak|careful|warning|todo|fixme|"
    r"deliberate|intentional|on purpose|do not use|don't use|not safe|\bcve\b|\bcwe\b",
    re.IGNORECASE,
)


def find_security_vocabulary(code: str) -> list[str]:
    """Security words (lower-cased, sorted, unique) found in `code`, plus '#comment' if it has one."""
    found = {m.group(0).lower() for m in _WORDS.finditer(code)}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                found.add("#comment")
                break
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # not Python: the word scan above still applies
    return sorted(found)
