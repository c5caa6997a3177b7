"""Host key pinning for ``paramiko://`` targets (issue 9, security).

testinfra's paramiko backend never loads a known_hosts file and accepts any key it has not
seen (``WarningPolicy``; ``IgnorePolicy`` with ``StrictHostKeyChecking no``), so a node's
identity was never checked. ``PinnedParamikoBackend`` is that backend with host keys
verified the way OpenSSH does, before authenticating:

* the keys come from the ssh_config's ``UserKnownHostsFile`` (else ``~/.ssh/known_hosts``)
  and ``GlobalKnownHostsFile`` (else ``/etc/ssh/ssh_known_hosts``), looked up by
  ``HostKeyAlias`` when set, else by ``host`` / ``[host]:port`` (hashed entries too);
* a known key that differs is refused (paramiko's ``BadHostKeyException``), always;
* an unknown key is refused with how to add it, unless accepting new keys was asked for
  (``--ssh-accept-new-host-keys``, or ``StrictHostKeyChecking accept-new``/``no`` in the
  ssh_config): then it is trusted on first use and appended to the user known_hosts file.
  A changed key is refused even then.

It hooks in through the backend's own ``_load_ssh_config`` step, which runs on the client
before ``connect`` (an ssh_config is therefore always given: the default one, or an empty
one); the connect, banner, authentication and channel timeouts are set there too.
"""

from __future__ import annotations

import functools
import os
import shlex
import threading

import paramiko
from testinfra.backend.paramiko import ParamikoBackend

from ..timeouts import DEFAULTS, Timeouts

DEFAULT_USER_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
ACCEPT_NEW_FLAG = "--ssh-accept-new-host-keys"
_WRITE_LOCK = threading.Lock()


class HostKeyError(paramiko.SSHException):
    """The node's host key is not trusted; ``str()`` is the one-line reason."""


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint            # "SHA256:..." as ssh-keygen -l prints it


def _expand(path: str) -> str:
    home = os.path.expanduser("~")
    return os.path.expanduser(path.replace("%d", home).replace("%%", "%"))


def _paths(value: str | None, default: str) -> list[str]:
    if value is None:
        return [_expand(default)]
    if value.strip().lower() == "none":
        return []
    return [_expand(p) for p in shlex.split(value)]


class KnownHosts:
    """The known_hosts files of one connection: read them all, write new keys to the first."""

    def __init__(self, user_files: list[str], global_files: list[str]):
        self.user_files = user_files
        self.global_files = global_files

    @classmethod
    def from_ssh_options(cls, opts: dict) -> "KnownHosts":
        return cls(_paths(opts.get("userknownhostsfile"), DEFAULT_USER_KNOWN_HOSTS),
                   _paths(opts.get("globalknownhostsfile"), DEFAULT_GLOBAL_KNOWN_HOSTS))

    @property
    def files(self) -> list[str]:
        return self.user_files + self.global_files

    def describe(self) -> str:
        return " or ".join(self.user_files or self.files) or "(no known_hosts file: UserKnownHostsFile none)"

    def lookup(self, name: str) -> dict[str, paramiko.PKey]:
        """Key type -> key for ``name``, from every file (user files first)."""
        found: dict[str, paramiko.PKey] = {}
        for path in self.files:
            keys = paramiko.HostKeys()
            try:
                keys.load(path)
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError):
                continue                  # unreadable: as OpenSSH, it contributes nothing
            for ktype, key in (keys.lookup(name) or {}).items():
                found.setdefault(ktype, key)
        return found

    def remember(self, name: str, key: paramiko.PKey) -> str:
        """Append ``name``'s key to the first user known_hosts file (trust on first use)."""
        if not self.user_files:
            raise HostKeyError("cannot record a new host key: UserKnownHostsFile is none")
        path = self.user_files[0]
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        with _WRITE_LOCK:
            parent = os.path.dirname(path)
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                with open(path, "rb") as f:
                    data = f.read()
                if data and not data.endswith(b"\n"):
                    line = "\n" + line
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return path


class PinPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko for a key the known_hosts files do not list for the host."""

    def __init__(self, backend: "PinnedParamikoBackend", accept_new: bool):
        self.backend = backend
        self.accept_new = accept_new

    def missing_host_key(self, client, hostname, key) -> None:
        b = self.backend
        if not self.accept_new:
            raise HostKeyError(b.unknown_key_message(key))
        b.known.remember(b.key_name, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        b.accepted_new = True


class PinnedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, verifying host keys against known_hosts (see module doc)."""

    def __init__(self, hostspec: str, *, node: str, timeouts: Timeouts = DEFAULTS, accept_new: bool = False,
                 ssh_config: str | None = None, ssh_identity_file: str | None = None, **kwargs):
        if ssh_config is None:
            # what testinfra falls back to, made explicit so the pre-connect hook always runs
            default = os.path.expanduser("~/.ssh/config")
            ssh_config = default if os.path.exists(default) else os.devnull
        self.given_ssh_config = ssh_config
        super().__init__(hostspec, ssh_config=ssh_config, ssh_identity_file=ssh_identity_file,
                         timeout=max(1, int(round(timeouts.connect))), **kwargs)
        self.node = node
        self.timeouts = timeouts
        self.accept_new = accept_new
        self.accepted_new = False
        self.known = KnownHosts.from_ssh_options({})
        self.key_name = self.host.name
        self._ssh_opts: dict[str, str] = {}
        self._cfg: dict = {}
        self._pending: paramiko.SSHClient | None = None

    # -- the hook: runs on the client after testinfra applied the ssh_config, before connect
    def _load_ssh_config(self, client, cfg, ssh_config, ssh_config_dir="~/.ssh") -> None:
        super()._load_ssh_config(client, cfg, ssh_config, ssh_config_dir)
        for key, value in ssh_config.lookup(self.host.name).items():
            if key in ("userknownhostsfile", "globalknownhostsfile", "hostkeyalias", "stricthostkeychecking",
                       "proxycommand"):
                self._ssh_opts.setdefault(key, value)   # ssh_config(5): the first value obtained wins
        t = self.timeouts.connect
        cfg.update(timeout=t, banner_timeout=t, auth_timeout=t, channel_timeout=t)
        self._pin(client, cfg)

    def _pin(self, client: paramiko.SSHClient, cfg: dict) -> None:
        port = int(cfg.get("port") or 22)
        host = cfg.get("hostname") or self.host.name
        server_name = host if port == 22 else f"[{host}]:{port}"    # the name paramiko checks
        self.key_name = self._ssh_opts.get("hostkeyalias") or server_name
        self.known = KnownHosts.from_ssh_options(self._ssh_opts)
        keys = client.get_host_keys()
        keys.clear()
        for ktype, key in self.known.lookup(self.key_name).items():
            keys.add(server_name, ktype, key)
        strict = str(self._ssh_opts.get("stricthostkeychecking", "")).lower()
        client.set_missing_host_key_policy(PinPolicy(self, self.accept_new or strict in ("accept-new", "no", "off")))
        self._cfg = dict(cfg)
        self._pending = client

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        self._pending = None
        try:
            client = super().client
        except BaseException:
            if self._pending is not None:
                self._pending.close()
            raise
        if self._pending is not client:     # fail closed: never use an unpinned client
            client.close()
            raise HostKeyError(f"host key checking could not be set up for {self.node}")
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(max(1, int(round(self.timeouts.ssh_alive_interval))))
        return client

    # -- messages -------------------------------------------------------------------------
    def unknown_key_message(self, key: paramiko.PKey) -> str:
        return (f"host key for {self.node} ({self.key_name}: {key.get_name()} {fingerprint(key)}) is not in "
                f"{self.known.describe()}; check the fingerprint and add it with `{self.add_hint()}`, "
                f"or pass {ACCEPT_NEW_FLAG} to trust it on first use")

    def changed_key_message(self, offered: paramiko.PKey, known: paramiko.PKey) -> str:
        where = self.known.user_files[0] if self.known.user_files else self.known.describe()
        return (f"host key for {self.node} ({self.key_name}) CHANGED: {self.known.describe()} has "
                f"{known.get_name()} {fingerprint(known)}, the node offered {offered.get_name()} "
                f"{fingerprint(offered)}; refusing to connect (possible man-in-the-middle). If the node was "
                f"reinstalled, remove the old key with `ssh-keygen -R {self.key_name} -f {where}` and add the new one")

    def add_hint(self) -> str:
        target = self.known.user_files[0] if self.known.user_files else DEFAULT_USER_KNOWN_HOSTS
        if self._ssh_opts.get("hostkeyalias") or self._ssh_opts.get("proxycommand"):
            cfg = "" if self.given_ssh_config in (None, os.devnull) else f"-F {self.given_ssh_config} "
            port = f"-p {self.host.port} " if self.host.port else ""
            user = f"{self.host.user}@" if self.host.user else ""
            return f"ssh {cfg}{port}-o StrictHostKeyChecking=accept-new {user}{self.host.name} true"
        port = int(self._cfg.get("port") or 22)
        host = self._cfg.get("hostname") or self.host.name
        return f"ssh-keyscan {'' if port == 22 else f'-p {port} '}{host} >> {target}"
