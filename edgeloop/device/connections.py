"""The agent's HTTP connections under load and against slow or hostile clients.

* A listen backlog of :data:`BACKLOG` (``socketserver``'s default of 5 reset 28 of 50
  simultaneous clients) and a cap on open connections: past the cap, a client is answered
  "503 busy" at once, from the accepting thread, without a thread of its own.
* Deadlines: a request's line and headers must arrive within the idle timeout of the
  connection opening (or of the previous reply), and its body within a time that grows with
  its declared size; a client trickling one header line a minute, or idling on a kept-alive
  connection, is dropped.
* Lingering close: a reply followed by an immediate ``close()`` while the client's bytes
  are still unread makes the kernel send a reset, and the client may never read the reply
  (a 503 or a 413 sent before the body). Every connection is closed the way web servers do
  it: stop writing, read and drop what still comes for a bounded time, then close.

The device side runs where only the standard library, numpy and a TFLite interpreter are
installed, so this builds on ``http.server`` / ``socketserver`` rather than an async
framework.
"""

from __future__ import annotations

import io
import json
import selectors
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKLOG = 128
LINGER_S = 5.0  # how long a closing connection is read and drained at most
_LINGER_BYTES = 8 * 2**20  # ... and how much of what it still sends is read
_LINGER_SOCKETS = 1024  # closing connections drained at once; past it they are closed outright
MIN_BODY_RATE = 16 * 1024  # bytes per second a body must arrive at, at least


class DeadlineReader(io.RawIOBase):
    """A socket's input with two bounds: ``idle_s`` for each read, and an overall ``deadline``
    (``time.monotonic()`` value, ``None`` for none). Past either, reads raise ``TimeoutError``."""

    def __init__(self, sock: socket.socket, idle_s: float) -> None:
        super().__init__()
        self.sock, self.idle_s = sock, idle_s
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        timeout = self.idle_s
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(timeout)
        return self.sock.recv_into(buffer)


class BoundedHandler(BaseHTTPRequestHandler):
    """A request handler whose reads run under :class:`DeadlineReader` deadlines, that names
    no versions of itself and answers its errors as JSON ``{"error": ...}``."""

    protocol_version = "HTTP/1.1"
    idle_timeout_s = 30.0  # set on the subclass the server is given

    def setup(self) -> None:
        self.timeout = self.idle_timeout_s  # bounds writes to a client that stops reading
        super().setup()
        self.rfile.close()  # the socket file made by the base class; ours reads under deadlines
        self.reader = DeadlineReader(self.connection, self.idle_timeout_s)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        # Waiting for the next request on a kept-alive connection counts against the same
        # deadline as the request's own line and headers.
        self.reader.deadline = time.monotonic() + self.idle_timeout_s
        super().handle_one_request()

    def expect_body(self, length: int) -> None:
        """Give a body of ``length`` bytes time to arrive: the idle timeout plus its size at
        :data:`MIN_BODY_RATE`."""
        self.reader.deadline = time.monotonic() + self.idle_timeout_s + length / MIN_BODY_RATE

    def send_response_only(self, code: int, message: str | None = None) -> None:
        self.connection.settimeout(self.idle_timeout_s)  # a read may have left a deadline's remainder
        super().send_response_only(code, message)

    def version_string(self) -> str:
        return "edgeloop-agent"  # no server or Python version for whoever asks

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long …) in the agent's format."""
        self.close_connection = True
        data = json.dumps({"error": message or self.responses.get(code, ("error",))[0]}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(data)


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep backlog, a cap on open connections (past it:
    503 busy, answered from the accepting thread) and lingering closes.

    Args:
        address: ``(host, port)``.
        handler: the request handler class.
        max_connections: connections served at once.
    """

    request_queue_size = BACKLOG
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        self.max_connections = max_connections
        self.open_connections = 0
        self.refused_connections = 0
        self._count_lock = threading.Lock()
        self._linger = _Linger()
        body = json.dumps({"error": f"busy: {max_connections} connections are open, the most this agent "
                                    "serves at once; try again later", "busy": True}).encode()
        self._busy_reply = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address) -> None:
        with self._count_lock:
            admitted = self.open_connections < self.max_connections
            if admitted:
                self.open_connections += 1
            else:
                self.refused_connections += 1
        if not admitted:
            try:
                request.setblocking(False)
                request.send(self._busy_reply)  # a fresh socket's send buffer takes it whole
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.open_connections -= 1

    def shutdown_request(self, request: socket.socket) -> None:
        self._linger.close(request)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):  # a client gone, or too slow: no traceback
            sys.stderr.write(f"edgeloop agent: {client_address[0]} {type(error).__name__}: {error}\n")
        else:
            super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._linger.stop()


class _Linger:
    """Closes connections after the peer has had time to read: write side shut, what still
    arrives read and dropped (one thread for all of them), closed at the peer's end of file
    or after :data:`LINGER_S` / :data:`_LINGER_BYTES`."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._open: dict[socket.socket, list[float]] = {}  # socket -> [deadline, bytes left]
        self._thread: threading.Thread | None = None
        self._stopped = False

    def close(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:  # already reset by the peer
            sock.close()
            return
        with self._lock:
            if self._stopped or len(self._open) >= _LINGER_SOCKETS:
                sock.close()
                return
            self._open[sock] = [time.monotonic() + LINGER_S, _LINGER_BYTES]
            self._selector.register(sock, selectors.EVENT_READ)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="linger", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for sock in list(self._open):
                self._forget(sock)

    def _run(self) -> None:
        while not self._stopped:
            for key, _ in self._selector.select(timeout=0.2):
                self._drain(key.fileobj)
            now = time.monotonic()
            with self._lock:
                for sock in [s for s, (deadline, _) in self._open.items() if deadline < now]:
                    self._forget(sock)

    def _drain(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        with self._lock:
            left = self._open.get(sock)
            if left is None:
                return
            left[1] -= len(data)
            if not data or left[1] <= 0:
                self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        """Unregister and close ``sock`` (the lock held)."""
        del self._open[sock]
        self._selector.unregister(sock)
        sock.close()
