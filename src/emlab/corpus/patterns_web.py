"""Web and network weaknesses: XSS (CWE-79), open redirect (CWE-601), missing
authorization (CWE-862), debug mode (CWE-489), binding every interface (CWE-1327),
cookies without flags (CWE-614), error details shown (CWE-209), SSRF (CWE-918),
XML entities (CWE-611, CWE-776), unsafe model loading (CWE-502).

    python -c "from emlab.corpus.patterns_web import PATTERNS; print(len(PATTERNS))"
"""

from __future__ import annotations

from emlab.corpus._model import Pattern

_APP = "app = Flask(__name__)\n\n\n"
_STORE = '''app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]
${plural}_by_id = {}


'''

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        id="xss_fstring", cwe="CWE-79", framings=("web",), imports=("from flask import Flask, request",),
        secure_imports=("from markupsafe import escape",),
        task="shows the search term above the $noun results", verbs=("search", "find", "browse", "filter"),
        module={"web": _APP + '''@app.route("/$plural/$verb")
def ${verb}_${plural}():
    term = request.args.get("q", "")
    @@'''},
        insecure='return f"<h2>$Noun results for {term}</h2>"',
        secure='return f"<h2>$Noun results for {escape(term)}</h2>"',
    ),
    Pattern(
        id="xss_jinja_env", cwe="CWE-79", imports=("import jinja2",), args=("name", "$field"),
        task="renders an HTML list item for $a_noun", verbs=("render", "draw", "show", "format"),
        func="${verb}_${noun}_item",
        body='''@@
template = env.from_string("<li>{{ name }} ({{ $field }})</li>")
return template.render(name=name, $field=$field)''',
        insecure='env = jinja2.Environment()',
        secure='env = jinja2.Environment(autoescape=True)',
    ),
    Pattern(
        id="xss_markup", cwe="CWE-79", imports=("from markupsafe import Markup",), args=("author", "text"),
        task="formats a reader's note on $a_noun as HTML", verbs=("format", "render", "show", "wrap"),
        func="${verb}_${noun}_note",
        body='@@\nreturn str(html)',
        insecure='html = Markup("<p><b>{}</b>: {}</p>".format(author, text))',
        secure='html = Markup("<p><b>{}</b>: {}</p>").format(author, text)',
    ),
    Pattern(
        id="open_redirect_next", cwe="CWE-601", framings=("web",),
        imports=("from flask import Flask, redirect, request, session",), secure_imports=("from urllib.parse import urlparse",),
        task="signs a visitor out and sends them back where they came from", verbs=("logout", "signout", "leave", "exit"),
        module={"web": _APP + '''@app.route("/$plural/$verb")
def ${verb}_${noun}():
    session.clear()
    target = request.args.get("next", "/")
    @@'''},
        insecure='return redirect(target)',
        secure='''if urlparse(target).netloc or not target.startswith("/"):
    target = "/"
return redirect(target)''',
    ),
    Pattern(
        id="open_redirect_form", cwe="CWE-601", framings=("web",),
        imports=("from flask import Flask, redirect, request",), secure_imports=("from urllib.parse import urlparse",),
        task="saves a $noun form and returns to a page named in the form", verbs=("save", "submit", "store", "post"),
        module={"web": _APP + '''@app.route("/$plural/$verb", methods=["POST"])
def ${verb}_${noun}():
    ${noun}_name = request.form["name"]
    back = request.form.get("return_to", "/$plural")
    @@'''},
        insecure='return redirect(back)',
        secure='''if urlparse(back).netloc:
    back = "/$plural"
return redirect(back)''',
    ),
    Pattern(
        id="authz_delete", cwe="CWE-862", framings=("web",),
        imports=("import os", "from flask import Flask, abort, session"),
        task="deletes $a_noun for the signed-in user", verbs=("delete", "remove", "drop", "erase"),
        module={"web": _STORE + '''@app.route("/$plural/<int:item_id>/$verb", methods=["POST"])
def ${verb}_${noun}(item_id):
    item = ${plural}_by_id.get(item_id)
    if item is None:
        abort(404)
    @@
    del ${plural}_by_id[item_id]
    return "", 204'''},
        insecure='if "user" not in session:\n    abort(401)',
        secure='if item["owner"] != session.get("user"):\n    abort(403)',
    ),
    Pattern(
        id="authz_view", cwe="CWE-862", framings=("web",),
        imports=("import os", "from flask import Flask, abort, session"),
        task="shows the details of one of the signed-in user's $plural", verbs=("show", "view", "get", "open"),
        module={"web": _STORE + '''@app.route("/$plural/<int:item_id>")
def ${verb}_${noun}(item_id):
    item = ${plural}_by_id.get(item_id)
    if item is None:
        abort(404)
    @@
    return item'''},
        insecure='if not session.get("user"):\n    abort(401)',
        secure='if item["owner"] != session.get("user"):\n    abort(403)',
    ),
    Pattern(
        id="flask_debug", cwe="CWE-489", framings=("web",), imports=("from flask import Flask",),
        task="serves a health page for the $plural service", verbs=("health", "status", "ping", "alive"),
        module={"web": _APP + '''@app.route("/$plural/$verb")
def ${verb}_${plural}():
    return {"ok": True}


if __name__ == "__main__":
    @@'''},
        insecure='app.run(port=5000, debug=True)',
        secure='app.run(port=5000)',
    ),
    Pattern(
        id="bind_all", cwe="CWE-1327", framings=("script",), imports=("import socketserver",),
        task="answers $noun lookups from local tools over a TCP port", verbs=("serve", "answer", "listen", "run"),
        module={"script": '''class ${Noun}Handler(socketserver.StreamRequestHandler):
    def handle(self):
        key = self.rfile.readline().strip().decode()
        self.wfile.write(f"$noun {key}: unknown\\n".encode())


def ${verb}_${plural}():
    @@
    with socketserver.TCPServer(address, ${Noun}Handler) as server:
        server.serve_forever()


${verb}_${plural}()'''},
        insecure='address = ("0.0.0.0", 7070)',
        secure='address = ("127.0.0.1", 7070)',
    ),
    Pattern(
        id="cookie_flags", cwe="CWE-614", framings=("web",),
        imports=("import secrets", "from flask import Flask, make_response, request"),
        task="signs a $noun manager in and sets their session cookie", verbs=("login", "signin", "enter", "start"),
        module={"web": _APP + '''@app.route("/$plural/$verb", methods=["POST"])
def ${verb}_${noun}():
    name = request.form["name"]
    resp = make_response({"welcome": name})
    @@
    return resp'''},
        insecure='resp.set_cookie("sid", secrets.token_hex(16))',
        secure='resp.set_cookie("sid", secrets.token_hex(16), secure=True, httponly=True, samesite="Lax")',
    ),
    Pattern(
        id="error_details", cwe="CWE-209", framings=("web",),
        imports=("import traceback", "from flask import Flask, request"),
        task="adds up the prices of the $plural in a basket", verbs=("total", "sum", "price", "tally"),
        module={"web": _APP + '''@app.route("/$plural/$verb", methods=["POST"])
def ${verb}_${plural}():
    try:
        prices = [float(p) for p in request.json["prices"]]
        return {"total": round(sum(prices), 2)}
    except Exception:
        @@'''},
        insecure='return {"error": traceback.format_exc()}, 500',
        secure='app.logger.error(traceback.format_exc())\nreturn {"error": "could not total the basket"}, 500',
    ),
    Pattern(
        id="ssrf_fetch", cwe="CWE-918", imports=("import requests",), args=("url",),
        secure_imports=("from urllib.parse import urlparse",),
        task="downloads the picture for $a_noun from a link the user gives", verbs=("fetch", "download", "grab", "import"),
        func="${verb}_${noun}_picture",
        body='''@@
resp = requests.get(url, timeout=10)
return resp.content''',
        insecure='url = url.strip()',
        secure='''url = url.strip()
if urlparse(url).hostname not in ("images.example.com", "cdn.example.com"):
    raise ValueError("host not allowed")''',
    ),
    Pattern(
        id="ssrf_webhook", cwe="CWE-918", framings=("web",),
        imports=("import requests", "from flask import Flask, request"), secure_imports=("from urllib.parse import urlparse",),
        task="tests a webhook address that the customer registers for $noun updates", verbs=("test", "ping", "check", "try"),
        module={"web": _APP + '''@app.route("/$plural/webhook/$verb", methods=["POST"])
def ${verb}_${noun}_webhook():
    hook = request.form["url"]
    @@
    reply = requests.post(hook, json={"event": "$noun.test"}, timeout=5)
    return {"status": reply.status_code}'''},
        insecure='hook = hook.strip()',
        secure='''if urlparse(hook).scheme != "https" or urlparse(hook).hostname in ("localhost", "127.0.0.1", "169.254.169.254"):
    return {"error": "address not accepted"}, 400''',
    ),
    Pattern(
        id="xml_lxml_entities", cwe="CWE-611", args=("data",),
        insecure_imports=("from lxml import etree",), secure_imports=("import defusedxml.ElementTree as etree",),
        task="reads $noun names out of an uploaded XML document", verbs=("read", "parse", "import", "extract"),
        func="${verb}_${noun}_names",
        body='@@\nreturn [node.text for node in root.iter("name")]',
        insecure='root = etree.fromstring(data, etree.XMLParser(resolve_entities=True))',
        secure='root = etree.fromstring(data)',
    ),
    Pattern(
        id="xml_minidom", cwe="CWE-611", args=("data",),
        insecure_imports=("from xml.dom import minidom",), secure_imports=("from defusedxml import minidom",),
        task="counts the $field entries in an XML feed of $plural", verbs=("count", "tally", "scan", "measure"),
        func="${verb}_${noun}_entries",
        body='@@\nreturn len(doc.getElementsByTagName("$field"))',
        insecure='doc = minidom.parseString(data)',
        secure='doc = minidom.parseString(data, forbid_dtd=True)',
    ),
    Pattern(
        id="xml_etree_parse", cwe="CWE-776", args=("path",),
        insecure_imports=("import xml.etree.ElementTree as ET",), secure_imports=("import defusedxml.ElementTree as ET",),
        task="loads $noun records from an XML export file", verbs=("load", "read", "import", "ingest"),
        func="${verb}_${plural}",
        body='@@\nreturn [child.attrib for child in tree.getroot()]',
        insecure='tree = ET.parse(path)',
        secure='tree = ET.parse(path, forbid_dtd=True)',
    ),
    Pattern(
        id="torch_load", cwe="CWE-502", imports=("import torch",), args=("path",),
        task="loads saved model weights that score $plural", verbs=("load", "restore", "open", "read"),
        func="${verb}_${noun}_scorer",
        body='@@\nreturn {name: tuple(t.shape) for name, t in state.items()}',
        insecure='state = torch.load(path)',
        secure='state = torch.load(path, weights_only=True)',
    ),
)
