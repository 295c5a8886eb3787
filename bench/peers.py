"""What the parity benchmarks share: starting servers on 127.0.0.1 and
stopping them, HTTP calls, comparing numbers, reading query files.

Used by bench/logql_parity.py and bench/traceql_parity.py.
"""

import json
import math
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def port_in_use(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(name, argv, ready_url, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"{name} did not become ready; see {log_path}")


def require_free(ports):
    """Exits when something already listens on one of `ports` (an answer
    from it would be taken for the server this run starts)."""
    for port in ports:
        if port_in_use(port):
            sys.exit(f"127.0.0.1:{port} is in use; stop what listens there first")
    # A TERM ends the run through the caller's `finally`, stopping servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def stop(procs):
    """Stops the servers this run started."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def request(base, path, params=None, body=None, tenant="fake"):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {"X-Scope-OrgID": tenant}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


# --- the data set ---------------------------------------------------------

USERS = ["alice", "bob", "carol", "dave"]
PATHS = ["/api/users", "/api/orders", "/api/items/42", "/healthz"]
LEVELS = ["info", "info", "info", "warn", "error", "debug"]


def same_value(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def queries(path):
    """The queries of `path`, each with the reason Loki is wrong on it
    (`# loki-wrong: …` on the line before) or None."""
    out, wrong = [], None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# loki-wrong:"):
                wrong = line.split(":", 1)[1].strip()
            elif line.strip() and not line.lstrip().startswith("#"):
                out.append((line, wrong))
                wrong = None
    return out
