"""The tests' upstream app, in front of Prometheus (which has no login of its own).

Paths under /gatehouse-echo/ are answered here:
  /gatehouse-echo/.../headers   the request's headers, as JSON (lower-case names,
                                every value of a repeated header)
  /gatehouse-echo/big?mb=N      N MiB streamed in 64 KiB chunks (chunked encoding)
  /gatehouse-echo/ws            a websocket that echoes text frames, prefixed "echo:"
Every other request is passed to Prometheus at the URL given as the first argument.

Usage: python3 echo.py PROMETHEUS_URL PORT
"""

import base64
import hashlib
import http.client
import json
import struct
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/gatehouse-echo/ws":
            return self.websocket()
        if path == "/gatehouse-echo/big":
            return self.big()
        if path.startswith("/gatehouse-echo/") and path.endswith("/headers"):
            return self.headers_as_json()
        return self.to_prometheus()

    def headers_as_json(self):
        seen = {}
        for name, value in self.headers.items():
            seen.setdefault(name.lower(), []).append(value)
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def big(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        mib = int(query.get("mb", ["1"])[0])
        chunk = bytes(range(256)) * 256  # 64 KiB
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for _ in range(mib * 16):
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def websocket(self):
        key = self.headers.get("sec-websocket-key", "")
        if self.headers.get("upgrade", "").lower() != "websocket" or not key:
            self.send_error(400, "not a websocket handshake")
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header("sec-websocket-accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:  # close
                self.wfile.write(b"\x88\x00")
                return
            if opcode == 1:
                reply = b"echo:" + data
                self.wfile.write(bytes([0x81, len(reply)]) + reply if len(reply) < 126
                                 else bytes([0x81, 126]) + struct.pack(">H", len(reply)) + reply)
                self.wfile.flush()

    def to_prometheus(self):
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn.request("GET", self.path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
