#!/usr/bin/env python3
"""STAND-IN for ib_write_bw (a test double, not perftest): a real process that speaks
perftest's command line and TCP side channel and prints perftest's text, moving no RDMA.

Installed as ``<dir>/ib_write_bw`` by ``doubles.install_standin`` (a wrapper that runs this
file with the plan's path in ``RPF_STANDIN_PLAN``). The plan:
``{"gbps": {"<client ip>-><server ip>": 98.2}, "default": 196.5, "sleep": 0.2, "log": path,
"version": "6.22"}``.

* ``-V``: ``Version: <v>``, exit 1 (as perftest).
* server (no address argument): listens on ``-p`` (all addresses), prints the waiting banner,
  blocks in accept() with no deadline (as perftest: the caller's ``timeout`` ends it),
  checks the client's symmetric flags, prints the report the client sends.
* client: one connect() to ``<address>:-p`` (as perftest: no retry; ``Couldn't connect``
  on failure), sends its flags, "runs" for ``sleep`` seconds, prints the report with the
  planned bandwidth for (its source IP, the server IP) and sends it to the server.
Every process appends ``{role, port, device, local, peer, start, end}`` to ``log``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))

from tests.bandwidth.perftest_text import BANNER, PEAK_WARNING, addresses, header, report  # noqa: E402

VALUED = ("-d", "-i", "-x", "-p", "-D", "-s", "-q")
SYMMETRIC = ("-p", "-D", "-s", "-q", "-F", "--report_gbits")


def parse(argv: list[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv):
        if argv[i] in VALUED:
            flags[argv[i]] = argv[i + 1]
            i += 2
        elif argv[i].startswith("-"):
            flags[argv[i]] = ""
            i += 1
        else:
            flags["server"] = argv[i]
            i += 1
    return flags


def log(plan: dict, entry: dict) -> None:
    if plan.get("log"):
        with open(plan["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")


def server(flags: dict, plan: dict) -> int:
    port = int(flags["-p"])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1)
    sys.stdout.write(BANNER)
    sys.stdout.flush()
    conn, (peer, _) = listener.accept()
    start = time.time()
    stream = conn.makefile("rw")
    hello = json.loads(stream.readline())
    if any(hello["flags"].get(k) != flags.get(k) for k in SYMMETRIC):
        stream.write("mismatch\n")
        stream.flush()
        print(" Failed to exchange data between server and clients")
        return 1
    stream.write("ok\n")
    stream.flush()
    done = json.loads(stream.readline() or "{}")
    local = conn.getsockname()[0]
    qps, size, duration = int(flags["-q"]), int(flags["-s"]), int(flags["-D"])
    sys.stdout.write(header(flags["-d"], qps, int(flags["-x"]) if "-x" in flags else None)
                     + addresses(local, peer) + report(done.get("gbps", 0.0), size, duration))
    log(plan, {"role": "server", "port": port, "device": flags["-d"], "local": local, "peer": peer,
               "start": start, "end": time.time()})
    return 0


def client(flags: dict, plan: dict) -> int:
    host, port = flags["server"], int(flags["-p"])
    try:
        conn = socket.create_connection((host, port))
    except OSError:
        print(f"Couldn't connect to {host}:{port}\n Unable to init the socket connection")
        return 1
    start = time.time()
    stream = conn.makefile("rw")
    stream.write(json.dumps({"flags": {k: flags.get(k) for k in SYMMETRIC}}) + "\n")
    stream.flush()
    if stream.readline().strip() != "ok":
        print(" Failed to exchange data between server and clients")
        return 1
    local = conn.getsockname()[0]
    gbps = float(plan.get("gbps", {}).get(f"{local}->{host}", plan.get("default", 196.5)))
    time.sleep(float(plan.get("sleep", 0.2)))
    qps, size, duration = int(flags["-q"]), int(flags["-s"]), int(flags["-D"])
    sys.stdout.write(header(flags["-d"], qps, int(flags["-x"]) if "-x" in flags else None)
                     + addresses(local, host) + PEAK_WARNING + report(gbps, size, duration))
    stream.write(json.dumps({"gbps": gbps}) + "\n")
    stream.flush()
    log(plan, {"role": "client", "port": port, "device": flags["-d"], "local": local, "peer": host,
               "start": start, "end": time.time()})
    return 0


def main(argv: list[str]) -> int:
    with open(os.environ["RPF_STANDIN_PLAN"]) as f:
        plan = json.load(f)
    flags = parse(argv[1:])
    if "-V" in flags:
        print(f"Version: {plan.get('version', '6.22')}")
        return 1
    return client(flags, plan) if "server" in flags else server(flags, plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
