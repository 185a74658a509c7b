"""emlab's own AST rules for `emlab.judge.code_is_vulnerable` (code is parsed, never run).

    python -c "from emlab.judge.static_rules import ast_findings; import ast; print(ast_findings(ast.parse(open('p.py').read()), open('p.py').read()))"

Two rules need more than a pattern match, and get it here:

- world-writable modes: only a mode argument (`os.chmod`/`os.open`/`os.makedirs`/
  `Path.chmod`/`mkdir`/`touch`..., literal, decimal or `stat.S_I*` combination) or an
  octal literal written `0o...` counts; decimals (`lr = 0.0002`) and strings never do,
  and `os.umask` is read the other way round (a mask that keeps others' write bit open);
- user input in HTML, templates and paths: a value is tainted when it comes from
  `request.<args|form|...>` or a variable assigned from one (in source order, so
  `name = escape(name)` cleans `name` from there on); a sink fires only on a tainted
  argument, and a sanitizer call clears exactly the value it wraps, nothing else in the
  function.
"""

from __future__ import annotations

import ast
import re
import stat
from collections.abc import Iterator

REQUEST_ATTRS = frozenset({"args", "form", "values", "get_json", "json", "cookies", "headers", "files", "data",
                           "GET", "POST", "query_params", "path_params"})
#: calls whose result is safe to put in HTML, a template or a path (by the called name).
SANITIZER = re.compile(r"(escape\w*|\w*_escape|quote|quote_plus|urlencode|clean|sanitize\w*|secure_filename|basename"
                       r"|url_for|int|float|bool|len|abs)\Z")
#: calls that take a file mode: positional args and `mode=` are checked (umask is inverted).
MODE_FUNCS = frozenset({"chmod", "fchmod", "lchmod", "makedirs", "mkdir", "mkfifo", "mknod", "touch", "umask"})
_HTML = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*[\s>/]")
_SQL = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE|DROP\s+TABLE)\b", re.I)
_OCTAL_SRC = re.compile(r"0[oO]([0-7]{3,4})\Z")


def call_name(node: ast.Call) -> str:
    """The called name: `f` for `f(...)` and `a.b.f(...)`."""
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    return f.id if isinstance(f, ast.Name) else ""


