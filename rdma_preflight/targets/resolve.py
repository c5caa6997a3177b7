"""Turn ``--nodes`` / ``--nodes-file`` entries into named nodes with a target and a profile.

Target URLs: ``local``, ``ssh://[user@]host[:port]``, ``paramiko://[user@]host[:port]``,
``ansible://PATTERN?inventory=FILE``, ``kube://NODE``, ``netns://NAME``, ``snapshot://PATH``
(directory or .tar.gz). A bare host name means ``ssh://host``.
"""

from __future__ import annotations

import fnmatch
import re
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs

import yaml

from ..timeouts import Timeouts
from .base import NODE_NAME_RE, Target, TargetError

SCHEMES = ("local", "ssh", "paramiko", "ansible", "kube", "netns", "snapshot")
SELECTOR_RE = re.compile(r"^[A-Za-z0-9._/=!,() -]{1,1000}$")   # Kubernetes label selector syntax
HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}$")
USER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class NodesError(Exception):
    """A bad --nodes entry or nodes file (usage error, exit 2)."""


@dataclass(frozen=True)
class TargetSpec:
    scheme: str
    value: str                 # host spec, netns name, node name, path, pattern
    query: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        if self.scheme == "local":
            return "local"
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.scheme}://{self.value}" + (f"?{q}" if q else "")


