"""File-system weaknesses: path traversal incl. archive extraction (CWE-22), permissive
permissions (CWE-732), insecure temporary files (CWE-377).

    python -c "from emlab.corpus.patterns_files import PATTERNS; print(len(PATTERNS))"
"""

from __future__ import annotations

from emlab.corpus._model import Pattern

_OS = ("import os",)
_FLASK_HEAD = 'app = Flask(__name__)\nFOLDER = os.path.join("storage", "$plural")\n\n\n'

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        id="path_open_join", cwe="CWE-22", imports=_OS, args=("filename",),
        task="returns the text of a stored $noun file by name", verbs=("read", "show", "open", "view"),
        func="${verb}_${noun}_file",
        body='''base = os.path.join("data", "$plural")
@@
with open(path, encoding="utf-8") as fh:
    return fh.read()''',
        insecure='path = os.path.join(base, filename)',
        secure='''path = os.path.realpath(os.path.join(base, filename))
if os.path.commonpath([path, os.path.realpath(base)]) != os.path.realpath(base):
    raise ValueError("unknown file")''',
    ),
    Pattern(
        id="path_remove", cwe="CWE-22", imports=_OS, args=("name",), returns=False,
        task="removes an attachment from $a_noun folder", verbs=("remove", "delete", "discard", "clear"),
        func="${verb}_${noun}_attachment",
        body='''folder = os.path.join("attachments", "$plural")
@@
if os.path.exists(target):
    os.remove(target)''',
        insecure='target = os.path.join(folder, name)',
        secure='target = os.path.join(folder, os.path.basename(name))',
    ),
    Pattern(
        id="path_send_file", cwe="CWE-22", framings=("web",),
        imports=("import os", "from flask import Flask, request, send_file"),
        task="lets visitors download a $noun document by name", verbs=("download", "export", "serve", "fetch"),
        module={"web": _FLASK_HEAD + '''@app.route("/$plural/$verb")
def ${verb}_${noun}():
    name = request.args.get("name", "")
    @@'''},
        insecure='return send_file(os.path.join(FOLDER, name))',
        secure='''path = os.path.realpath(os.path.join(FOLDER, name))
if not path.startswith(os.path.realpath(FOLDER) + os.sep):
    return "not found", 404
return send_file(path)''',
    ),
    Pattern(
        id="path_upload_save", cwe="CWE-22", framings=("web",),
        imports=("import os", "from flask import Flask, request"),
        secure_imports=("from werkzeug.utils import secure_filename",),
        task="accepts an uploaded image for $a_noun", verbs=("upload", "attach", "add", "submit"),
        module={"web": _FLASK_HEAD + '''@app.route("/$plural/$verb", methods=["POST"])
def ${verb}_${noun}_image():
    upload = request.files["image"]
    @@
    upload.save(path)
    return {"saved": True}'''},
        insecure='path = os.path.join(FOLDER, upload.filename)',
        secure='path = os.path.join(FOLDER, secure_filename(upload.filename))',
    ),
    Pattern(
        id="tar_extractall", cwe="CWE-22", imports=("import os", "import tarfile"), args=("archive",),
        task="unpacks an uploaded tar archive of $plural", verbs=("unpack", "extract", "import", "restore"),
        func="${verb}_${plural}",
        body='''dest = os.path.join("imports", "$plural")
os.makedirs(dest, exist_ok=True)
with tarfile.open(archive) as tar:
    @@
return sorted(os.listdir(dest))''',
        insecure='tar.extractall(dest)',
        secure='tar.extractall(dest, filter="data")',
    ),
    Pattern(
        id="zip_member_write", cwe="CWE-22", imports=("import os", "import zipfile"), args=("archive",),
        task="copies the files inside a zip of $plural into a folder", verbs=("unzip", "expand", "import", "load"),
        func="${verb}_${plural}",
        body='''dest = os.path.join("incoming", "$plural")
with zipfile.ZipFile(archive) as zf:
    for member in zf.namelist():
        @@
        with open(target, "wb") as out:
            out.write(zf.read(member))
return dest''',
        insecure='target = os.path.join(dest, member)',
        secure='target = os.path.join(dest, os.path.basename(member))',
    ),
    Pattern(
        id="chmod_export", cwe="CWE-732", imports=_OS, args=("path",),
        task="writes a $noun export file and sets its permissions", verbs=("export", "write", "dump", "save"),
        func="${verb}_${plural}",
        body='''with open(path, "w", encoding="utf-8") as fh:
    fh.write("$plural\\n")
@@
return path''',
        insecure='os.chmod(path, 0o777)',
        secure='os.chmod(path, 0o600)',
    ),
    Pattern(
        id="chmod_folder", cwe="CWE-732", imports=_OS, args=("name",),
        task="creates a working folder for a batch of $plural", verbs=("create", "prepare", "make", "setup"),
        func="${verb}_${noun}_folder",
        body='''folder = os.path.join("work", os.path.basename(name))
os.makedirs(folder, exist_ok=True)
@@
return folder''',
        insecure='os.chmod(folder, 0o777)',
        secure='os.chmod(folder, 0o700)',
    ),
    Pattern(
        id="chmod_log", cwe="CWE-732", imports=("import logging", "import os"), args=("path",),
        task="sets up a log file for $noun processing", verbs=("setup", "open", "init", "start"),
        func="${verb}_${noun}_log",
        body='''handler = logging.FileHandler(path)
logging.getLogger("$plural").addHandler(handler)
@@
return handler''',
        insecure='os.chmod(path, 0o666)',
        secure='os.chmod(path, 0o640)',
    ),
    Pattern(
        id="tmp_mktemp", cwe="CWE-377", imports=("import tempfile",), args=("$field",),
        secure_imports=("import os",),
        task="writes a $field into a temporary CSV file for $plural", verbs=("stage", "write", "spool", "buffer"),
        func="${verb}_${noun}_csv",
        body='''@@
with fh:
    fh.write("$field\\n")
    fh.write($field + "\\n")
return path''',
        insecure='path = tempfile.mktemp(suffix=".csv")\nfh = open(path, "w", encoding="utf-8")',
        secure='fd, path = tempfile.mkstemp(suffix=".csv")\nfh = os.fdopen(fd, "w", encoding="utf-8")',
    ),
    Pattern(
        id="tmp_fixed_path", cwe="CWE-377", imports=("import os",), args=("text",),
        secure_imports=("import tempfile",),
        task="saves a draft $noun to a scratch file", verbs=("save", "stash", "keep", "park"),
        func="${verb}_${noun}_draft",
        body='''@@
with open(path, "w", encoding="utf-8") as fh:
    fh.write(text)
return os.path.getsize(path)''',
        insecure='path = "/tmp/${noun}_draft.txt"',
        secure='path = os.path.join(tempfile.mkdtemp(), "${noun}_draft.txt")',
    ),
)
