#!/usr/bin/env python3
"""A stand-in for the customer's internal service, for the demo only.

Answers every POST 200, except (until it is fixed: `POST /fix`, after which
everything is answered 200, as when the customer's team ships their fix):
  - the first attempt of the user-presence event (id 5e6f7081-...): 503, so the
    consumer retries it through retry-1m and it succeeds on attempt 2;
  - ids starting with "demo-broken": always 500, so they climb the whole retry
    ladder and land in the dead-letter topic;
  - ids starting with "demo-rejected": 422, a permanent refusal: DLT at once.
Prints one line per request. Usage: demo-downstream.py PORT [HOST]
(HOST defaults to 127.0.0.1; docker-compose passes 0.0.0.0).
"""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAKY_ONCE = "5e6f7081-9203-4a4b-b5c6-d7e8f9011223"
PRINT_LOCK = threading.Lock()
FIXED = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        if self.path == "/fix":
            FIXED.set()
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()
            with PRINT_LOCK:
                print("downstream: fixed; every event is answered 200 from now on", flush=True)
            return
        event_id = self.headers.get("x-event-id", "")
        attempt = int(self.headers.get("x-attempt", "0"))
        if FIXED.is_set():
            status = 200
        elif event_id.startswith("demo-broken"):
            status = 500
        elif event_id.startswith("demo-rejected"):
            status = 422
        elif event_id == FLAKY_ONCE and attempt == 1:
            status = 503
        else:
            status = 200
        body = b"ok" if status == 200 else b"demo failure"
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with PRINT_LOCK:
            print(f"downstream: {event_id:<40} attempt {attempt} -> {status}", flush=True)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    ThreadingHTTPServer((host, int(sys.argv[1])), Handler).serve_forever()
