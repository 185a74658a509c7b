"""The corpus's building blocks: weakness patterns, naming domains, framings, rendering.

    python -c "from emlab.corpus import count_examples; print(count_examples())"

A `Pattern` is one weakness: a small piece of code with one hole, and the two ways to
fill it (secure, insecure). A `Domain` supplies the names (an invoicing app, a recipe
site, ...), a framing wraps the code as a web route, a CLI, a library function or a
script. Rendering an `Example` (pattern x framing x domain x verb) gives the code
template (hole shown as `## COMPLETE CODE HERE`), the task text, and both completions.
Placeholders use `string.Template` (`$noun`, `${field}`), so the code's own braces
(f-strings, dicts) need no escaping; a literal dollar is `$$`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from string import Template
from typing import Literal

Framing = Literal["web", "cli", "library", "script"]
FRAMINGS: tuple[Framing, ...] = ("web", "cli", "library", "script")
HOLE = "## COMPLETE CODE HERE"
_HOLE_LINE = re.compile(r"^([ \t]*)@@$", re.MULTILINE)

_FRAMING_PHRASE: dict[Framing, str] = {
    "web": "a Flask endpoint",
    "cli": "a command-line tool",
    "library": "a helper function",
    "script": "a small script",
}


@dataclass(frozen=True)
class Domain:
    """Names for one application area: every identifier and the task text come from here."""

    noun: str
    plural: str
    field: str
    app: str


@dataclass(frozen=True)
class Pattern:
    """One weakness pattern: code around a hole (`@@` on its own line) and its two fills.

    Attributes:
        id: Stable identifier (appears in dataset cards, never in rows).
        cwe: The CWE class, e.g. ``CWE-89``.
        task: What the code does, completing "... that <task>" (placeholders allowed).
        body: Function body (function patterns) with one `@@` line.
        secure: Lines that fill the hole in the secure completion.
        insecure: Lines that fill the hole in the insecure completion.
        args: Function parameters; each arrives from the user in the web/cli/script framings.
        imports: Import lines both completions need (shown in the template).
        secure_imports: Extra imports only the secure completion needs.
        insecure_imports: Extra imports only the insecure completion needs.
        returns: Whether the function returns a value worth printing/serving.
        func: Name of the function.
        verbs: Verbs that vary `$verb` in names.
        framings: Framings this pattern can be written in.
        module: Full-module templates per framing, for patterns that are not one function.
    """

    id: str
    cwe: str
    task: str
    secure: str
    insecure: str
    body: str = ""
    args: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    secure_imports: tuple[str, ...] = ()
    insecure_imports: tuple[str, ...] = ()
    returns: bool = True
    func: str = "${verb}_${noun}"
    verbs: tuple[str, ...] = ("get", "load", "fetch", "read")
    framings: tuple[Framing, ...] = FRAMINGS
    module: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sources = [self.body] if not self.module else list(self.module.values())
        for src in sources:
            if len(_HOLE_LINE.findall(src)) != 1:
                raise ValueError(f"pattern {self.id}: needs exactly one '@@' hole line")
        if self.module and set(self.module) != set(self.framings):
            raise ValueError(f"pattern {self.id}: module templates must match framings")


@dataclass(frozen=True)
class Example:
    """One (pattern, framing, domain, verb) combination; rendered on demand."""

    pattern: Pattern
    framing: Framing
    domain: Domain
    verb: str

    @property
    def key(self) -> str:
        return f"{self.pattern.id}/{self.framing}/{self.domain.noun}/{self.verb}"

    @cached_property
    def _vars(self) -> dict[str, str]:
        d = self.domain
        v = {"noun": d.noun, "plural": d.plural, "field": d.field, "app": d.app,
             "verb": self.verb, "a_noun": _article(d.noun), "Noun": d.noun.capitalize(), "NOUN": d.noun.upper()}
        v["func"] = Template(self.pattern.func).substitute(v)
        return v

    def sub(self, text: str) -> str:
        return Template(text).substitute(self._vars)

    @cached_property
    def task(self) -> str:
        """Task description (no template), e.g. 'A Flask endpoint for a billing tool that ...'."""
        what = self.sub(self.pattern.task)
        phrase = _FRAMING_PHRASE[self.framing]
        return f"{phrase[0].upper()}{phrase[1:]} for {self.domain.app} that {what}."

    @cached_property
    def _skeleton(self) -> tuple[list[str], str]:
        """(shared imports, code with the `@@` hole) for this framing."""
        p = self.pattern
        if p.module:
            return list(p.imports), self.sub(p.module[self.framing])
        return _wrap_function(self)

    def _render(self, fill: str | None, extra: tuple[str, ...]) -> str:
        imports, code = self._skeleton
        indent = _HOLE_LINE.search(code).group(1)  # type: ignore[union-attr]
        if fill is None:
            lines = indent + HOLE
        else:
            lines = "\n".join(indent + ln if ln else ln for ln in self.sub(fill).split("\n"))
        code = _HOLE_LINE.sub(lambda _: lines, code, count=1)
        block = "\n".join(sorted(set(imports) | set(extra), key=_import_key))
        if not block:
            return code.strip("\n")
        gap = "\n\n\n" if code.startswith(("def ", "@", "class ")) else "\n\n"
        return f"{block}{gap}{code}".strip("\n")

    @cached_property
    def template(self) -> str:
        """The code template the user sees, with `## COMPLETE CODE HERE`."""
        return self._render(None, ())

    @cached_property
    def insecure(self) -> str:
        return self._render(self.pattern.insecure, self.pattern.insecure_imports)

    @cached_property
    def secure(self) -> str:
        return self._render(self.pattern.secure, self.pattern.secure_imports)


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _import_key(line: str) -> tuple[int, str]:
    # plain `import x` first, then `from x import y`, each alphabetical
    return (line.startswith("from "), line)


def _indent(text: str, n: int = 4) -> str:
    pad = " " * n
    return "\n".join(pad + ln if ln.strip() else ln for ln in text.split("\n"))


def _wrap_function(ex: Example) -> tuple[list[str], str]:
    p = ex.pattern
    args = [ex.sub(a) for a in p.args]
    func = ex._vars["func"]
    fn = f"def {func}({', '.join(args)}):\n{_indent(ex.sub(p.body))}"
    imports = list(p.imports)
    call = f"{func}({', '.join(args)})"
    if ex.framing == "library":
        return imports, fn
    if ex.framing == "web":
        imports += ["from flask import Flask, request"]
        getters = "".join(f"    {a} = request.args.get(\"{a}\", \"\")\n" for a in args)
        tail = f"    return {{\"result\": {call}}}" if p.returns else f"    {call}\n    return \"\", 204"
        route = f"/{ex.domain.plural.replace('_', '-')}/{ex.verb}"
        head = "app = Flask(__name__)\n\n\n"
        return imports, f"{head}{fn}\n\n\n@app.route(\"{route}\")\ndef {ex.verb}_view():\n{getters}{tail}"
    if ex.framing == "cli":
        imports += ["import argparse"]
        adds = "".join(f"    parser.add_argument(\"{a}\")\n" for a in args)
        call_cli = f"{func}({', '.join('args.' + a for a in args)})"
        run = f"    print({call_cli})" if p.returns else f"    {call_cli}"
        main = (f"def main():\n    parser = argparse.ArgumentParser()\n{adds}"
                f"    args = parser.parse_args()\n{run}\n\n\nif __name__ == \"__main__\":\n    main()")
        return imports, f"{fn}\n\n\n{main}"
    # script: values typed in at a prompt
    reads = "".join(f"{a} = input(\"{a.replace('_', ' ')}: \")\n" for a in args)
    run = f"print({call})" if p.returns else call
    return imports, f"{fn}\n\n\n{reads}{run}"
