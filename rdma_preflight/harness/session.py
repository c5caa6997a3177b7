"""The state of one run: options, nodes and their profiles, gathered facts, records.

Facts are gathered once per node per run, concurrently, the first time pytest asks for the
check items; every check item then reads the same NodeFacts.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..checks.context import NodeContext, Rail, node_context
from ..checks.registry import CheckSpec, load_all
from ..collect.gather import Gathered, gather_all
from ..profile.loader import LoadedProfile, ProfileError, load_profile
from ..profile.schema import Profile
from ..targets.base import TargetError
from ..targets.resolve import NodeSpec, NodesError, load_nodes_file, make_target, nodes_from_args
from ..timeouts import Timeouts
from .progress import Progress
from .records import RecordStore

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FLEET = REPO_ROOT / "examples" / "fleet.yaml"


class UsageError(Exception):
    """Bad options, nodes or profile: exit code 2."""


@dataclass
class Options:
    profile: str | None = None
    nodes: list[str] = field(default_factory=list)
    nodes_file: str | None = None
    remediate: str = "off"
    report_dir: str | None = None
    select: list[str] = field(default_factory=list)
    deselect: list[str] = field(default_factory=list)
    ssh_config: str | None = None
    ssh_identity: str | None = None
    concurrency: int = 16
    collect_timeout: float | None = None     # = timeouts.collect (--collect-timeout)
    connect_timeout: float | None = None     # = timeouts.connect (--connect-timeout)
    kubeconfig: str | None = None
    waivers: str | None = None
    baseline: str | None = None
    yes: bool = False
    journal_dir: str | None = None
    acceptance: bool = False
    kube_namespace: str = "rdma-preflight"
    kube_image: str | None = None
    granularity: str = "auto"        # rail: an item per rail; node: per node; fleet: per check
    timeouts: Timeouts | None = None  # every timeout of the run (rdma_preflight/timeouts.py)
    ssh_accept_new_host_keys: bool = False   # trust a node's first host key (recorded in known_hosts)

    def __post_init__(self) -> None:
        # --connect-timeout / --collect-timeout are two fields of ``timeouts``; keep them in step
        t = self.timeouts or Timeouts()
        over = {k: v for k, v in (("connect", self.connect_timeout), ("collect", self.collect_timeout))
                if v is not None and self.timeouts is None}
        self.timeouts = replace(t, **over) if over else t
        self.connect_timeout = self.timeouts.connect
        self.collect_timeout = self.timeouts.collect


APPLY_CONFIRM_NODES = 5             # apply on more nodes than this needs --yes
AUTO_NODE_GRANULARITY = 64           # above this many nodes, auto means node granularity
AUTO_FLEET_GRANULARITY = 500         # above this many, auto means one item per check (fleet)


@dataclass
class NodeState:
    spec: NodeSpec
    loaded: LoadedProfile | None = None
    profile: Profile | None = None
    gathered: Gathered | None = None
    ctx: NodeContext | None = None
    error: str | None = None          # unreachable / unreadable / bad profile for this node

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Subject:
    """One test item: a check on a node (and rail), or, with ``node=None``, a check on every
    node of the run (``--granularity fleet``)."""

    check: CheckSpec
    node: NodeState | None
    rail: Rail | None = None
    fleet: list[NodeState] | None = None

    @property
    def id(self) -> str:
        if self.node is None:
            return f"fleet-{len(self.fleet or [])}-nodes"
        if self.rail is None:
            return self.node.name
        return f"{self.node.name}:{self.rail.name}:{self.rail.netdev or 'missing'}"

    def __repr__(self) -> str:  # shown by pytest when ids are not used
        return f"Subject({self.check.id} {self.id})"


class RunState:
    def __init__(self, opts: Options, out=sys.stderr):
        self.opts = opts
        self.out = out
        self.nodes: dict[str, NodeState] = {}
        self.store = RecordStore()
        self.registry = load_all()
        self.gathered = False
        self.used_example = False
        self.started = time.time()
        self.finished: float | None = None
        self._profiles: dict[str, LoadedProfile] = {}
        self.notes: list[str] = []
        self.interrupted = False
        self.usage_error: str | None = None

    # -- nodes and profiles -------------------------------------------------------------
    def resolve_nodes(self) -> None:
        o = self.opts
        try:
            specs: list[NodeSpec] = []
            if o.nodes_file:
                specs += load_nodes_file(o.nodes_file)
            if o.nodes:
                specs += nodes_from_args(o.nodes)
            if not specs:
                self.used_example = True
                specs = load_nodes_file(EXAMPLE_FLEET)
            from ..targets.kube_nodes import expand_selectors

            specs = expand_selectors(specs, o.kubeconfig, o.timeouts)
        except NodesError as exc:
            raise UsageError(str(exc)) from None
        names = [s.name for s in specs]
        if o.remediate == "apply" and len(specs) > APPLY_CONFIRM_NODES and not o.yes:
            raise UsageError(f"--remediate apply on {len(specs)} nodes needs --yes (more than "
                             f"{APPLY_CONFIRM_NODES}); run --remediate plan first to see every action")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UsageError(f"node(s) listed twice: {', '.join(sorted(dup))}")
        for s in specs:
            # a nodes file's per-node profile wins; --profile covers the rest
            path = s.profile or o.profile
            if path is None:
                raise UsageError(f"node {s.name}: no profile (give --profile or a profile in the nodes file)")
            st = NodeState(spec=s)
            try:
                st.loaded = self._load(path)
                st.profile = st.loaded.for_node(s.name, s.labels)
            except ProfileError as exc:
                raise UsageError(str(exc)) from None
            self.nodes[s.name] = st

    def _load(self, path: str) -> LoadedProfile:
        key = str(Path(path).resolve()) if Path(path).exists() else path
        if key not in self._profiles:
            self._profiles[key] = load_profile(path)
        return self._profiles[key]

    # -- facts --------------------------------------------------------------------------
    def gather(self) -> None:
        if self.gathered:
            return
        self.gathered = True
        targets = []
        for st in self.nodes.values():
            try:
                targets.append(self.make_target(st))
            except (TargetError, NodesError) as exc:
                st.error = str(exc)
        progress = Progress("collecting facts", len(targets), self.out)
        results = gather_all(targets, self.opts.concurrency, self.opts.timeouts.collect,
                             on_done=lambda g, i, n: progress.step(f"{g.node} {'ok' if g.facts else 'ERROR'}"))
        progress.done()
        for name, g in results.items():
            st = self.nodes[name]
            st.gathered = g
            if g.facts is None:
                st.error = g.error or "no facts"
            else:
                st.ctx = node_context(name, st.profile, g.facts)
        self.attach_cluster()

    def attach_cluster(self) -> None:
        """Cluster facts (k8s.* checks) are read once per run, when a cluster is given."""
        try:
            from ..k8s.harness import attach_cluster_facts
        except ImportError:
            return
        self.cluster = attach_cluster_facts(self)

    def refresh(self, st: NodeState) -> None:
        """Re-collect one node (after remediation) and rebuild its context."""
        target = self.make_target(st)
        from ..collect.gather import gather_node

        g = gather_node(target, self.opts.timeouts.collect)
        st.gathered = g
        if g.facts is None:
            st.error = g.error
            st.ctx = None
        else:
            st.ctx = node_context(st.name, st.profile, g.facts)
            st.ctx.cluster = getattr(self, "cluster", None)

    def make_target(self, st: NodeState):
        """The node's target with the run's ssh options and timeouts."""
        return make_target(st.spec, self.opts.ssh_config, self.opts.ssh_identity, kube_options=self.kube_options(st),
                           timeouts=self.opts.timeouts, accept_new_host_keys=self.opts.ssh_accept_new_host_keys)

    @property
    def granularity(self) -> str:
        g = self.opts.granularity
        if g == "auto":
            n = len(self.nodes)
            return "fleet" if n > AUTO_FLEET_GRANULARITY else "node" if n > AUTO_NODE_GRANULARITY else "rail"
        return g

    def kube_options(self, st: NodeState) -> dict | None:
        if st.spec.target.scheme != "kube":
            return None
        opts = {"kubeconfig": self.opts.kubeconfig, "namespace": self.opts.kube_namespace}
        if self.opts.kube_image:
            opts["image"] = self.opts.kube_image
        return opts

    def subjects(self, check: CheckSpec) -> list[Subject]:
        self.gather()
        if self.granularity == "fleet":
            return [Subject(check, None, fleet=list(self.nodes.values()))] if self.nodes else []
        out = []
        per_node = self.granularity == "node"
        for st in self.nodes.values():
            if check.scope == "node" or st.ctx is None or per_node:
                out.append(Subject(check, st))
            else:
                out.extend(Subject(check, st, r) for r in st.ctx.rails)
        return out

    def selected(self, check_id: str) -> bool:
        from fnmatch import fnmatchcase

        o = self.opts
        if o.select and not any(fnmatchcase(check_id, p) for p in o.select):
            return False
        return not any(fnmatchcase(check_id, p) for p in o.deselect)