@dataclass
class NodeSpec:
    name: str
    target: TargetSpec
    profile: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def parse_target(url: str, base_dir: Path | None = None) -> TargetSpec:
    url = url.strip()
    if not url:
        raise NodesError("empty node entry")
    if url == "local":
        return TargetSpec("local", "")
    if "://" not in url:
        url = "ssh://" + url
    scheme, rest = url.split("://", 1)
    if scheme not in SCHEMES:
        raise NodesError(f"unknown target scheme {scheme!r} in {url!r}; use one of {', '.join(SCHEMES)}")
    if scheme == "snapshot":
        p = Path(rest)
        if base_dir is not None and not p.is_absolute():
            p = base_dir / p
        return TargetSpec("snapshot", str(p))
    # not urlsplit: it takes "[...]" for an IPv6 literal and raised on ansible patterns (node-[1:4])
    value, _, qs = rest.partition("?")
    query = {k: v[-1] for k, v in parse_qs(qs.split("#", 1)[0]).items()}
    if scheme in ("ssh", "paramiko"):
        user, _, hostport = value.rpartition("@")
        host = hostport
        if hostport.count(":") == 1:
            host, port = hostport.split(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise NodesError(f"bad port in {url!r}")
        if not HOST_RE.match(host) or (user and not USER_RE.match(user)):
            raise NodesError(f"bad host or user in {url!r}")
    elif scheme == "kube" and value == "*":
        # every Node matching ?selector= (all Nodes without one); expanded against the API
        # server when the run starts (targets/kube_nodes.py)
        if set(query) - {"selector"} or not SELECTOR_RE.match(query.get("selector", "x")):
            raise NodesError(f"{url!r}: kube://* takes only ?selector=LABEL-SELECTOR "
                             "(e.g. kube://*?selector=nvidia.com/gpu.present=true)")
    elif scheme in ("kube", "netns"):
        if not NODE_NAME_RE.match(value):
            raise NodesError(f"bad {scheme} name {value!r}")
    elif scheme == "ansible":
        if "inventory" not in query:
            raise NodesError(f"{url!r}: ansible targets need ?inventory=FILE")
        unknown = set(query) - {"inventory", "force_ansible"}
        if unknown:
            raise NodesError(f"{url!r}: unknown ansible option(s) {', '.join(sorted(unknown))}; "
                             "allowed: inventory, force_ansible")
        from .ansible import check_pattern

        try:
            check_pattern(value)
        except TargetError as exc:
            raise NodesError(f"{url!r}: {exc.reason}") from None
        if base_dir is not None and not Path(query["inventory"]).is_absolute():
            query["inventory"] = str(base_dir / query["inventory"])
    return TargetSpec(scheme, value, query)


def default_name(spec: TargetSpec) -> str:
    if spec.scheme == "local":
        return socket.gethostname()
    if spec.scheme in ("ssh", "paramiko"):
        host = spec.value.rpartition("@")[2]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if spec.scheme == "snapshot":
        name = Path(spec.value).name
        for ext in (".tar.gz", ".tgz"):
            if name.endswith(ext):
                name = name[: -len(ext)]
        return name
    return spec.value


def nodes_from_args(entries: list[str]) -> list[NodeSpec]:
    out = []
    for entry in entries:
        for item in entry.split(","):
            if item.strip():
                spec = parse_target(item)
                out.extend(_expand(spec, None, {}))
    return out


def _expand(spec: TargetSpec, profile: str | None, labels: dict, name: str | None = None) -> list[NodeSpec]:
    if spec.scheme == "ansible":
        from .ansible import expand_inventory

        try:
            hosts = expand_inventory(spec.value, spec.query["inventory"])
        except TargetError as exc:
            raise NodesError(str(exc)) from None
        return [NodeSpec(h, TargetSpec("ansible", h, dict(spec.query)), profile, dict(labels)) for h in hosts]
    return [NodeSpec(name or default_name(spec), spec, profile, dict(labels))]


def load_nodes_file(path: str | Path) -> list[NodeSpec]:
    """A nodes file: ``nodes:`` list of {name, target, profile, labels}; optional
    ``profiles:`` mapping of node-name glob -> profile (first match wins) and ``defaults:``."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise NodesError(f"{p}: nodes file not found") from None
    except yaml.YAMLError as exc:
        raise NodesError(f"{p}: malformed YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise NodesError(f"{p}: a nodes file is a mapping with a 'nodes:' list")
    unknown = set(data) - {"nodes", "profiles", "defaults"}
    if unknown:
        raise NodesError(f"{p}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    base = p.parent
    defaults = data.get("defaults") or {}
    globs = data.get("profiles") or {}
    if not isinstance(globs, dict) or not isinstance(defaults, dict):
        raise NodesError(f"{p}: 'profiles' and 'defaults' must be mappings")
    out: list[NodeSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(data["nodes"]):
        if isinstance(entry, str):
            entry = {"target": entry}
        if not isinstance(entry, dict) or "target" not in entry:
            raise NodesError(f"{p}: nodes[{i}] needs a 'target'")
        bad = set(entry) - {"name", "target", "profile", "labels"}
        if bad:
            raise NodesError(f"{p}: nodes[{i}]: unknown key(s) {', '.join(sorted(bad))}")
        spec = parse_target(str(entry["target"]), base)
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        prof = entry.get("profile")
        name = entry.get("name")
        if name is not None and not NODE_NAME_RE.match(str(name)):
            raise NodesError(f"{p}: nodes[{i}]: bad node name {name!r}")
        for ns in _expand(spec, None, labels, str(name) if name else None):
            chosen = prof
            if chosen is None:
                chosen = next((v for g, v in globs.items() if fnmatch.fnmatchcase(ns.name, g)), None)
            if chosen is None:
                chosen = defaults.get("profile")
            if chosen is not None and not Path(chosen).is_absolute():
                chosen = str(base / chosen)
            ns.profile = chosen
            if ns.name in seen:
                raise NodesError(f"{p}: node {ns.name!r} is listed twice")
            seen.add(ns.name)
            out.append(ns)
    return out


def make_target(node: NodeSpec, ssh_config: str | None = None, identity: str | None = None,
                connect_timeout: float | None = None, kube_options: dict | None = None, *,
                timeouts: Timeouts | None = None, accept_new_host_keys: bool = False) -> Target:
    """The target for a node; every wait it makes is bounded by ``timeouts`` (defaults when
    None; ``connect_timeout``, when given, overrides ``timeouts.connect``)."""
    t = timeouts or Timeouts()
    if connect_timeout is not None and connect_timeout != t.connect:
        t = replace(t, connect=connect_timeout)
    s = node.target
    if s.scheme == "local":
        from .local import LocalTarget
        return LocalTarget(node=node.name, url="local", timeouts=t)
    if s.scheme == "netns":
        from .local import NetnsTarget
        return NetnsTarget(node=node.name, url=s.url, netns=s.value, timeouts=t)
    if s.scheme == "snapshot":
        from .snapshot import SnapshotTarget
        return SnapshotTarget(node=node.name, url=s.url, path=s.value, timeouts=t)
    if s.scheme in ("ssh", "paramiko"):
        from .ssh import SshTarget
        return SshTarget(node=node.name, url=s.url, hostspec=s.value, backend_name=s.scheme,
                         ssh_config=ssh_config, identity_file=identity, timeouts=t,
                         accept_new_host_keys=accept_new_host_keys)
    if s.scheme == "ansible":
        from .ansible import AnsibleTarget
        return AnsibleTarget(node=node.name, url=s.url, inventory=s.query["inventory"], timeouts=t,
                             force_ansible=s.query.get("force_ansible", "").lower() in ("true", "yes", "1"))
    if s.scheme == "kube":
        from .kube import KubeTarget
        return KubeTarget(node=node.name, url=s.url, timeouts=t, **(kube_options or {}))
    raise NodesError(f"unsupported target {s.url}")
