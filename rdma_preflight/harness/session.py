"""The state of one run: options, nodes and their profiles, gathered facts, records.

Facts are gathered once per node per run, concurrently, the first time pytest asks for the
check items; every check item then reads the same NodeFacts.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..checks.context import NodeContext, Rail, node_context
from ..checks.registry import CheckSpec, load_all
from ..collect.gather import Gathered, gather_all
from ..profile.loader import LoadedProfile, ProfileError, load_profile
from ..profile.schema import Profile
from ..targets.base import TargetError
from ..targets.resolve import NodeSpec, NodesError, load_nodes_file, make_target, nodes_from_args
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
    collect_timeout: float = 60.0
    connect_timeout: float = 10.0
    kubeconfig: str | None = None
    waivers: str | None = None
    baseline: str | None = None
    yes: bool = False
    journal_dir: str | None = None
    acceptance: bool = False
    kube_namespace: str = "rdma-preflight"
    kube_image: str | None = None
    granularity: str = "auto"        # rail: one pytest item per rail; node: rails inside one item


APPLY_CONFIRM_NODES = 5             # apply on more nodes than this needs --yes
AUTO_NODE_GRANULARITY = 64           # above this many nodes, auto means node granularity


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
    """One test item: a check on a node (and rail)."""

    check: CheckSpec
    node: NodeState
    rail: Rail | None = None

    @property
    def id(self) -> str:
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
                targets.append(make_target(st.spec, self.opts.ssh_config, self.opts.ssh_identity,
                                           self.opts.connect_timeout, self.kube_options(st)))
            except (TargetError, NodesError) as exc:
                st.error = str(exc)
        progress = Progress("collecting facts", len(targets), self.out)
        results = gather_all(targets, self.opts.concurrency, self.opts.collect_timeout,
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
        target = make_target(st.spec, self.opts.ssh_config, self.opts.ssh_identity, self.opts.connect_timeout,
                             self.kube_options(st))
        from ..collect.gather import gather_node

        g = gather_node(target, self.opts.collect_timeout)
        st.gathered = g
        if g.facts is None:
            st.error = g.error
            st.ctx = None
        else:
            st.ctx = node_context(st.name, st.profile, g.facts)
            st.ctx.cluster = getattr(self, "cluster", None)

    @property
    def granularity(self) -> str:
        g = self.opts.granularity
        if g == "auto":
            return "node" if len(self.nodes) > AUTO_NODE_GRANULARITY else "rail"
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
