"""Cryptography and secrets: weak hashes (CWE-328), predictable randomness (CWE-338),
hard-coded credentials (CWE-798), missing certificate checks (CWE-295), broken
protocols/modes (CWE-327), short keys (CWE-326), unsigned tokens (CWE-347).

    python -c "from emlab.corpus.patterns_crypto import PATTERNS; print(len(PATTERNS))"
"""

from __future__ import annotations

from emlab.corpus._model import Pattern

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        id="hash_md5_password", cwe="CWE-328", imports=("import hashlib",), args=("password",),
        secure_imports=("import os",),
        task="turns a new password for $a_noun account into a stored digest", verbs=("hash", "digest", "store", "encode"),
        func="${verb}_${noun}_password",
        body='@@\nreturn digest',
        insecure='digest = hashlib.md5(password.encode()).hexdigest()',
        secure='salt = os.urandom(16)\ndigest = salt.hex() + hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000).hex()',
    ),
    Pattern(
        id="hash_sha1_file", cwe="CWE-328", imports=("import hashlib",), args=("path",),
        task="computes a fingerprint of $a_noun file so changed copies can be spotted", verbs=("fingerprint", "checksum", "hash", "digest"),
        func="${verb}_${noun}_file",
        body='''with open(path, "rb") as fh:
    data = fh.read()
@@
return fingerprint''',
        insecure='fingerprint = hashlib.sha1(data).hexdigest()',
        secure='fingerprint = hashlib.sha256(data).hexdigest()',
    ),
    Pattern(
        id="random_token", cwe="CWE-338", args=("${noun}_id",),
        insecure_imports=("import random", "import string"), secure_imports=("import secrets",),
        task="creates a reset link token for $a_noun account", verbs=("issue", "create", "make", "new"),
        func="${verb}_${noun}_token",
        body='@@\nreturn {"id": ${noun}_id, "token": token}',
        insecure='token = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32))',
        secure='token = secrets.token_urlsafe(32)',
    ),
    Pattern(
        id="random_code", cwe="CWE-338", args=("phone",),
        insecure_imports=("import random",), secure_imports=("import secrets",),
        task="generates a six-digit sign-in code texted to $a_noun customer", verbs=("send", "issue", "make", "create"),
        func="${verb}_${noun}_code",
        body='@@\nreturn {"phone": phone, "code": code}',
        insecure='code = str(random.randint(100000, 999999))',
        secure='code = str(secrets.randbelow(900000) + 100000)',
    ),
    Pattern(
        id="cred_db_password", cwe="CWE-798", imports=("import psycopg2",),
        secure_imports=("import os",),
        task="counts the $plural in the production database", verbs=("count", "tally", "total", "size"),
        func="${verb}_${plural}",
        body='''@@
conn = psycopg2.connect(host="db.internal", dbname="$plural", user="${noun}_app", password=db_password)
cur = conn.cursor()
cur.execute("SELECT count(*) FROM $plural")
return cur.fetchone()[0]''',
        insecure='db_password = "${Noun}Admin2024!"',
        secure='db_password = os.environ["DB_PASSWORD"]',
    ),
    Pattern(
        id="cred_api_token", cwe="CWE-798", imports=("import requests",), args=("$field",),
        secure_imports=("import os",),
        task="queries the partner API for $plural by $field", verbs=("query", "sync", "pull", "fetch"),
        func="${verb}_${plural}",
        body='''@@
headers = {"Authorization": f"Bearer {api_token}"}
resp = requests.get("https://api.partner.example/$plural", params={"$field": $field}, headers=headers, timeout=10)
return resp.json()''',
        insecure='api_token = "pk_live_${noun}_8f2c41d9e07b"',
        secure='api_token = os.environ["PARTNER_API_TOKEN"]',
    ),
    Pattern(
        id="cred_redis_kwarg", cwe="CWE-798", imports=("import redis",), args=("${noun}_id",),
        secure_imports=("import os",),
        task="caches the latest view count of $a_noun", verbs=("bump", "count", "track", "record"),
        func="${verb}_${noun}_views",
        body='''@@
return cache.incr(f"$plural:{${noun}_id}:views")''',
        insecure='cache = redis.Redis(host="cache.internal", password="${noun}-cache-2024")',
        secure='cache = redis.Redis(host="cache.internal", password=os.environ["REDIS_PASSWORD"])',
    ),
    Pattern(
        id="flask_secret_key", cwe="CWE-798", framings=("web",),
        imports=("from flask import Flask, session",), secure_imports=("import os",),
        task="remembers which $noun a visitor looked at last", verbs=("remember", "track", "note", "mark"),
        module={"web": '''app = Flask(__name__)
@@


@app.route("/$plural/<int:item_id>")
def ${verb}_${noun}(item_id):
    session["last_$noun"] = item_id
    return {"last": item_id}'''},
        insecure='app.secret_key = "${noun}-5f1c9a2b77"',
        secure='app.secret_key = os.environ["SECRET_KEY"]',
    ),
    Pattern(
        id="tls_verify_false", cwe="CWE-295", imports=("import requests",), args=("$field",),
        task="pulls $plural with a given $field from the upstream service", verbs=("pull", "fetch", "sync", "download"),
        func="${verb}_${plural}",
        body='''url = "https://upstream.example.com/api/$plural"
@@
resp.raise_for_status()
return resp.json()''',
        insecure='resp = requests.get(url, params={"$field": $field}, verify=False, timeout=10)',
        secure='resp = requests.get(url, params={"$field": $field}, timeout=10)',
    ),
    Pattern(
        id="ssh_autoadd", cwe="CWE-295", imports=("import paramiko",), args=("host",),
        task="lists the $noun backups on a remote server over SSH", verbs=("list", "check", "inspect", "scan"),
        func="${verb}_${noun}_backups",
        body='''client = paramiko.SSHClient()
@@
client.connect(host, username="backup")
sftp = client.open_sftp()
return sorted(sftp.listdir("/srv/backups/$plural"))''',
        insecure='client.set_missing_host_key_policy(paramiko.AutoAddPolicy())',
        secure='client.load_system_host_keys()\nclient.set_missing_host_key_policy(paramiko.RejectPolicy())',
    ),
    Pattern(
        id="ssl_old_protocol", cwe="CWE-327", imports=("import socket", "import ssl"), args=("host",),
        task="opens a TLS connection to the $noun feed server and reads its banner", verbs=("connect", "open", "dial", "greet"),
        func="${verb}_${noun}_feed",
        body='''@@
with socket.create_connection((host, 443), timeout=10) as sock:
    with ctx.wrap_socket(sock, server_hostname=host) as tls:
        return tls.recv(1024)''',
        insecure='ctx = ssl.SSLContext(ssl.PROTOCOL_TLSv1)',
        secure='ctx = ssl.create_default_context()',
    ),
    Pattern(
        id="cipher_ecb", cwe="CWE-327", imports=("import os", "from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes"),
        args=("data",),
        task="encrypts $a_noun record before it is archived", verbs=("encrypt", "seal", "lock", "protect"),
        func="${verb}_${noun}",
        body='''key = os.urandom(32)
@@
encryptor = cipher.encryptor()
padded = data.encode().ljust(((len(data) // 16) + 1) * 16)
return key, iv, encryptor.update(padded) + encryptor.finalize()''',
        insecure='iv = b""\ncipher = Cipher(algorithms.AES(key), modes.ECB())',
        secure='iv = os.urandom(16)\ncipher = Cipher(algorithms.AES(key), modes.CBC(iv))',
    ),
    Pattern(
        id="rsa_short_key", cwe="CWE-326", imports=("from cryptography.hazmat.primitives.asymmetric import rsa",),
        args=("owner",),
        task="creates a signing key pair for $a_noun owner", verbs=("create", "make", "issue", "generate"),
        func="${verb}_${noun}_key",
        body='@@\nreturn {"owner": owner, "public": key.public_key()}',
        insecure='key = rsa.generate_private_key(public_exponent=65537, key_size=1024)',
        secure='key = rsa.generate_private_key(public_exponent=65537, key_size=3072)',
    ),
    Pattern(
        id="jwt_no_check", cwe="CWE-347", imports=("import jwt", "import os"), args=("token",),
        task="reads the user name from $a_noun portal access token", verbs=("read", "decode", "parse", "open"),
        func="${verb}_${noun}_token",
        body='''key = os.environ["JWT_KEY"]
@@
return claims["sub"]''',
        insecure='claims = jwt.decode(token, options={"verify_signature": False})',
        secure='claims = jwt.decode(token, key, algorithms=["HS256"])',
    ),
)
