#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# From ../shared/services/http/fault_server.py (the verified recipe), unchanged
# but for these lines: the misbehaving server of tests/cli/85-fetch.bats.
"""fault_server.py — misbehaving HTTP server for flowrun's fetch tests (stdlib only).

Paths (any method; PUT/POST bodies are read first; requests are counted, see /__counts):
  /ok?size=N                 200, N deterministic bytes (default 16), ETag
  /status/CODE               reply with that status, small body
  /flaky?n=2[&mode=M][&key=K][&size=N]
                             first n requests per key fail, later ones get 200.
                             M = 503 (default, with Retry-After: 1) | 500 | 429 |
                             reset | truncated | empty.  key defaults to the path+query
  /reset?after=N             headers (Content-Length 1000000) + N bytes (default 100),
                             then TCP RST (SO_LINGER 0)              -> curl 56
  /truncated?len=1000&send=10  Content-Length len, send bytes, clean close -> curl 18
  /chunked-truncated         chunked body, connection closed before the last chunk -> 18
  /empty                     close without any response             -> curl 52
  /slow?n=10&interval=1      Content-Length n, one byte per interval seconds
  /slow-headers?delay=5      sleep before sending the status line
  /hang                      accept, read the request, never answer  -> curl 28 with -m
  /badgzip                   Content-Encoding: gzip with a non-gzip body -> curl 61
  /mem/PATH                  in-memory store: PUT (201 new / 204 overwrite), GET/HEAD
                             (200 / 404), DELETE (204 / 404) -- a minimal cache backend
  /fail/MODE/N/PATH          first N requests per (method, PATH) fail with MODE
                             (503 500 429 reset truncated empty hang slow), later ones
                             are served by the /mem store.  Use as a cache base URL:
                             BASE=$FAULT_URL/fail/503/2  ->  BASE/ac/<sha256> ...
  /__counts                  JSON {key: hits};  /__reset clears counters and the store
Options: --port 0 (pick a free port) --port-file F (written once listening)
         --bind 127.0.0.1  --tls-cert C --tls-key K  --log F
"""
import argparse, hashlib, json, os, select, socket, ssl, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

COUNTS = {}
STORE = {}
LOCK = threading.Lock()
LOGF = None
PATTERN = bytes(range(256)) * 256          # 64 KiB


