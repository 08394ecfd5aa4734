"""Real alert receivers on loopback: an SMTP server and a webhook (HTTP) receiver."""

from __future__ import annotations

import contextlib
import email
import json
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # stdlib until 3.12; no package needed
    import asyncore
    import smtpd


@contextlib.contextmanager
def smtp_server():
    """``(port, messages)``: every mail received, as email.message.Message."""
    messages = []

    class Receiver(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            message = email.message_from_bytes(data)
            message["X-Envelope-To"] = ",".join(rcpttos)
            messages.append(message)

    server = Receiver(("127.0.0.1", 0), None, decode_data=False)
    port = server.socket.getsockname()[1]
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            asyncore.loop(timeout=0.05, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield port, messages
    finally:
        stop.set()
        thread.join(5)
        server.close()


@contextlib.contextmanager
def webhook_server(status: int = 200, fail_first: int = 0):
    """``(url, posts)``: every JSON body POSTed, with its path and the answer given.

    Answers ``status``, or 503 to the first ``fail_first`` posts (a chat service down).
    """
    posts = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = 503 if len(posts) < fail_first else status
            posts.append({"path": self.path, "content_type": self.headers["Content-Type"],
                          "json": json.loads(body), "answer": answer})
            self.send_response(answer)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token", posts
    finally:
        server.shutdown()
        server.server_close()
