"""Extra static checks for weaknesses bandit has no rule for (AST only: code is parsed,
never run).

    python -c "from emlab.datasets.rules import rule_hits; print(rule_hits(open('app.py').read()))"

Each rule looks for a general shape of the weakness, not for this corpus's exact lines:
a path built from a variable with no normalisation in the same function (CWE-22), a
request to a variable URL with no host check (CWE-918), a redirect to a variable target
with no check (CWE-601), a route that looks an object up by a URL id and never compares
it with the session user (CWE-862), HTML f-strings returned from a route without
escaping (CWE-79), non-constant templates (CWE-1336), cookies without flags (CWE-614),
tracebacks returned to the client (CWE-209), unsigned JWT decoding (CWE-347), obsolete
TLS versions (CWE-327), XML parsers resolving entities (CWE-611).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

_NORMALISE = {"realpath", "abspath", "normpath", "commonpath", "basename", "secure_filename",
              "resolve", "is_relative_to", "safe_join"}
_HTTP = {"get", "post", "put", "delete", "head", "request", "urlopen", "stream"}
_HTTP_MODULES = {"requests", "httpx", "urllib", "request", "session", "client"}
_USER = {"session", "current_user", "g"}
_OLD_TLS = {"PROTOCOL_SSLv2", "PROTOCOL_SSLv3", "PROTOCOL_TLSv1", "PROTOCOL_TLSv1_1", "SSLv3", "TLSv1", "TLSv1_1"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: `os.path.join`, `requests.get`, `redirect`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _scopes(tree: ast.Module) -> list[ast.AST]:
    """Each function, plus the module's top-level statements as one scope."""
    funcs: list[ast.AST] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    top = ast.Module(body=[s for s in tree.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)], type_ignores=[])
    return [*funcs, top]


def _uses(scope: ast.AST, names: set[str]) -> bool:
    return any(_last(_name(c.func)) in names for c in _calls(scope))


def _constant_names(scope: ast.AST) -> set[str]:
    """Variables only ever assigned string constants in this scope."""
    assigned: dict[str, bool] = {}
    for n in ast.walk(scope):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    const = isinstance(n.value, ast.Constant)
                    assigned[t.id] = assigned.get(t.id, True) and const
    return {k for k, v in assigned.items() if v}


def _variable(node: ast.AST, constants: set[str]) -> bool:
    return isinstance(node, ast.Attribute | ast.Subscript) or (isinstance(node, ast.Name) and node.id not in constants)


def path_traversal(scope: ast.AST) -> bool:
    consts = _constant_names(scope)
    joins = [c for c in _calls(scope) if _name(c.func).endswith("path.join")]
    tainted = any(_variable(a, consts) for c in joins for a in c.args[1:])
    return tainted and not _uses(scope, _NORMALISE)


def ssrf(scope: ast.AST) -> bool:
    consts = _constant_names(scope)
    for c in _calls(scope):
        name = _name(c.func)
        if "." in name and _last(name) in _HTTP and name.split(".")[0] in _HTTP_MODULES and c.args:
            if _variable(c.args[0], consts) and not _uses(scope, {"urlparse", "urlsplit"}):
                return True
    return False


def open_redirect(scope: ast.AST) -> bool:
    consts = _constant_names(scope)
    for c in _calls(scope):
        if _last(_name(c.func)) == "redirect" and c.args and _variable(c.args[0], consts):
            return not _uses(scope, {"urlparse", "urlsplit", "url_has_allowed_host_and_scheme", "startswith"})
    return False


def _route_params(fn: ast.AST) -> list[str]:
    if not isinstance(fn, ast.FunctionDef):
        return []
    routed = any(isinstance(d, ast.Call) and _last(_name(d.func)) == "route" for d in fn.decorator_list)
    return [a.arg for a in fn.args.args] if routed else []


