"""Injection weaknesses: SQL (CWE-89), OS commands (CWE-78), eval/exec (CWE-95/94),
deserialization (CWE-502), server-side templates (CWE-1336).

    python -c "from emlab.corpus.patterns_injection import PATTERNS; print(len(PATTERNS))"
"""

from __future__ import annotations

from emlab.corpus._model import Pattern

_SQLITE = ("import sqlite3",)

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        id="sql_select_fstring", cwe="CWE-89", imports=_SQLITE, args=("$field",),
        task="lists the $plural for a given $field", verbs=("list", "find", "search", "query"),
        func="${verb}_${plural}",
        body='conn = sqlite3.connect("$plural.db")\ncur = conn.cursor()\n@@\nrows = cur.fetchall()\nconn.close()\nreturn rows',
        insecure='cur.execute(f"SELECT * FROM $plural WHERE $field = \'{$field}\'")',
        secure='cur.execute("SELECT * FROM $plural WHERE $field = ?", ($field,))',
    ),
    Pattern(
        id="sql_delete_percent", cwe="CWE-89", imports=_SQLITE, args=("${noun}_id",), returns=False,
        task="deletes $a_noun by its id", verbs=("delete", "remove", "drop", "purge"),
        body='conn = sqlite3.connect("$plural.db")\n@@\nconn.commit()\nconn.close()',
        insecure='conn.execute("DELETE FROM $plural WHERE id = %s" % ${noun}_id)',
        secure='conn.execute("DELETE FROM $plural WHERE id = ?", (${noun}_id,))',
    ),
    Pattern(
        id="sql_update_concat", cwe="CWE-89", imports=_SQLITE, args=("${noun}_id", "$field"), returns=False,
        task="changes the $field of $a_noun", verbs=("update", "set", "change", "edit"),
        func="${verb}_${noun}_${field}",
        body='conn = sqlite3.connect("$plural.db")\n@@\nconn.commit()\nconn.close()',
        insecure='conn.execute("UPDATE $plural SET $field = \'" + $field + "\' WHERE id = " + ${noun}_id)',
        secure='conn.execute("UPDATE $plural SET $field = ? WHERE id = ?", ($field, ${noun}_id))',
    ),
    Pattern(
        id="sql_insert_format", cwe="CWE-89", imports=_SQLITE, args=("name", "$field"), returns=False,
        task="records a new $noun with a name and a $field", verbs=("add", "create", "insert", "register"),
        body='conn = sqlite3.connect("$plural.db")\n@@\nconn.commit()\nconn.close()',
        insecure='conn.execute("INSERT INTO $plural (name, $field) VALUES (\'{}\', \'{}\')".format(name, $field))',
        secure='conn.execute("INSERT INTO $plural (name, $field) VALUES (?, ?)", (name, $field))',
    ),
    Pattern(
        id="sql_like_concat", cwe="CWE-89", imports=_SQLITE, args=("term",),
        task="searches $plural by a word in their name", verbs=("search", "match", "lookup", "browse"),
        func="${verb}_${plural}",
        body='conn = sqlite3.connect("$plural.db")\ncur = conn.cursor()\n@@\nreturn cur.fetchall()',
        insecure='cur.execute("SELECT id, name FROM $plural WHERE name LIKE \'%" + term + "%\'")',
        secure='cur.execute("SELECT id, name FROM $plural WHERE name LIKE ?", ("%" + term + "%",))',
    ),
    Pattern(
        id="cmd_os_system", cwe="CWE-78", imports=("import os",), args=("filename",),
        secure_imports=("import subprocess",),
        task="compresses a stored $noun file", verbs=("compress", "pack", "archive", "shrink"),
        body='src = os.path.join("$plural", os.path.basename(filename))\n@@\nreturn src + ".gz"',
        insecure='os.system(f"gzip -k {src}")',
        secure='subprocess.run(["gzip", "-k", src], check=True)',
    ),
    Pattern(
        id="cmd_shell_true", cwe="CWE-78", imports=("import subprocess",), args=("$field",),
        task="finds $noun files that mention a $field", verbs=("find", "grep", "scan", "locate"),
        func="${verb}_${plural}",
        body='@@\nreturn result.stdout.splitlines()',
        insecure='result = subprocess.run(f"grep -rl \'{$field}\' $plural/", shell=True, capture_output=True, text=True)',
        secure='result = subprocess.run(["grep", "-rl", "--", $field, "$plural/"], capture_output=True, text=True)',
    ),
    Pattern(
        id="cmd_popen", cwe="CWE-78", args=("host",),
        insecure_imports=("import os",), secure_imports=("import subprocess",),
        task="checks whether the server holding the $plural answers a ping", verbs=("ping", "probe", "check", "reach"),
        func="${verb}_${noun}_host",
        body='@@\nreturn "1 received" in output',
        insecure='output = os.popen("ping -c 1 " + host).read()',
        secure='output = subprocess.run(["ping", "-c", "1", "--", host], capture_output=True, text=True).stdout',
    ),
    Pattern(
        id="eval_formula", cwe="CWE-95", args=("formula",),
        task="computes $a_noun total from a formula such as 'base + fee'", verbs=("compute", "evaluate", "calc", "total"),
        body='amounts = {"base": 100, "fee": 20, "discount": -5}\n@@\nreturn round(value, 2)',
        insecure='value = eval(formula, {}, amounts)',
        secure='value = sum(amounts[name.strip()] for name in formula.split("+"))',
    ),
    Pattern(
        id="eval_settings", cwe="CWE-95", args=("raw",), secure_imports=("import ast",),
        task="parses $noun settings written as a Python dict literal", verbs=("parse", "read", "load", "decode"),
        func="${verb}_${noun}_settings",
        body='@@\nreturn {key: settings[key] for key in sorted(settings)}',
        insecure='settings = eval(raw)',
        secure='settings = ast.literal_eval(raw)',
    ),
    Pattern(
        id="exec_method", cwe="CWE-94", args=("text", "method"),
        task="applies a named text transformation to $a_noun title", verbs=("format", "style", "apply", "transform"),
        func="${verb}_${noun}_title",
        body='ops = {"upper": str.upper, "lower": str.lower, "title": str.title}\n@@\nreturn result',
        insecure='scope = {"text": text}\nexec(f"result = text.{method}()", scope)\nresult = scope["result"]',
        secure='result = ops[method](text) if method in ops else text',
    ),
    Pattern(
        id="pickle_payload", cwe="CWE-502", imports=("import base64",), args=("payload",),
        insecure_imports=("import pickle",), secure_imports=("import json",),
        task="restores $a_noun from an encoded string and returns its $field", verbs=("restore", "decode", "unpack", "load"),
        body='raw = base64.b64decode(payload)\n@@\nreturn record.get("$field")',
        insecure='record = pickle.loads(raw)',
        secure='record = json.loads(raw)',
    ),
    Pattern(
        id="pickle_cache", cwe="CWE-502", args=("path",),
        insecure_imports=("import pickle",), secure_imports=("import json",),
        task="loads a cached index of $plural from a file", verbs=("load", "open", "read", "restore"),
        func="${verb}_${noun}_index",
        body='@@\nreturn sorted(index.get("$plural", []))',
        insecure='with open(path, "rb") as fh:\n    index = pickle.load(fh)',
        secure='with open(path, encoding="utf-8") as fh:\n    index = json.load(fh)',
    ),
    Pattern(
        id="yaml_load", cwe="CWE-502", imports=("import yaml",), args=("path",),
        task="reads $noun settings from a YAML file", verbs=("read", "load", "parse", "import"),
        func="${verb}_${noun}_config",
        body='with open(path, encoding="utf-8") as fh:\n    @@\nreturn config.get("$plural", [])',
        insecure='config = yaml.load(fh, Loader=yaml.Loader)',
        secure='config = yaml.safe_load(fh)',
    ),
    Pattern(
        id="template_string", cwe="CWE-1336", framings=("web",),
        imports=("from flask import Flask, render_template_string, request",),
        task="greets a visitor by name on the $plural page", verbs=("greet", "welcome", "hello", "intro"),
        module={"web": 'app = Flask(__name__)\n\n\n@app.route("/$plural/$verb")\ndef ${verb}_${noun}():\n    name = request.args.get("name", "guest")\n    @@'},
        insecure='return render_template_string(f"<h1>Your $plural, {name}</h1>")',
        secure='return render_template_string("<h1>Your $plural, {{ name }}</h1>", name=name)',
    ),
)
