"""``ansible://PATTERN?inventory=FILE``: hosts from an Ansible inventory (needs the optional
``ansible`` extra: ``pip install 'rdma-preflight[ansible]'``, i.e. ansible-core).

The inventory is read with ``ansible-inventory --list`` (once per process and file version,
bounded by ``timeouts.ansible_grace``). PATTERN selects hosts like Ansible does for names,
groups and globs: terms separated by ``,`` or ``:``, ``&term`` intersects, ``!term`` excludes
(regex terms, ``~...``, are refused). Each matching host becomes one node, named as in the
inventory. How a command then reaches the host:

- ``ansible_connection`` ``ssh``/``smart`` (Ansible's default) with key authentication, or
  ``local``: pytest-testinfra's mapping of the host's variables (``ansible_host``,
  ``ansible_user``, ``ansible_port``, ``ansible_ssh_common_args``/``extra_args``, the private
  key, ``ansible_become``, ``ssh_args`` of ansible.cfg) builds ONE OpenSSH invocation (or a
  local ``sh -c``), run like ``ssh://``: ``BatchMode=yes``, ``ConnectTimeout`` and keepalive
  from the timeouts, no ControlMaster left running, the process group killed at the deadline,
  stdout byte-exact. Host keys are OpenSSH's business on this path, as for ``ssh://`` (the
  inventory's ssh options, ssh_config, known_hosts); Ansible's ``host_key_checking`` setting
  is not consulted.
- anything else (another connection plugin, ``ansible_ssh_pass``/``ansible_password``, or
  ``force_ansible=true`` in the URL): the ``ansible`` CLI, ad hoc, module ``raw`` (no Python
  needed on the node). The command and its stdin travel base64-encoded inside a fixed POSIX
  sh wrapper, since Ansible templates module arguments (``${#x}`` in a shell script is a
  Jinja comment opener) and its callbacks carry text, not bytes; the wrapper returns the
  command's exit code, stdout and stderr base64-encoded between nonce markers.

Either way the command runs under ``timeout N`` on the node (N = the command timeout, whole
seconds) and this machine waits ``timeouts.ansible_grace`` longer for ssh or ansible itself.
The library sets no ``ANSIBLE_*`` variable except ``ANSIBLE_VERBOSITY=0`` for
``ansible-inventory`` (verbose output would corrupt its JSON on stdout); ansible.cfg and the
environment of the run apply as for any Ansible command. Reasons never carry the ssh command
line, and the values of the host's password variables are scrubbed from them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import fnmatch
import json
import math
import os
import re
import secrets
import shlex
import shutil
import threading
from dataclasses import dataclass, field

from ..timeouts import DEFAULTS
from .base import NODE_NAME_RE, CommandResult, Target, TargetError, TimedOut
from .local import run_subprocess
from .ssh import _last_line

INSTALL_HINT = "ansible:// needs ansible-core: pip install 'rdma-preflight[ansible]'"
# host pattern characters: names, globs, groups, `,`/`:` separators, `&` and `!` prefixes
PATTERN_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]!&,:-]{1,1000}$")
# hostvars whose values are credentials: scrubbed from every reason
SECRET_VARS = ("ansible_ssh_pass", "ansible_password", "ansible_become_pass", "ansible_become_password",
               "ansible_sudo_pass", "ansible_ssh_private_key_passphrase")
# the ``-a`` argument stays well below Linux's 128 KiB limit for one argv string
MAX_ARG_CHARS = 120 * 1024
# GNU `timeout`'s exit code when it ended the command
EXPIRED_RC = 124

# Runs on the node (``sh -c WRAPPER rpf NONCE CMD_B64 STDIN_B64``): decodes the command, feeds
# it the decoded stdin, keeps stdout and stderr apart in temp files, prints
# RPF<nonce>:<rc>:<stdout b64>:<stderr b64>:RPF<nonce> on one line. No braces, no quote '.
WRAPPER = (
    'n=$1; c=$(printf %s "$2" | base64 -d) || exit 125; '
    'o=$(mktemp) && e=$(mktemp) || exit 125; '
    'printf %s "$3" | base64 -d | eval "$c" >"$o" 2>"$e"; r=$?; '
    'printf "RPF%s:%s:" "$n" "$r"; base64 <"$o" | tr -d "\\n"; printf :; '
    'base64 <"$e" | tr -d "\\n"; printf ":RPF%s\\n" "$n"; rm -f "$o" "$e"'
)


# -- the inventory ---------------------------------------------------------------------------

_INVENTORIES: dict[tuple, dict] = {}
_INVENTORY_LOCK = threading.Lock()


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def load_inventory(inventory: str, timeout: float, node: str) -> dict:
    """``ansible-inventory --list`` of ``inventory`` (cached per file version; one at a time)."""
    if shutil.which("ansible-inventory") is None:
        raise TargetError(node, f"{INSTALL_HINT} (ansible-inventory is not on PATH)")
    key = (os.path.abspath(inventory), _stamp(inventory))
    with _INVENTORY_LOCK:
        if key in _INVENTORIES:
            return _INVENTORIES[key]
        argv = ["env", "ANSIBLE_VERBOSITY=0", "ansible-inventory", "--list", f"--inventory={inventory}"]
        try:
            res = run_subprocess(node, argv, None, timeout)
        except TimedOut:
            raise TargetError(node, f"reading inventory {inventory} timed out after {timeout:g}s "
                                    "(ansible_grace)") from None
        why = _last_line(res.stderr, "")
        try:
            data = json.loads(res.stdout) if res.rc == 0 else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TargetError(node, f"cannot read inventory {inventory}: {why or f'exit {res.rc}'}")
        if not any(True for _ in _group_hosts(data, "all")):
            raise TargetError(node, f"cannot read inventory {inventory}: no hosts in it"
                                    + (f" ({why})" if why else ""))
        _INVENTORIES[key] = data
        return data


def _group_hosts(data: dict, group: str, seen: frozenset = frozenset()):
    if group in seen:
        return
    entry = data.get(group) or {}
    yield from entry.get("hosts", [])
    for child in entry.get("children", []):
        yield from _group_hosts(data, child, seen | {group})


def _match(data: dict, term: str) -> set[str]:
    """Hosts of a group or host name/glob (fnmatch, as pytest-testinfra does)."""
    out: set[str] = set()
    for group in data:
        if group == "_meta":
            continue
        if fnmatch.fnmatchcase(group, term):
            out.update(_group_hosts(data, group))
        out.update(h for h in (data[group] or {}).get("hosts", []) if fnmatch.fnmatchcase(h, term))
    out.update(h for h in data.get("_meta", {}).get("hostvars", {}) if fnmatch.fnmatchcase(h, term))
    return out


def check_pattern(pattern: str) -> list[str]:
    """The terms of an Ansible host pattern; TargetError for anything else."""
    if not PATTERN_RE.match(pattern or ""):
        raise TargetError(pattern or "?", f"bad ansible host pattern {pattern!r}: use host and group names, "
                                          "globs (* ? [..]), ',' or ':' between terms, '&' and '!' prefixes")
    terms = [t for t in re.split(r"[,:]", pattern) if t]
    if not terms or any(not t.lstrip("&!") or t.lstrip("&!").startswith("-") for t in terms):
        raise TargetError(pattern, f"bad ansible host pattern {pattern!r}")
    return terms


def select_hosts(data: dict, pattern: str) -> list[str]:
    """Ansible's order: the union of plain terms, then ``&`` intersections, then ``!`` exclusions."""
    terms = check_pattern(pattern)
    plain = [t for t in terms if t[0] not in "&!"]
    hosts: set[str] = set().union(*(_match(data, t) for t in plain)) if plain else set(_group_hosts(data, "all"))
    for t in terms:
        if t.startswith("&"):
            hosts &= _match(data, t[1:])
    for t in terms:
        if t.startswith("!"):
            hosts -= _match(data, t[1:])
    return sorted(hosts)


