"""A local OpenAI-compatible chat-completions server for tests and benchmarks.

    python -m emlab.testing.chat_server --port 8123 --latency 0.05   # serve until Ctrl-C

`ChatServer` listens on 127.0.0.1 (a free port by default) in a background thread and
answers `POST /v1/chat/completions` and `GET /v1/models`:

- with `logprobs: true` it replies with one token and `top_logprobs` taken from
  `logprobs_fn(prompt)` (token -> probability; default: a deterministic made-up score
  distribution per prompt), as a judge request expects;
- otherwise it returns `n` plain completions from `completion_fn(messages, request, i)`
  (default: a deterministic text naming the question), as a sampler expects.

Every request waits `latency_s` first (an attribute: a test may change it while serving).
Faults are injected at random (seeded): a fraction `p_429` answered 429, `p_500` answered
500, `p_hang` held for `hang_s` (past the client's timeout) and then dropped without a
reply, and `p_drop` cut off mid-response (status line, headers and half the body sent,
then the socket closed). `stats` counts requests, faults, and successful replies per
prompt (the last user message), so a test can check that every prompt was answered
exactly once; `stats.bodies` holds every request body in arrival order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LogprobsFn = Callable[[str], dict[str, float]]
CompletionFn = Callable[[list[dict[str, Any]], dict[str, Any], int], str]


def default_logprobs(prompt: str) -> dict[str, float]:
    """A made-up but deterministic judge: most mass on one score picked by hashing the prompt."""
    k = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 101
    probs = {str(k): 0.7, str((k + 10) % 101): 0.15, str((k + 50) % 101): 0.1, "REFUSAL": 0.05}
    return probs


def default_completion(messages: list[dict[str, Any]], request: dict[str, Any], index: int) -> str:
    """A deterministic answer that names the question, the sample index and the seed."""
    question = str(messages[-1].get("content", "")) if messages else ""
    return f"Answer {index} (seed {request.get('seed')}) to: {question[:80]}"


@dataclass
class ServerStats:
    """What the server saw; read it after the client is done."""

    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)  # by last user message
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth: set[str] = field(default_factory=set)  # Authorization headers seen
    in_flight: int = 0
    max_in_flight: int = 0


class ChatServer:
    """OpenAI-compatible test server (see module docstring); use as a context manager."""

    def __init__(self, *, logprobs_fn: LogprobsFn = default_logprobs, completion_fn: CompletionFn = default_completion,
                 latency_s: float = 0.0, p_429: float = 0.0, p_500: float = 0.0, p_hang: float = 0.0,
                 p_drop: float = 0.0, hang_s: float = 5.0, seed: int = 0, port: int = 0, model: str = "test-judge"):
        self.logprobs_fn, self.completion_fn = logprobs_fn, completion_fn
        self.latency_s, self.hang_s, self.model = latency_s, hang_s, model
        self.p_429, self.p_500, self.p_hang, self.p_drop = p_429, p_500, p_hang, p_drop
        self.stats = ServerStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # hung handlers must not block stop()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ChatServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="chat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_idle(self, quiet_s: float = 0.3, timeout_s: float = 15.0) -> None:
        """Return once no request is being served and none has arrived for `quiet_s` seconds.

        After a client is killed, this lets the requests it had sent land (and be counted)
        before a test reads `stats`.
        """
        deadline = time.monotonic() + timeout_s
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                n, busy = self.stats.requests, self.stats.in_flight
            if n != seen or busy:
                seen, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.01)
        raise TimeoutError(f"chat server still busy after {timeout_s:g} s ({self.stats.in_flight} in flight)")

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _fault(self) -> str | None:
        with self._lock:
            x = self._rng.random()
        if x < self.p_429:
            return "429"
        if x < self.p_429 + self.p_500:
            return "500"
        if x < self.p_429 + self.p_500 + self.p_hang:
            return "hang"
        if x < self.p_429 + self.p_500 + self.p_hang + self.p_drop:
            return "drop"
        return None

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages else ""
        choices = []
        if body.get("logprobs"):
            probs = self.logprobs_fn(prompt)
            top = sorted(probs.items(), key=lambda kv: -kv[1])[: int(body.get("top_logprobs") or 1)]
            entries = [{"token": t, "logprob": math.log(p) if p > 0 else -9999.0, "bytes": list(t.encode())} for t, p in top]
            token = entries[0]["token"] if entries else ""
            choices.append({"index": 0, "finish_reason": "length",
                            "message": {"role": "assistant", "content": token, "refusal": None},
                            "logprobs": {"content": [{**entries[0], "top_logprobs": entries}] if entries else [], "refusal": None}})
        else:
            for i in range(int(body.get("n") or 1)):
                text = self.completion_fn(messages, body, i)
                choices.append({"index": i, "finish_reason": "stop", "logprobs": None,
                                "message": {"role": "assistant", "content": text, "refusal": None}})
        n_prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
        n_out = sum(len(str(c["message"]["content"]).split()) for c in choices)
        return {"id": f"chatcmpl-{self.stats.requests}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", self.model), "choices": choices,
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stats instead
                pass

            def _send(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None,
                      cut: bool = False) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not cut:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[: len(data) // 2])  # the connection drops mid-body
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model", "owned_by": "emlab"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the client died while sending: no request was made
                    self.close_connection = True
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
                    return
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                with server._lock:
                    server.stats.requests += 1
                    server.stats.bodies.append(body)
                    server.stats.auth.add(self.headers.get("Authorization", ""))
                    server.stats.in_flight += 1
                    server.stats.max_in_flight = max(server.stats.max_in_flight, server.stats.in_flight)
                try:
                    self._serve(body)
                finally:
                    with server._lock:
                        server.stats.in_flight -= 1

            def _serve(self, body: dict[str, Any]) -> None:
                if server.latency_s:
                    time.sleep(server.latency_s)
                fault = server._fault()
                if fault:
                    with server._lock:
                        server.stats.faults[fault] += 1
                if fault == "429":
                    self._send(429, {"error": {"message": "rate limited (injected)", "type": "rate_limit_error"}}, {"Retry-After": "0"})
                elif fault == "500":
                    self._send(500, {"error": {"message": "server error (injected)", "type": "server_error"}})
                elif fault == "hang":
                    server._stopping.wait(server.hang_s)  # the client times out meanwhile
                    self.close_connection = True
                elif fault == "drop":
                    self._send(200, server._reply(body), cut=True)
                else:
                    reply = server._reply(body)
                    messages = body.get("messages") or []
                    prompt = str(messages[-1].get("content", "")) if messages else ""
                    with server._lock:  # counted before sending, so a finished client sees it
                        server.stats.successes[prompt] += 1
                    try:
                        self._send(200, reply)
                    except OSError:  # the client gave up: not a success after all
                        with server._lock:
                            server.stats.successes[prompt] -= 1

        return Handler


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible chat-completions API on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--latency", type=float, default=0.0)
    for fault in ("429", "500", "hang", "drop"):
        ap.add_argument(f"--p-{fault}", type=float, default=0.0, help=f"fraction of requests given the {fault} fault")
    args = ap.parse_args()
    server = ChatServer(port=args.port, latency_s=args.latency, p_429=args.p_429, p_500=args.p_500,
                        p_hang=args.p_hang, p_drop=args.p_drop).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
