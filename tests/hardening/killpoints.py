"""Kill points for the remediation-safety tests (tests/hardening/test_kill_points.py).

Three parts, none of which adds a hook to production code:

- ``install(kill_at, log)``: in the process under test, wrap the remediation steps from the
  outside (monkeypatching module attributes) so that every step boundary calls ``point()``.
  ``point`` appends ``<index> <kind> <detail>`` to ``log`` (an O_APPEND write, so it survives
  SIGKILL) and, at boundary number ``kill_at``, sends SIGKILL to its own process -- no
  ``finally``, no atexit, no flush, exactly what a power-cut-like kill leaves behind.
- ``ForkServer``: a long-lived helper process (``python3 -m tests.hardening.killpoints``)
  that imports pytest and rdma_preflight once, then forks one child per request; the child
  installs the kill points and runs the real harness (``pytest.main`` on ``checks/``, the
  same as ``python3 -m pytest checks/ ...``) or the real CLI (``rdma_preflight.cli.main``).
  This only saves the 1-2 s of interpreter start and imports per run (more with
  PYTHONDONTWRITEBYTECODE, when every fresh interpreter compiles everything again); the
  code path is unchanged.
- ``ns_state(netns)``: the full, canonical state of a namespace through pyroute2 (links,
  addresses in kernel order, all rules, routes of every table; IPv4 and IPv6), for
  exact comparisons.

Boundary kinds (``KINDS``): each is a point between two steps of a run; a kill there leaves
the node and the journal exactly as those steps left them.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

KINDS = {
    "lock": "before the node lock is taken (nothing changed, no journal)",
    "journal.create": "lock held, before the journal file exists",
    "journal.partial": "a journal write half done: the temp file is truncated, the journal is the previous version",
    "journal.rename": "a journal write's temp file complete and fsync'd, before the atomic rename",
    "journal.record": "priors captured, before they are journalled (nothing of this plan applied)",
    "action.apply": "journal durable, before an action starts",
    "command": "before one netlink/argv change (between two commands of one action when not its first)",
    "journal.mark": "an action's commands done, before its status is journalled",
    "recheck": "after the last mark, before the node is re-collected and re-checked",
    "rollback.undo": "rollback: before one entry's undo",
    "end": "the process finished its work, before exit",
}


# ---- in the process under test -------------------------------------------------------------

class _Points:
    def __init__(self, kill_at: int | None, log: str):
        self.kill_at = kill_at
        self.n = 0
        self.fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, kind: str, detail: str = "") -> None:
        assert kind in KINDS, kind
        i = self.n
        self.n += 1
        os.write(self.fd, f"{i} {kind} {detail}".rstrip().encode() + b"\n")
        if i == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


point: _Points | None = None


def _wrap(owner, name: str, kind: str, detail=None) -> None:
    """Replace ``owner.name`` by a function calling ``point(kind)`` first."""
    fn = owner.__dict__[name]
    is_cm = isinstance(fn, classmethod)
    inner = fn.__func__ if is_cm else fn

    def wrapped(*args, **kwargs):
        point(kind, detail(*args, **kwargs) if detail else "")
        return inner(*args, **kwargs)

    wrapped.__wrapped__ = inner
    setattr(owner, name, classmethod(wrapped) if is_cm else wrapped)


class _HalfWritten:
    """A file whose ``write`` stops half way at a kill point (the rest follows)."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, text: str) -> int:
        half = len(text) // 2
        self._fh.write(text[:half])
        self._fh.flush()
        point("journal.partial", os.path.basename(self._fh.name))
        return half + self._fh.write(text[half:])

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