def expand_inventory(pattern: str, inventory: str, timeout: float = DEFAULTS.ansible_grace) -> list[str]:
    """Host names matching an Ansible pattern in an inventory (each a valid node name)."""
    check_pattern(pattern)
    hosts = select_hosts(load_inventory(inventory, timeout, pattern), pattern)
    if not hosts:
        raise TargetError(pattern, f"no host of inventory {inventory} matches {pattern!r}")
    bad = [h for h in hosts if not NODE_NAME_RE.match(h)]
    if bad:
        raise TargetError(pattern, f"inventory {inventory}: host name {bad[0]!r} is not usable as a node name "
                                   "(letters, digits, '.', '_', '-'; set ansible_host for addresses)")
    return hosts


# -- the target ------------------------------------------------------------------------------

@dataclass
class _Route:
    kind: str                       # "ssh" | "local" | "ansible"
    backend: object = None          # the testinfra backend of "ssh" / "local"
    secrets: tuple[str, ...] = ()
    why: str = ""                   # why the ansible CLI is used


@dataclass
class AnsibleTarget(Target):
    inventory: str = ""
    force_ansible: bool = False
    _route: _Route | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not NODE_NAME_RE.match(self.node):
            raise TargetError(self.node, f"bad ansible host name {self.node!r}")

    def route(self) -> _Route:
        """How this host is reached (decided once, from the inventory)."""
        if self._route is None:
            self._route = self._resolve()
        return self._route

    def _resolve(self) -> _Route:
        data = load_inventory(self.inventory, self.timeouts.ansible_grace, self.node)
        if self.node not in set(_group_hosts(data, "all")):
            raise TargetError(self.node, f"not a host of inventory {self.inventory}")
        hostvars = data.get("_meta", {}).get("hostvars", {}).get(self.node, {})
        found = tuple(str(hostvars[k]) for k in SECRET_VARS if hostvars.get(k))
        if self.force_ansible:
            return _Route("ansible", secrets=found, why="force_ansible")
        try:
            import testinfra.utils.ansible_runner as ar
            from testinfra.backend.local import LocalBackend
            from testinfra.backend.ssh import SafeSshBackend, SshBackend

            host = ar.get_ansible_host(ar.get_ansible_config(), data, self.node)
        except Exception as exc:       # testinfra's mapping failed: Ansible itself knows better
            return _Route("ansible", secrets=found, why=f"testinfra: {type(exc).__name__}")
        backend = getattr(host, "backend", None)
        if isinstance(backend, LocalBackend):
            return _Route("local", backend=backend, secrets=found)
        if isinstance(backend, SshBackend) and not isinstance(backend, SafeSshBackend) and not backend.host.password:
            return _Route("ssh", backend=backend, secrets=found)
        return _Route("ansible", secrets=found,
                      why="password" if isinstance(backend, SshBackend) else f"connection {type(backend).__name__}")

    def _scrub(self, text: str) -> str:
        for s in self._route.secrets if self._route else ():
            text = text.replace(s, "***")
        return text

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        route = self.route()
        remote = shlex.join(["timeout", str(max(1, math.ceil(timeout))), *argv])
        wait = timeout + self.timeouts.ansible_grace
        try:
            if route.kind == "ansible":
                res = self._run_ansible(remote, stdin, wait)
            else:
                res = self._run_direct(route, remote, stdin, wait)
        except TimedOut as exc:
            raise TimedOut(self.node, f"timed out after {timeout:g}s (ansible): no answer "
                                      f"{self.timeouts.ansible_grace:g}s past the remote timeout",
                           partial=exc.partial) from None
        except TargetError as exc:
            raise type(exc)(self.node, self._scrub(exc.reason)) from None
        res.argv = argv
        if res.rc == EXPIRED_RC:      # the node's `timeout N` ended the command
            raise TimedOut(self.node, f"timed out after {timeout:g}s (ansible)", partial=res.stdout)
        return res

    def _run_direct(self, route: _Route, remote: str, stdin: bytes | None, wait: float) -> CommandResult:
        b = copy.copy(route.backend)                 # testinfra caches its hosts: never mutate them
        if route.kind == "local":
            return run_subprocess(self.node, ["sh", "-c", b.get_command(remote)], stdin, wait)
        from .ssh import SshTarget, _ssh_failure

        t = self.timeouts
        ours = SshTarget(node=self.node, url=self.url, timeouts=t).ssh_extra_args()
        b.ssh_extra_args = " ".join(a for a in (b.ssh_extra_args, ours) if a)
        b.timeout = max(1, int(round(t.connect)))
        b.controlpersist = 0                          # no ControlMaster process left behind
        cmd, cmd_args = b._build_ssh_command(b.get_command(remote))
        res = run_subprocess(self.node, ["sh", "-c", b.quote(" ".join(cmd), *cmd_args)], stdin, wait)
        if res.rc == 255:
            raise TargetError(self.node, "ssh failed: " + self._scrub(_ssh_failure(res.stderr, t.connect)))
        return res

    def _run_ansible(self, remote: str, stdin: bytes | None, wait: float) -> CommandResult:
        if shutil.which("ansible") is None:
            raise TargetError(self.node, f"{INSTALL_HINT} (ansible is not on PATH)")
        nonce = secrets.token_hex(8)
        raw = shlex.join(["sh", "-c", WRAPPER, "rpf", nonce, base64.b64encode(remote.encode()).decode(),
                          base64.b64encode(stdin or b"").decode()])
        arg = json.dumps({"_raw_params": raw})
        if len(arg) > MAX_ARG_CHARS:
            raise TargetError(self.node, f"command too long for the ansible command line ({len(arg)} characters)")
        connect = max(1, int(round(self.timeouts.connect)))
        argv = ["ansible", f"--inventory={self.inventory}", "--module-name=ansible.builtin.raw", f"--args={arg}",
                f"--timeout={connect}", self.node]
        res = run_subprocess(self.node, argv, None, wait, kill_tree=True)
        m = re.search(rb"RPF" + nonce.encode() + rb":(\d+):([A-Za-z0-9+/=]*):([A-Za-z0-9+/=]*):RPF"
                      + nonce.encode(), res.stdout)
        if m is None:
            raise TargetError(self.node, self._scrub(_ansible_failure(res, self.timeouts.connect)))
        try:
            out, err = base64.b64decode(m.group(2)), base64.b64decode(m.group(3))
        except (binascii.Error, ValueError):
            raise TargetError(self.node, "ansible: undecodable output from the node") from None
        return CommandResult(argv=[], rc=int(m.group(1)), stdout=out, stderr=err)