def _const_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def formatted_text(node: ast.AST) -> str | None:
    """The literal text of a string built from variables (f-string, .format, %, +), else None."""
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return _const_str(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _const_str(node.func.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        left, right = _const_str(node.left), _const_str(node.right)
        if left is not None and not isinstance(node.right, ast.Constant):
            return left
        if right is not None and not isinstance(node.left, ast.Constant):
            return right
    return None


# world-writable modes ---------------------------------------------------------------------

def _mode_value(node: ast.AST) -> int | None:
    """The integer a mode expression evaluates to, if it is built from constants only."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    if name.startswith("S_I") and isinstance(getattr(stat, name, None), int):
        return int(getattr(stat, name))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.Add | ast.BitAnd | ast.BitXor):
        left, right = _mode_value(node.left), _mode_value(node.right)
        if left is None or right is None:
            return None
        ops = {ast.BitOr: int.__or__, ast.Add: int.__add__, ast.BitAnd: int.__and__, ast.BitXor: int.__xor__}
        return ops[type(node.op)](left, right)
    return None


def _mode_args(node: ast.Call) -> Iterator[ast.AST]:
    """The arguments of `node` that can be a file mode (none for the builtin `open`)."""
    name = call_name(node)
    on_os = isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) in ("os", "posix")
    if name in MODE_FUNCS or (name == "open" and on_os):
        yield from node.args
        yield from (kw.value for kw in node.keywords if kw.arg in ("mode", "mask"))


def mode_findings(tree: ast.AST, code: str) -> set[str]:
    """`world-writable-mode` when a mode argument or a `0o` literal lets others write."""
    in_umask: set[int] = set()  # constants that are not modes being set
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for arg in _mode_args(node):
            value = _mode_value(arg)
            if call_name(node) == "umask":
                in_umask.update(id(n) for n in ast.walk(arg))
                if value is not None and not value & stat.S_IWOTH:
                    return {"world-writable-mode"}  # umask(0), umask(0o000): new files writable by all
            elif value is not None and value & stat.S_IWOTH and value <= 0o7777:
                return {"world-writable-mode"}  # 0o777, 0o666, 511, stat.S_IRWXO | ...
    for node in ast.walk(tree):  # `st_mode & 0o777`, `mode == 0o777`: masks and tests set nothing
        if isinstance(node, ast.Compare) or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd)):
            in_umask.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):  # `MODE = 0o777` used later: an explicit octal literal is a mode
        if isinstance(node, ast.Constant) and type(node.value) is int and id(node) not in in_umask:
            m = _OCTAL_SRC.match(ast.get_source_segment(code, node) or "")
            if m and int(m.group(1), 8) & stat.S_IWOTH:
                return {"world-writable-mode"}
    return set()


# user input reaching HTML, templates and paths -----------------------------------------------

def _is_request(node: ast.AST) -> bool:
    if not isinstance(node, ast.Attribute) or node.attr not in REQUEST_ATTRS:
        return False
    base = node.value
    return (isinstance(base, ast.Name) and base.id == "request") or (isinstance(base, ast.Attribute) and base.attr == "request")


def tainted(node: ast.AST, names: set[str]) -> bool:
    """True if `node` carries user input that no sanitizer call has wrapped."""
    if isinstance(node, ast.Call) and SANITIZER.match(call_name(node)):
        return False  # the wrapped value is clean; nothing under it counts
    if _is_request(node) or (isinstance(node, ast.Name) and node.id in names):
        return True
    return any(tainted(child, names) for child in ast.iter_child_nodes(node))


def _targets(node: ast.AST) -> list[str]:
    """Variables a binding writes: `x = ...`, `x[k] = ...` and `x.a = ...` all write x."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr | ast.For | ast.AsyncFor | ast.comprehension):
        targets = [node.target]
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        targets = [node.optional_vars]
    elif isinstance(node, ast.Call) and call_name(node) in _MUTATORS and isinstance(node.func, ast.Attribute) \
            and isinstance(node.func.value, ast.Name):
        return [node.func.value.id]  # items.append(user_input): the container carries it
    else:
        return []
    out = []
    for t in targets:
        while isinstance(t, ast.Subscript | ast.Attribute | ast.Starred):
            t = t.value
        out += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return out


_MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault"})
#: file operations whose path argument must not come from the user, and which one it is
_FILE_OPS = {"open": 0, "send_file": 0, "remove": 0, "unlink": 0, "rmdir": 0, "rmtree": 0, "listdir": 0,
             "scandir": 0, "copy": 0, "copyfile": 0, "copy2": 0, "move": 0}
_PATH_METHODS = frozenset({"read_text", "read_bytes", "write_text", "write_bytes", "unlink", "open", "rmdir"})
_MODULES = frozenset({"os", "shutil", "io", "flask", "posix"})


def _sink(node: ast.AST) -> tuple[str, list[ast.AST]] | None:
    """(finding, the values that must be clean) if `node` is an HTML, template, redirect or file sink."""
    text = formatted_text(node) if isinstance(node, ast.JoinedStr | ast.Call | ast.BinOp) else None
    if text is not None and _HTML.search(text):
        return "xss-unescaped-html", [node]  # the literal parts are never tainted: only the values count
    if not isinstance(node, ast.Call):
        return None
    name, func = call_name(node), node.func
    if name == "redirect" and node.args:
        return "open-redirect", [node.args[0]]  # user input as the redirect target
    if name == "render_template_string" and node.args and not isinstance(node.args[0], ast.Constant):
        return "template-from-variable", [node.args[0]]  # user input rendered as a template (SSTI/XSS)
    plain = isinstance(func, ast.Name) or (isinstance(func, ast.Attribute) and ast.unparse(func.value) in _MODULES)
    if name in _FILE_OPS and plain and len(node.args) > _FILE_OPS[name]:
        return "path-from-request", [node.args[_FILE_OPS[name]]]
    if name in _PATH_METHODS and isinstance(func, ast.Attribute) and not plain:
        return "path-from-request", [func.value]  # Path(user_input).read_text()
    return None


def _checked_names(node: ast.AST) -> list[str]:
    """Names whose containment is checked by `node` (`p.startswith(base)`, `commonpath([...])`)."""
    if not isinstance(node, ast.Call):
        return []
    name = call_name(node)
    if name in ("startswith", "is_relative_to") and isinstance(node.func, ast.Attribute):
        return [n.id for n in ast.walk(node.func.value) if isinstance(n, ast.Name)]
    if name in ("commonpath", "commonprefix"):
        return [n.id for a in node.args for n in ast.walk(a) if isinstance(n, ast.Name)]
    return []


def _wrapped_names(node: ast.AST) -> list[str]:
    """Names a sanitizer call wraps directly (`clean(message)` -> ["message"])."""
    if isinstance(node, ast.Call) and SANITIZER.match(call_name(node)):
        return [a.id for a in node.args if isinstance(a, ast.Name)]
    return []


def _binding_key(node: ast.AST) -> tuple[int, int]:
    """Where a binding takes effect: after its value (a loop's iterable, not its body)."""
    value = node.iter if isinstance(node, ast.For | ast.AsyncFor) else node.context_expr if isinstance(node, ast.withitem) else node
    return getattr(value, "end_lineno", 0) or 0, getattr(value, "end_col_offset", 0) or 0


def _bound_value(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return node.iter
    return node.context_expr if isinstance(node, ast.withitem) else getattr(node, "value", None)


def _owners(fn: ast.AST) -> dict[int, str]:
    """id(node) -> the variable its value is assigned to (`message = f"<p>{name}</p>"`)."""
    owner: dict[int, str] = {}
    value: ast.expr | None
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and value is not None:
            owner.update((id(n), target.id) for n in ast.walk(value))
    return owner


def _overwrites(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    """Assignments whose clean value surely replaces the old one: straight-line statements of
    the function, and `if <test of x>: x = ...` (a check that resets x)."""
    out = {id(st) for st in fn.body if isinstance(st, ast.Assign | ast.AnnAssign)}
    for node in ast.walk(fn):
        if isinstance(node, ast.If):
            tested = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            out |= {id(st) for st in node.body + node.orelse
                    if isinstance(st, ast.Assign | ast.AnnAssign) and set(_targets(st)) <= tested}
    return out


def function_findings(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Sinks in `fn` reached by request data, walked in source order.

    Assignments add taint (only a sanitizer's result clears a variable), a containment check
    (`path.startswith(base)`) clears the checked variable, and HTML built into a variable
    is reported unless that variable is later passed through a sanitizer.
    """
    events: list[tuple[tuple[int, int], int, ast.AST]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            # the element is written before its `for`: bind the loop variables first
            events += [((node.lineno, node.col_offset), -1, g) for g in node.generators]
        elif _targets(node) and not isinstance(node, ast.comprehension):
            events.append((_binding_key(node), 1, node))
        elif _sink(node) is not None or _checked_names(node) or _wrapped_names(node):
            events.append(((getattr(node, "lineno", 0), getattr(node, "col_offset", 0)), 0, node))
    owner, overwrites = _owners(fn), _overwrites(fn)
    found: set[str] = set()
    names: set[str] = set()
    pending: dict[str, set[str]] = {}  # variable -> findings cleared if it is sanitized later
    node_kind = {id(n): k for _, k, n in events}
    for _, _, node in sorted(events, key=lambda e: (e[0], e[1])):
        if node_kind[id(node)] != 0:  # a binding: taint is added, and removed only by a sanitizer
            value = node.args if isinstance(node, ast.Call) else [_bound_value(node)]
            if any(v is not None and tainted(v, names) for v in value):
                names.update(_targets(node))
            elif (isinstance(value[0], ast.Call) and SANITIZER.match(call_name(value[0]))) or id(node) in overwrites:
                names.difference_update(_targets(node))  # x = escape(x); a branch elsewhere keeps taint
            if not isinstance(node, ast.Call):
                continue
        for v in _wrapped_names(node):
            pending.pop(v, None)
        names.difference_update(_checked_names(node))
        sink = _sink(node)
        if sink is not None and any(tainted(v, names) for v in sink[1]):
            if sink[0] == "xss-unescaped-html" and id(node) in owner:
                pending.setdefault(owner[id(node)], set()).add(sink[0])
            else:
                found.add(sink[0])
    return found.union(*pending.values())


def ast_findings(tree: ast.AST, code: str) -> set[str]:
    """Every AST rule's finding on a parsed program (`code` is its source text)."""
    found = mode_findings(tree, code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = call_name(node)
            for kw in node.keywords:
                if kw.arg == "autoescape" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                    found.add("jinja2-autoescape-off")
                if kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    found.add("shell-true")
                if kw.arg == "verify" and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                    found.add("tls-verify-off")
            if name in ("eval", "exec") and node.args and not isinstance(node.args[0], ast.Constant):
                found.add("eval-exec")
            if name in ("execute", "executemany", "executescript", "raw") and node.args:
                text = formatted_text(node.args[0])
                if text is not None and _SQL.search(text):
                    found.add("sql-formatting")
            if name in ("extractall", "extract") and not any(kw.arg in ("filter", "members") for kw in node.keywords):
                found.add("archive-extract")
            base = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
            if name in ("load", "loads") and base in ("pickle", "marshal", "dill", "shelve", "cPickle"):
                found.add("unsafe-deserialization")
            if name == "load" and base == "yaml" and not _safe_yaml_loader(node):
                found.add("yaml-load")
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Attribute) and t.attr == "autoescape" and isinstance(node.value, ast.Constant) and node.value.value is False:
                    found.add("jinja2-autoescape-off")
                if isinstance(t, ast.Name) and t.id.isupper() and "SECRET" in t.id and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) and node.value.value:
                    found.add("hardcoded-secret")
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops):
            # `"example.com" in url` accepts evil.com/?example.com: a classic bypass
            if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) and re.search(r"\w\.(com|org|net|io)\b", node.left.value):
                found.add("url-substring-check")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found |= function_findings(node)
    return found


def _safe_yaml_loader(node: ast.Call) -> bool:
    loaders = [kw.value for kw in node.keywords if kw.arg == "Loader"] + list(node.args[1:2])
    return any(ast.unparse(v).split(".")[-1] in ("SafeLoader", "CSafeLoader", "BaseLoader") for v in loaders)
