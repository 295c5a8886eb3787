"""What the parity benchmarks share: starting servers on 127.0.0.1 and
stopping them, HTTP calls, comparing numbers, reading query files.

Used by bench/logql_parity.py and bench/traceql_parity.py.
"""

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
    """The queries of `path`, each with the reason the peer is wrong on it
    (`# loki-wrong: …` or `# tempo-wrong: …` on the line before) or None."""
    out, wrong = [], None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            marked = re.match(r"# \w+-wrong:(.*)", line)
            if marked:
                wrong = marked.group(1).strip()
            elif line.strip() and not line.lstrip().startswith("#"):
                out.append((line, wrong))
                wrong = None
    return out


class Tally:
    """Counts agreeing answers for one peer, prints a line per answer,
    writes each disagreement to `diff` and, where the peer is marked wrong
    (`# <peer>-wrong:`), counts Cairn's answer and lists the query."""

    def __init__(self, peer, diff):
        self.peer, self.diff = peer, diff
        self.agreed = self.counted = 0
        self.peer_wrong = []

    def record(self, path, query, ok, wrong, explain):
        """One answer; `explain()` says what differs (called only then).
        Returns whether it counts as agreeing."""
        tag = "ok  " if ok else "DIFF"
        if not ok and wrong:
            tag, ok = f"{self.peer.upper()}-WRONG", True
            self.peer_wrong.append(f"{query}  ({wrong})")
        self.counted += 1
        self.agreed += ok
        print(f"{tag} {path.rsplit('/', 1)[1]:<11} {query}")
        if not ok:
            self.diff.write(f"=== {path} {query}\n{explain()}\n\n")
        return ok

    def summary(self, diff_file):
        if self.peer_wrong:
            print(f"\nwhere {self.peer.capitalize()} is wrong (Cairn's answer counted):")
            for w in self.peer_wrong:
                print("  " + w)
        share = 100.0 * self.agreed / max(self.counted, 1)
        print(f"\nagreement: {self.agreed}/{self.counted} = {share:.1f}% (diffs: {diff_file})")


CAIRN_CONFIG = """
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_port: {grpc}
storage:
  backend: filesystem
  filesystem:
    dir: {dir}/bucket
ingester:
  wal_dir: {dir}/wal
{extra}"""


def arguments(doc, peer, stem):
    """The command line of a parity benchmark named `stem` against `peer`."""
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument(f"--{peer}", required=True, help=f"the {peer} binary, built from source")
    ap.add_argument("--cairn", default=os.path.join(here, "..", "target", "debug", "cairn"))
    ap.add_argument("--queries", default=os.path.join(here, f"{stem}_queries.txt"))
    ap.add_argument("--diff-file", default=f"/tmp/{stem.replace('_', '-')}-diff.txt")
    ap.add_argument("--only", default=None, help="only queries containing this text")
    ap.add_argument("--keep", action="store_true", help="keep the servers up afterwards (Ctrl-C to stop)")
    return ap


@contextlib.contextmanager
def servers(stem, peer, cairn_binary, cairn_ports, cairn_extra=""):
    """Starts the peer and Cairn in a temporary directory and stops them
    (and removes it) on the way out. `peer` is (name, ports, config(dir) ->
    text, argv(config path) -> list, readiness path); yields the two base
    URLs."""
    name, peer_ports, config, argv, ready = peer
    require_free((*peer_ports, *cairn_ports))
    work = tempfile.mkdtemp(prefix=f"{stem}.")
    procs = []
    try:
        os.makedirs(f"{work}/{name}")
        with open(f"{work}/{name}.yaml", "w") as f:
            f.write(config(f"{work}/{name}"))
        with open(f"{work}/cairn.yaml", "w") as f:
            f.write(CAIRN_CONFIG.format(http=cairn_ports[0], grpc=cairn_ports[1], dir=f"{work}/cairn", extra=cairn_extra))
        peer_url = f"http://127.0.0.1:{peer_ports[0]}"
        cairn_url = f"http://127.0.0.1:{cairn_ports[0]}"
        procs.append(start(name, argv(f"{work}/{name}.yaml"), peer_url + ready, f"{work}/{name}.log"))
        procs.append(
            start(
                "cairn",
                [cairn_binary, "--config.file", f"{work}/cairn.yaml", "--log.level", "warn"],
                cairn_url + "/ready",
                f"{work}/cairn.log",
            )
        )
        yield peer_url, cairn_url
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


def keep_up(urls):
    """With --keep: leaves the servers up until Ctrl-C."""
    print("  ".join(urls) + "; Ctrl-C to stop")
    signal.pause()