_VERDICT = re.compile(r"\|\s*(UNREACHABLE|FAILED)!?\s*(?:\|\s*rc=(-?\d+)\s*)?(?:=>\s*(\{.*?\n\}))?", re.S)


def _ansible_failure(res: CommandResult, connect_timeout: float) -> str:
    """Why an ad hoc ``ansible`` call brought back no wrapper output, in one line (never its
    command line)."""
    from .ssh import _ssh_failure

    text = res.stdout.decode(errors="replace")
    m = _VERDICT.search(text)
    msg = ""
    if m and m.group(3):
        try:
            msg = str(json.loads(m.group(3)).get("msg", ""))
        except ValueError:
            msg = ""
    msg = re.sub(r"^Task failed: ", "", msg.strip())
    if m and m.group(1) == "UNREACHABLE":
        # "Failed to connect to the host via ssh: <ssh's stderr>": the line naming the failure
        why = _ssh_failure(re.sub(r"^Failed to connect to the host via [\w.]+: ", "", msg).encode(), connect_timeout)
        return "ansible: " + (why if why.startswith("unreachable: ") else f"unreachable: {why}")
    if m and m.group(1) == "FAILED":
        rc = f" (exit {m.group(2)})" if m.group(2) else ""
        first = msg.splitlines()[0][:200] if msg else ""
        return f"ansible: the command failed on the node{rc}" + (f": {first}" if first else "")
    errors = [l for l in res.stderr.decode(errors="replace").splitlines() if "[ERROR]" in l or "[WARNING]" in l]
    if res.rc == 0 and any("Could not match supplied host pattern" in l for l in errors):
        return "ansible: the host is not in the inventory"
    why = errors[0].strip() if errors else _last_line(res.stderr, "") or f"exit {res.rc}"
    return f"ansible: {why}"[:300]
