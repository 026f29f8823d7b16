"""SIGHUP reload against a running `gatehouse` with native TLS, as an operator's client sees it.

Opens a keep-alive connection, has the certificate files replaced and the server signalled, and
checks that the open connection keeps answering while new connections get the new certificate;
then that a bad new pair (a key of another certificate) is refused and the current one stays.

usage: keepalive.py PORT CA_PEM PID SERVED_PEM SERVED_KEY SECOND_PEM SECOND_KEY BAD_KEY LOG
"""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import sys
import time

(port, ca, pid, served_pem, served_key, second_pem, second_key, bad_key, log) = sys.argv[1:]
port, pid = int(port), int(pid)
context = ssl.create_default_context(cafile=ca)


def connect():
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def fingerprint(conn):
    return hashlib.sha256(conn.getpeercert(binary_form=True)).hexdigest()[:16]


def pem_fingerprint(path):
    with open(path) as f:
        first = f.read().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()[:16]


def get(conn, path="/healthz"):
    """One keep-alive request on `conn`; returns the status code."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        if name.lower() == "connection" and value.strip().lower() == "close":
            raise ConnectionError("the server closes the connection")
    while len(body) < length:
        body += conn.recv(4096)
    return int(lines[0].split()[1])


def new_connection_fingerprint():
    conn = connect()
    try:
        assert get(conn) == 200
        return fingerprint(conn)
    finally:
        conn.close()


def wait_for(what, check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    sys.exit(f"FAIL: {what}")


first = pem_fingerprint(served_pem)
second = pem_fingerprint(second_pem)
kept = connect()
assert get(kept) == 200
assert fingerprint(kept) == first, "the server presents the configured certificate"
print(f"keep-alive connection open, certificate {first}")

# Replace both files in place (as certbot's deploy hook or a secret mount update does) and signal.
shutil.copy(second_pem, served_pem)
shutil.copy(second_key, served_key)
os.kill(pid, signal.SIGHUP)
wait_for("new connections get the new certificate after SIGHUP",
         lambda: new_connection_fingerprint() == second)
print(f"after SIGHUP a new connection gets certificate {second}")
for _ in range(3):
    assert get(kept) == 200, "the open connection answers"
assert fingerprint(kept) == first
print("the connection opened before the reload still answers (same TLS session)")

# A key that does not match: logged, and the current pair stays.
shutil.copy(bad_key, served_key)
os.kill(pid, signal.SIGHUP)
wait_for("the refused reload is logged",
         lambda: "TLS certificate not reloaded" in open(log).read())
assert new_connection_fingerprint() == second, "the previous pair is still served"
assert get(kept) == 200
os.kill(pid, 0)  # still running
print("a bad pair on SIGHUP is logged and the current certificate stays")
kept.close()
