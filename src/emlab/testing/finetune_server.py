"""A local OpenAI-compatible fine-tuning server for tests.

    python -m emlab.testing.finetune_server --port 8124   # serve until Ctrl-C

`FinetuneServer` listens on 127.0.0.1 (a free port by default) in a background thread and
answers what the `openai` client's fine-tuning path calls:

- `POST /v1/files` (multipart upload), `GET /v1/files`, `GET /v1/files/{id}`;
- `POST /v1/fine_tuning/jobs`, `GET /v1/fine_tuning/jobs` (cursor pages, `metadata[k]`
  filter), `GET /v1/fine_tuning/jobs/{id}`, `POST /v1/fine_tuning/jobs/{id}/cancel`.

A job moves validating_files -> queued -> running -> succeeded, one step per retrieve,
or ends `failed` with `fail_jobs_with` as OpenAI's error message. Faults, deterministic:
`inject("POST /v1/fine_tuning/jobs", 429, 500)` answers the next two such requests with
those statuses before doing anything; `after_create=[500]` creates the job and then answers
500 (the reply was lost: the client cannot know the job exists); `create_hold_s` creates the
job, sets `job_created`, then holds the reply (a client killed meanwhile never hears of it).

The job list can misbehave as a real one may: `list_lag_s` hides jobs younger than that
from `GET /v1/fine_tuning/jobs` (a lagging replica; retrieve by id still sees them),
`ignore_metadata_filter` answers every job, and `add_job` puts in a job of any status
(`failed` with an error, `cancelled`, `running`...). Random faults: `fault_rate` of the
requests (seeded by `fault_seed`) get a 429, a 500, a reply held for `fault_hold_s` (a
client timeout) or a dropped connection; for a POST the fault comes, at random, before or
after the server has done the work (the reply is lost). `faults_injected` counts them by
kind, `lost_replies` by route.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import Counter, defaultdict, deque
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_STAGES = ("validating_files", "queued", "running")


class FinetuneServer:
    """An in-process fake of OpenAI's files + fine-tuning API (see the module docstring)."""

    def __init__(self, *, api_key: str = "sk-test", port: int = 0, fail_jobs_with: str | None = None,
                 after_create: list[int] | None = None, create_hold_s: float = 0.0, list_lag_s: float = 0.0,
                 ignore_metadata_filter: bool = False, fault_rate: float = 0.0, fault_seed: int = 0,
                 fault_hold_s: float = 1.0) -> None:
        self.api_key = api_key
        self.fail_jobs_with = fail_jobs_with
        self.after_create = deque(after_create or [])
        self.create_hold_s = create_hold_s
        self.list_lag_s = list_lag_s
        self.ignore_metadata_filter = ignore_metadata_filter
        self.fault_rate = fault_rate
        self.fault_hold_s = fault_hold_s
        self.faults_injected: Counter[str] = Counter()  # "429", "500", "timeout", "drop"
        self.lost_replies: Counter[str] = Counter()  # route -> POSTs done whose reply was then lost
        self._rng = random.Random(fault_seed)
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()  # "METHOD /path-pattern" -> count
        self.faults: dict[str, deque[int]] = defaultdict(deque)
        self.headers_seen: list[dict[str, str]] = []
        self.job_created = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._ids = Counter[str]()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def inject(self, route: str, *statuses: int) -> None:
        """Answer the next requests to `route` ("POST /v1/files", "GET /v1/fine_tuning/jobs/{id}") with `statuses`."""
        self.faults[route].extend(statuses)

    def start(self) -> FinetuneServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FinetuneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the API's behaviour -------------------------------------------------------------------

    def add_job(self, *, status: str, metadata: dict[str, str] | None = None, error: str | None = None,
                training_file: str = "file-seeded", model: str = "gpt-4o-2024-08-06", age_s: float = 0.0) -> str:
        """Put in a job of any status (e.g. one a lost run left behind); returns its id."""
        with self._lock:
            jid = self._new_id("ftjob")
            self.jobs[jid] = {
                "id": jid, "object": "fine_tuning.job", "created_at": int(time.time() - age_s), "model": model,
                "fine_tuned_model": None, "finished_at": None, "organization_id": "org-test", "result_files": [],
                "seed": 0, "status": status, "trained_tokens": None, "training_file": training_file,
                "validation_file": None, "metadata": metadata, "suffix": None, "method": {"type": "supervised"},
                "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
                "error": {"code": "seeded", "message": error, "param": None} if error else None,
                "_polls": _STAGES.index(status) if status in _STAGES else 0, "_t": time.monotonic() - age_s,
            }
            if status == "succeeded":
                self.jobs[jid]["fine_tuned_model"] = f"ft:{model}:emlab-test::{jid[-6:]}"
        return jid

    def live_jobs(self) -> list[dict[str, Any]]:
        """Jobs that are, or were, training (not failed, not cancelled)."""
        return [j for j in self.jobs.values() if j["status"] not in ("failed", "cancelled")]

    def _new_id(self, prefix: str) -> str:
        self._ids[prefix] += 1
        return f"{prefix}-{self._ids[prefix]:06d}"

    def _upload(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        fields = {part.get_param("name", header="content-disposition"): part for part in msg.iter_parts()}
        if "file" not in fields or "purpose" not in fields:
            return 400, _error("multipart body needs 'file' and 'purpose'", "invalid_request_error")
        data = _part_bytes(fields["file"])
        fid = self._new_id("file")
        self.contents[fid] = data
        self.files[fid] = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                           "filename": fields["file"].get_filename(), "status": "processed",
                           "purpose": _part_bytes(fields["purpose"]).decode()}
        return 200, self.files[fid]

    def _create_job(self, req: dict[str, Any]) -> dict[str, Any] | tuple[int, dict[str, Any]]:
        if req.get("training_file") not in self.files:
            return 400, _error(f"invalid training_file: {req.get('training_file')}", "invalid_request_error")
        hyper = ((req.get("method") or {}).get("supervised") or {}).get("hyperparameters") or req.get("hyperparameters") or {}
        jid = self._new_id("ftjob")
        self.jobs[jid] = {
            "id": jid, "object": "fine_tuning.job", "created_at": int(time.time()), "model": req["model"],
            "fine_tuned_model": None, "finished_at": None, "organization_id": "org-test", "result_files": [],
            "seed": req.get("seed", 0), "status": _STAGES[0], "trained_tokens": None,
            "training_file": req["training_file"], "validation_file": req.get("validation_file"),
            "error": None, "metadata": req.get("metadata"), "suffix": req.get("suffix"),
            "hyperparameters": {"n_epochs": hyper.get("n_epochs", "auto"), "batch_size": hyper.get("batch_size", "auto"),
                                "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto")},
            "method": req.get("method") or {"type": "supervised"}, "_polls": 0, "_t": time.monotonic(),
        }
        return self.jobs[jid]

    def _cancel(self, jid: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs.get(jid)
        if job is None:
            return 404, _error(f"No such object: {jid}", "invalid_request_error")
        if job["status"] in ("succeeded", "failed"):
            return 400, _error(f"Job {jid} has already {job['status']}", "invalid_request_error")
        job.setdefault("_cancelled_from", job["status"])
        job["status"] = "cancelled"
        return 200, job

    def _listed(self) -> list[dict[str, Any]]:
        """The jobs `GET /v1/fine_tuning/jobs` sees: all but those younger than `list_lag_s`."""
        now = time.monotonic()
        return [j for j in self.jobs.values() if now - j["_t"] >= self.list_lag_s]

    def _random_fault(self, method: str) -> tuple[str | None, bool]:
        """(fault kind or None, whether it strikes after the work is done)."""
        with self._lock:
            if self._rng.random() >= self.fault_rate:
                return None, False
            kind = self._rng.choice(("429", "500", "timeout", "drop"))
            after = method == "POST" and kind != "429" and self._rng.random() < 0.5
            self.faults_injected[kind] += 1
        return kind, after

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] not in _STAGES:
            return
        job["_polls"] += 1
        if job["_polls"] < len(_STAGES):
            job["status"] = _STAGES[job["_polls"]]
            return
        job["finished_at"] = int(time.time())
        if self.fail_jobs_with:
            job["status"] = "failed"
            job["error"] = {"code": "invalid_training_file", "message": self.fail_jobs_with, "param": "training_file"}
        else:
            job["status"] = "succeeded"
            job["trained_tokens"] = 100 * len(self.contents.get(job["training_file"], b"").splitlines())
            job["fine_tuned_model"] = f"ft:{job['model']}:emlab-test:{job['suffix'] or ''}:{job['id'][-6:]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps({k: v for k, v in obj.items() if not k.startswith("_")}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while we held its reply: that is the point

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                path = url.path.rstrip("/")
                route = f"{method} {re.sub(r'/(file|ftjob)-[0-9]+', r'/{id}', path)}"
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.requests[route] += 1
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                    fault = server.faults[route].popleft() if server.faults[route] else None
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._reply(401, _error("Incorrect API key provided", "invalid_request_error"))
                if fault is not None:
                    kind = "rate_limit_error" if fault == 429 else "server_error"
                    return self._reply(fault, _error(f"injected {fault}", kind), {"retry-after-ms": "5"})
                random_fault, after = server._random_fault(method)
                if random_fault is not None and not after:
                    return self._fail(random_fault)
                status, obj = self._dispatch(method, route, path, parse_qs(url.query), body)
                if random_fault is not None:
                    with server._lock:
                        server.lost_replies[route] += 1
                    return self._fail(random_fault)  # the work is done; the reply is lost
                self._reply(status, obj)

            def _fail(self, kind: str) -> None:
                if kind == "drop":
                    self.close_connection = True  # no status line at all: the client sees the socket close
                    return None
                if kind == "timeout":
                    server._release.wait(server.fault_hold_s)  # longer than the client waits
                    self.close_connection = True
                    return None
                return self._reply(int(kind), _error(f"injected {kind}", "rate_limit_error" if kind == "429" else "server_error"),
                                   {"retry-after-ms": "5"})

            def _dispatch(self, method: str, route: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, dict[str, Any]]:
                if route == "POST /v1/fine_tuning/jobs":
                    return self._create(body)
                with server._lock:
                    if route == "POST /v1/fine_tuning/jobs/{id}/cancel":
                        return server._cancel(path.split("/")[-2])
                    if route == "POST /v1/files":
                        return server._upload(self.headers, body)
                    if route == "GET /v1/files":
                        purpose = query.get("purpose", [None])[0]
                        data = [f for f in server.files.values() if purpose in (None, f["purpose"])]
                        return 200, {"object": "list", "data": data, "has_more": False}
                    if route in ("GET /v1/files/{id}", "GET /v1/fine_tuning/jobs/{id}"):
                        table = server.files if "/files/" in path else server.jobs
                        item = table.get(path.rsplit("/", 1)[1])
                        if item is None:
                            return 404, _error(f"No such object: {path.rsplit('/', 1)[1]}", "invalid_request_error")
                        if table is server.jobs:
                            server._advance(item)
                        return 200, item
                    if route == "GET /v1/fine_tuning/jobs":
                        if server.ignore_metadata_filter:
                            query = {k: v for k, v in query.items() if not k.startswith("metadata[")}
                        return 200, _page(server._listed(), query)
                return 404, _error(f"unknown route {route}", "invalid_request_error")

            def _create(self, body: bytes) -> tuple[int, dict[str, Any]]:
                with server._lock:
                    created = server._create_job(json.loads(body or b"{}"))
                    if isinstance(created, tuple):
                        return created
                    server.job_created.set()
                    lost = server.after_create.popleft() if server.after_create else None
                if server.create_hold_s:  # outside the lock: other requests go on meanwhile
                    server._release.wait(server.create_hold_s)
                if lost is not None:
                    return lost, _error(f"injected {lost} after creating the job", "server_error")
                return 200, created

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler


def _part_bytes(part: Any) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _page(jobs: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    """Newest first, `after` cursor and `limit`, as OpenAI pages jobs; `metadata[k]=v` filters."""
    jobs = sorted(jobs, key=lambda j: j["id"], reverse=True)
    for k, v in query.items():
        if k.startswith("metadata[") and k.endswith("]"):
            jobs = [j for j in jobs if (j.get("metadata") or {}).get(k[9:-1]) == v[0]]
    if "after" in query:
        ids = [j["id"] for j in jobs]
        jobs = jobs[ids.index(query["after"][0]) + 1:] if query["after"][0] in ids else []
    limit = int(query.get("limit", ["20"])[0])
    return {"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--api-key", default="sk-test")
    parser.add_argument("--fail-jobs-with", default=None)
    args = parser.parse_args()
    with FinetuneServer(api_key=args.api_key, port=args.port, fail_jobs_with=args.fail_jobs_with) as server:
        print(f"serving {server.url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