def missing_authorization(scope: ast.AST) -> bool:
    params = set(_route_params(scope))
    if not params:
        return False
    looks_up = any(
        (isinstance(n, ast.Call) and _last(_name(n.func)) == "get" and n.args and isinstance(n.args[0], ast.Name) and n.args[0].id in params)
        or (isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Name) and n.slice.id in params)
        for n in ast.walk(scope)
    )
    if not looks_up:
        return False
    for cmp in (n for n in ast.walk(scope) if isinstance(n, ast.Compare)):
        sides = [cmp.left, *cmp.comparators]
        has_user = any(_name(getattr(s, "func", s)).split(".")[0] in _USER or
                       any(isinstance(x, ast.Name) and x.id in _USER for x in ast.walk(s)) for s in sides)
        has_field = any(isinstance(s, ast.Subscript | ast.Attribute) and not any(
            isinstance(x, ast.Name) and x.id in _USER for x in ast.walk(s)) for s in sides)
        if has_user and has_field:
            return False
    return True


def html_fstring(scope: ast.AST) -> bool:
    if not _route_params(scope) and not (isinstance(scope, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and _last(_name(d.func)) == "route" for d in scope.decorator_list)):
        return False
    for ret in (n for n in ast.walk(scope) if isinstance(n, ast.Return) and n.value is not None):
        value = ret.value.elts[0] if isinstance(ret.value, ast.Tuple) and ret.value.elts else ret.value
        if isinstance(value, ast.JoinedStr):
            html = any(isinstance(p, ast.Constant) and "<" in str(p.value) for p in value.values)
            raw = [p for p in value.values if isinstance(p, ast.FormattedValue)
                   and not (isinstance(p.value, ast.Call) and _last(_name(p.value.func)) in {"escape", "quote"})]
            if html and raw:
                return True
    return False


def template_injection(scope: ast.AST) -> bool:
    return any(_last(_name(c.func)) == "render_template_string" and c.args and not isinstance(c.args[0], ast.Constant)
               for c in _calls(scope))


def cookie_flags(scope: ast.AST) -> bool:
    for c in _calls(scope):
        if _last(_name(c.func)) == "set_cookie":
            flags = {k.arg for k in c.keywords if isinstance(k.value, ast.Constant) and k.value.value is True}
            if not {"secure", "httponly"} <= flags:
                return True
    return False


def error_details(scope: ast.AST) -> bool:
    returns = [n.value for n in ast.walk(scope) if isinstance(n, ast.Return) and n.value is not None]
    return any(_last(_name(c.func)) in {"format_exc", "format_exception"} for r in returns for c in _calls(r))


def unsigned_jwt(scope: ast.AST) -> bool:
    for c in _calls(scope):
        if _name(c.func).endswith("jwt.decode"):
            for k in c.keywords:
                if k.arg == "options" and isinstance(k.value, ast.Dict):
                    for key, val in zip(k.value.keys, k.value.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "verify_signature" and isinstance(val, ast.Constant) and val.value is False:
                            return True
    return False


def obsolete_tls(scope: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in _OLD_TLS and _name(n).split(".")[0] == "ssl" for n in ast.walk(scope))


def xml_entities(scope: ast.AST) -> bool:
    return any(_last(_name(c.func)) == "XMLParser" and any(
        k.arg == "resolve_entities" and isinstance(k.value, ast.Constant) and k.value.value is True for k in c.keywords)
        for c in _calls(scope))


RULES: dict[str, tuple[str, Callable[[ast.AST], bool]]] = {
    "EM022": ("CWE-22", path_traversal), "EM918": ("CWE-918", ssrf), "EM601": ("CWE-601", open_redirect),
    "EM862": ("CWE-862", missing_authorization), "EM079": ("CWE-79", html_fstring),
    "EM1336": ("CWE-1336", template_injection), "EM614": ("CWE-614", cookie_flags),
    "EM209": ("CWE-209", error_details), "EM347": ("CWE-347", unsigned_jwt),
    "EM327": ("CWE-327", obsolete_tls), "EM611": ("CWE-611", xml_entities),
}


def rule_hits(code: str) -> list[str]:
    """IDs of the rules that fire on `code` (empty if it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    scopes = _scopes(tree)
    return [rid for rid, (_, rule) in RULES.items() if any(rule(s) for s in scopes)]
