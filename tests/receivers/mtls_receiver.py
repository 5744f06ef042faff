"""An HTTPS receiver that demands a client certificate signed by its CA, as
a service on a zero-trust network does (Python's own ssl module, OpenSSL).

    python3 mtls_receiver.py SERVER_CERT SERVER_KEY CLIENT_CA    # prints "listening on PORT"

Answers 200 to every POST over a verified connection and prints one line per
request: "delivered <x-event-id> by <client certificate CN>". A client
without a certificate never gets past the handshake.
"""

import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRINTING = threading.Lock()


def say(line):
    with PRINTING:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        subject = dict(pair[0] for pair in self.connection.getpeercert()["subject"])
        say(f"delivered {self.headers.get('x-event-id', '?')} by {subject.get('commonName', '?')}")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


cert, key, client_ca = sys.argv[1:4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.load_verify_locations(client_ca)
context.verify_mode = ssl.CERT_REQUIRED
server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
server.socket = context.wrap_socket(server.socket, server_side=True)
say(f"listening on {server.server_address[1]}")
server.serve_forever()
