#!/usr/bin/env python3
"""A local webhook receiver for the pactwatch demo: prints every event it receives and checks its
Standard Webhooks signature (HMAC-SHA256 over id.timestamp.body with the whsec_ secret).

usage: webhook-sink.py PORT SECRET_FILE
"""
import base64
import hashlib
import hmac
import http.server
import json
import sys


def main() -> None:
    port = int(sys.argv[1])
    secret = open(sys.argv[2]).read().strip()
    key = base64.b64decode(secret.split("_", 1)[1])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            msg_id = self.headers.get("webhook-id", "")
            stamp = self.headers.get("webhook-timestamp", "")
            expected = "v1," + base64.b64encode(
                hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
            given = self.headers.get("webhook-signature", "").split(" ")
            ok = any(hmac.compare_digest(expected, g) for g in given)
            event = json.loads(body)
            data = event.get("data", {})
            print(f"[webhook-sink] {'signature ok ' if ok else 'BAD SIGNATURE'} {event.get('type')}: "
                  f"{data.get('partner')} {data.get('contract', {}).get('id')} {data.get('period')} "
                  f"{data.get('rule', '')} {data.get('from') or '(new)'} -> {data.get('to', '')}", flush=True)
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