def body_bytes(n):
    reps, rest = divmod(n, len(PATTERN))
    return PATTERN * reps + PATTERN[:rest]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flowrun-fault/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        if LOGF:
            LOGF.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
            LOGF.flush()

    # --- helpers ---------------------------------------------------------
    def q(self, name, default):
        v = self.query.get(name)
        return type(default)(v[0]) if v else default

    def send_simple(self, code, body=b"", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def abort_rst(self):
        """Drop the connection with a TCP RST instead of a FIN."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def close_clean(self):
        self.close_connection = True          # server then shuts the socket down: FIN

    def client_gone(self, timeout):
        """Wait up to timeout s; True if the peer closed the connection."""
        try:
            r, _, _ = select.select([self.connection], [], [], timeout)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # --- failure modes ---------------------------------------------------
    def fail(self, mode):
        if mode in ("503", "500", "429"):
            hdrs = [("Retry-After", "1")] if mode != "500" else []
            self.send_simple(int(mode), b"try again\n", hdrs)
        elif mode == "reset":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(body_bytes(self.q("after", 100)))
            self.abort_rst()
        elif mode == "truncated":
            length, send = self.q("len", 1000), self.q("send", 10)
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body_bytes(send))
            self.close_clean()
        elif mode == "empty":
            self.close_clean()
        elif mode == "hang":
            self.hang()
        elif mode == "slow":
            self.slow(self.q("n", 10), self.q("interval", 1.0))
        else:
            self.send_simple(400, b"unknown mode\n")

    def hang(self):
        deadline = time.monotonic() + self.q("max", 600.0)
        while time.monotonic() < deadline and not self.client_gone(0.5):
            pass
        self.close_clean()

    def slow(self, n, interval):
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        try:
            for i in range(n):
                self.wfile.write(body_bytes(i + 1)[-1:])
                self.wfile.flush()
                if i + 1 < n and self.client_gone(interval):
                    return self.close_clean()
        except OSError:
            self.close_clean()

    def read_body(self):
        """Consume a request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def mem(self, path, body):
        with LOCK:
            cur = STORE.get(path)
            if self.command in ("PUT", "POST"):
                STORE[path] = body
                code = 204 if cur is not None else 201
            elif self.command == "DELETE":
                STORE.pop(path, None)
                code = 204 if cur is not None else 404
            else:
                code = 200 if cur is not None else 404
        if code == 200:
            etag = '"%s"' % hashlib.sha256(cur).hexdigest()[:16]
            if self.headers.get("If-None-Match") == etag:
                return self._304(etag)
            return self.send_simple(200, cur, [("ETag", etag), ("Content-Type", "application/octet-stream")])
        return self.send_simple(code, b"" if code != 404 else b"not found\n")

    # --- dispatch --------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_PUT(self):
        self.do_GET()

    do_POST = do_DELETE = do_PUT

    def do_GET(self):
        u = urlsplit(self.path)
        self.query = parse_qs(u.query)
        p = u.path
        body = self.read_body() if self.command in ("PUT", "POST") else b""
        if p.startswith("/fail/"):
            parts = p.split("/", 4)               # '', 'fail', MODE, N, PATH
            if len(parts) < 5:
                return self.send_simple(400, b"use /fail/MODE/N/PATH\n")
            rest = "/" + parts[4]
            key = "%s %s" % (self.command, rest)
            with LOCK:
                COUNTS[key] = COUNTS.get(key, 0) + 1
                hits = COUNTS[key]
            if hits <= int(parts[3]):
                return self.fail(parts[2])
            return self.mem(rest, body)
        if p.startswith("/mem/"):
            return self.mem(p[4:], body)
        key = self.q("key", self.path)
        with LOCK:
            COUNTS[key] = COUNTS.get(key, 0) + 1
            hits = COUNTS[key]

        if p == "/__counts":
            with LOCK:
                data = json.dumps(COUNTS, sort_keys=True).encode()
            return self.send_simple(200, data, [("Cache-Control", "no-store")])
        if p == "/__reset":
            with LOCK:
                COUNTS.clear()
                STORE.clear()
            return self.send_simple(200, b"reset\n")
        if p == "/ok":
            data = body_bytes(self.q("size", 16))
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
            if self.headers.get("If-None-Match") == etag:
                return self._304(etag)
            return self.send_simple(200, data, [("ETag", etag), ("Content-Type", "application/octet-stream")])
        if p.startswith("/status/"):
            code = int(p.split("/")[2])
            return self.send_simple(code, ("status %d\n" % code).encode())
        if p == "/flaky":
            if hits <= self.q("n", 2):
                return self.fail(self.q("mode", "503"))
            return self.send_simple(200, body_bytes(self.q("size", 3)) if "size" in self.query else b"ok\n",
                                    [("X-Attempt", str(hits))])
        if p == "/reset":
            return self.fail("reset")
        if p == "/truncated":
            return self.fail("truncated")
        if p == "/empty":
            return self.fail("empty")
        if p == "/chunked-truncated":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n")        # no 0\r\n\r\n terminator
            return self.close_clean()
        if p == "/slow":
            return self.slow(self.q("n", 10), self.q("interval", 1.0))
        if p == "/slow-headers":
            if self.client_gone(self.q("delay", 5.0)):
                return self.close_clean()
            return self.send_simple(200, b"late\n")
        if p == "/hang":
            return self.hang()
        if p == "/badgzip":
            data = b"this is not gzip data at all"
            return self.send_simple(200, data, [("Content-Encoding", "gzip")])
        return self.send_simple(404, b"not found\n")

    def _304(self, etag):
        self.send_response(304)
        self.send_header("ETag", etag)
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # RST/aborts are expected here; keep the log quiet
        if LOGF:
            LOGF.write("handler error from %s: %r\n" % (client_address, sys.exc_info()[1]))
            LOGF.flush()


def main():
    global LOGF
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.log:
        LOGF = open(a.log, "a", buffering=1)
    srv = Server((a.bind, a.port), Handler)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        # handshake lazily in the handler thread, so one stuck client cannot block accept()
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    print("fault server on %s:%d pid %d" % (a.bind, port, os.getpid()), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
