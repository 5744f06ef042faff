"""A webhook receiver that verifies every request with the Standard Webhooks
reference library (PyPI `standardwebhooks`), as a customer's service would.

    python3 standard_webhooks_receiver.py    # secret in $WHSEC; prints "listening on PORT"

Answers 204 to a request whose signature verifies and 401 to any other, and
prints one line per request: "verified <webhook-id>" or "rejected <webhook-id>: <why>".
"""

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

WEBHOOK = Webhook(os.environ["WHSEC"])
# Requests are handled on several threads: one line at a time on stdout.
PRINTING = threading.Lock()


def say(line):
    with PRINTING:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        event_id = headers.get("webhook-id", "?")
        try:
            WEBHOOK.verify(body, headers, json_parse=False)
            status, line = 204, f"verified {event_id}"
        except WebhookVerificationError as error:
            status, line = 401, f"rejected {event_id}: {error}"
        say(line)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
say(f"listening on {server.server_address[1]}")
server.serve_forever()