class _OsProxy:
    """``os`` for the journal module, with ``replace`` preceded by a kill point."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(src, dst):
        point("journal.rename", os.path.basename(str(dst)))
        return os.replace(src, dst)


def _netlink_detail(self, fn, *args, **kwargs) -> str:
    """``link set index=5 mtu=4200`` for ``NetlinkExecutor._call(ipr.link, "set", ...)``."""
    inner = fn.args[0] if isinstance(fn, functools.partial) and fn.args else fn
    return " ".join([getattr(inner, "__name__", "netlink"), *map(str, args),
                     *(f"{k}={v}" for k, v in kwargs.items())])


def install(kill_at: int | None, log: str) -> None:
    """Wrap every step boundary of apply and rollback (see KINDS)."""
    global point
    point = _Points(kill_at, log)

    from rdma_preflight.harness.session import RunState
    from rdma_preflight.remediation import executor, journal, lock, runner
    from rdma_preflight.remediation.actions import ACTION_KINDS
    from rdma_preflight.remediation.registry import load_all

    load_all()
    real_acquire = runner.acquire

    def acquire(node, target):
        if not lock.is_held(target):            # later plans get the held lock back: no step
            point("lock", node)
        return real_acquire(node, target)

    runner.acquire = acquire
    _wrap(journal.Journal, "create", "journal.create")
    _wrap(journal.Journal, "record", "journal.record", lambda self, check, subject, *a, **k: subject)
    _wrap(journal.Journal, "mark", "journal.mark", lambda self, e, status, *a, **k: f"#{e['seq']} {status}")
    journal.os = _OsProxy()
    journal.open = lambda *a, **k: _HalfWritten(open(*a, **k))
    for cls in set(ACTION_KINDS.values()):
        for meth, kind in (("apply", "action.apply"), ("undo", "rollback.undo")):
            owner = next(c for c in cls.__mro__ if meth in c.__dict__)
            if not hasattr(owner.__dict__[meth], "__wrapped__"):
                _wrap(owner, meth, kind, lambda self, *a, **k: self.KIND)
    _wrap(executor.NetlinkExecutor, "_call", "command", _netlink_detail)
    for meth in ("set_link", "address", "rule", "route"):
        _wrap(executor.ArgvExecutor, meth, "command", lambda self, *a, _m=meth, **k: _m)
    for meth in ("write_file", "remove_file"):
        _wrap(executor.Executor, meth, "command", lambda self, *a, _m=meth, **k: _m)
    _wrap(RunState, "refresh", "recheck", lambda self, st: st.name)


def read_log(log: Path) -> list[tuple[int, str, str]]:
    out = []
    if log.exists():
        for line in log.read_text().splitlines():
            i, kind, *rest = line.split(" ", 2)
            out.append((int(i), kind, rest[0] if rest else ""))
    return out


# ---- the fork server -----------------------------------------------------------------------

def _child(req: dict) -> int:
    os.chdir(req["cwd"])
    os.environ.update(req.get("env", {}))
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    install(req.get("kill_at"), req["log"])
    if req["op"] == "pytest":
        import pytest

        rc = int(pytest.main(list(req["args"])))
    else:
        from rdma_preflight.cli import main

        rc = main(list(req["args"]))
    point("end")
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


def _warm_up() -> None:
    """Import what a run imports, so each forked child starts warm (nothing runs)."""
    import importlib
    import pkgutil

    import _pytest.python  # noqa: F401
    import pytest  # noqa: F401

    import rdma_preflight

    for mod in pkgutil.walk_packages(rdma_preflight.__path__, "rdma_preflight."):
        if mod.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(mod.name)
        except Exception:       # optional extras (ansible ...) are not needed here
            pass
    import pyroute2  # noqa: F401


def serve() -> None:
    """Read one JSON request per line on stdin; fork a child per request; answer on stdout."""
    _warm_up()
    reply = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=reply, flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                rc = _child(req)
            except BaseException:
                traceback.print_exc()
                rc = 70
            os._exit(rc)
        print(json.dumps({"pid": pid}), file=reply, flush=True)
        _, status = os.waitpid(pid, 0)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        print(json.dumps({"rc": rc, "signal": sig}), file=reply, flush=True)


class ForkServer:
    """Client side: ``run("pytest", args, kill_at, log, out)`` -> (rc, signal)."""

    def __init__(self, env: dict[str, str], timeout: float = 120.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.hardening.killpoints"], cwd=REPO,
                                     env={**os.environ, "PYTHONPATH": str(REPO), **env},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self._buf = b""
        self._read(120)

    def _read(self, timeout: float) -> dict:
        """One answer line. Raw reads with our own buffer: the server often writes two lines
        at once, and a buffered file would hide the second one from select()."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("fork server did not answer")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"fork server exited ({self.proc.poll()})")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, op: str, args: list[str], *, log: Path, out: Path, kill_at: int | None = None,
            env: dict[str, str] | None = None) -> tuple[int | None, int | None]:
        req = {"op": op, "args": args, "kill_at": kill_at, "log": str(log), "out": str(out),
               "cwd": str(REPO), "env": env or {}}
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        pid = self._read(60)["pid"]
        try:
            done = self._read(self.timeout)
        except TimeoutError:
            try:
                os.kill(pid, signal.SIGKILL)       # the server's child for this request, by id
            except ProcessLookupError:
                pass
            self._read(30)
            raise TimeoutError(f"{op} {args} did not finish in {self.timeout}s") from None
        return done["rc"], done["signal"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- canonical namespace state -------------------------------------------------------------

IFA_F_TENTATIVE = 0x40
_VOLATILE = {"IFA_CACHEINFO", "RTA_CACHEINFO", "RTA_EXPIRES"}


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "get") and isinstance(getattr(value, "get")("attrs", None), list):
        return tuple(sorted((k, _plain(v)) for k, v in value["attrs"]))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    return repr(value)


def _attrs(msg, names: dict[int, str], skip: set[str] = frozenset()) -> tuple:
    out = []
    for key, value in msg["attrs"]:
        if key in _VOLATILE or key in skip:
            continue
        if key in ("RTA_OIF", "RTA_IIF", "FRA_OIFNAME", "IFA_INDEX"):
            value = names.get(value, value)
        out.append((key, _plain(value)))
    return tuple(sorted(out))


def ns_state(netns: str) -> dict[str, tuple]:
    """Links (name, mtu, operstate, admin up, MAC), addresses per interface in the kernel's
    order (so primary/secondary and the route source follow), every rule, every route of
    every table -- IPv4 and IPv6 -- as sorted tuples: equal iff the namespace is the same."""
    from rdma_preflight.netlink import open_netlink

    ipr = open_netlink(netns)
    try:
        linkmsgs = ipr.get_links()
        names = {m["index"]: m.get("IFLA_IFNAME") for m in linkmsgs}
        links = tuple(sorted((m.get("IFLA_IFNAME"), m.get("IFLA_MTU"), m.get("IFLA_OPERSTATE"),
                              bool(m["flags"] & 1), m.get("IFLA_ADDRESS")) for m in linkmsgs))
        addrs, per_if = [], {}
        for family in (socket.AF_INET, socket.AF_INET6):
            for m in ipr.get_addr(family=family):
                ifname = names.get(m["index"])
                pos = per_if[(ifname, family)] = per_if.get((ifname, family), -1) + 1
                addrs.append((ifname, family, pos, m["prefixlen"], m["scope"], m["flags"], _attrs(m, names)))
        rules, routes = [], []
        for family in (socket.AF_INET, socket.AF_INET6):
            for m in ipr.get_rules(family=family):
                rules.append((family, m["dst_len"], m["src_len"], m["tos"], m["table"], m["action"], m["flags"],
                              _attrs(m, names)))
            for m in ipr.route("dump", family=family):
                routes.append((family, m["dst_len"], m["src_len"], m["tos"], m["table"], m["proto"], m["scope"],
                               m["type"], m["flags"], _attrs(m, names)))
    finally:
        ipr.close()
    return {"links": links, "addresses": tuple(sorted(addrs, key=repr)), "rules": tuple(sorted(rules, key=repr)),
            "routes": tuple(sorted(routes, key=repr))}


def state_diff(want: dict, have: dict) -> dict[str, tuple[list, list]]:
    """Per part: (rows only in ``want``, rows only in ``have``)."""
    out = {}
    for part in want:
        a, b = list(want[part]), list(have[part])
        if a != b:
            out[part] = ([r for r in a if r not in b], [r for r in b if r not in a])
    return out


def settled_state(netns: str, want: dict | None = None, timeout: float = 5.0, stable_for: float = 0.2) -> dict:
    """``ns_state`` once the kernel has settled (operstate and IPv6 DAD are asynchronous):
    with ``want``, the first read equal to it (else the last read at ``timeout``); without,
    the first read that stayed the same for ``stable_for`` seconds with no tentative address."""
    deadline = time.monotonic() + timeout
    last, since = ns_state(netns), time.monotonic()
    while True:
        if want is not None and last == want:
            return last
        tentative = any(row[5] & IFA_F_TENTATIVE for row in last["addresses"])
        if want is None and not tentative and time.monotonic() - since >= stable_for:
            return last
        if time.monotonic() >= deadline:
            return last
        time.sleep(0.05)
        now = ns_state(netns)
        if now != last:
            last, since = now, time.monotonic()

if __name__ == "__main__":
    serve()
