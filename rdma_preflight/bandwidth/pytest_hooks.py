"""pytest integration: ``checks/test_bandwidth.py`` gives one result per (pair, rail, direction).

The bandwidth check is a fleet-level measurement, not a per-node check: it creates pods
and moves traffic, so it runs only when asked (``--bandwidth``, or ``--check`` naming
``bw.write`` such as ``--check 'bw.*'``); otherwise its single item is skipped with the
reason. When asked, collection plans the rounds (no traffic yet) and parametrises
``test_write_bw`` over the planned flows, ids ``node-1->node-2:rail3``; the first item
runs the whole measurement once (session fixture ``rpf_bandwidth``), every item then reads
its flow's verdict. Nodes: ``--nodes kube://NODE,...`` (pods) or ``ssh://``/``paramiko://``
targets (host mode), else the profile's ``kubernetes.node_selector`` through
``--kubeconfig`` (or in-cluster config).

Load as a plugin (``pytest_plugins`` in harness/plugin.py) for the ``--bandwidth*`` options;
checks/test_bandwidth.py works without it for ``--check 'bw.*'``.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from . import schedule

CHECK_ID = "bw.write"
TITLE = "RDMA write bandwidth between nodes, per rail and direction (ib_write_bw)"
NOT_REQUESTED = ("bandwidth not measured: it creates pods and moves traffic; ask with --bandwidth "
                 "or --check 'bw.*'")


@dataclass
class Plan:
    requested: bool
    reason: str = ""                       # why not requested, or why the plan failed
    error: bool = False
    mode: str = ""                         # kubernetes | hosts
    profile: object = None
    nodes: list[str] = field(default_factory=list)
    rounds: list[schedule.Round] = field(default_factory=list)
    targets: list = field(default_factory=list)
    kubeconfig: str | None = None
    timeouts: object = None                # rdma_preflight.timeouts.Timeouts of the run

    @property
    def flows(self) -> list[schedule.Flow]:
        return schedule.planned_flows(self.rounds)


_PLAN = pytest.StashKey[Plan]()


def pytest_addoption(parser) -> None:
    g = parser.getgroup("rdma-preflight bandwidth")
    g.addoption("--bandwidth", action="store_true", default=False,
                help="measure ib_write_bw between nodes on every rail (creates pods / runs on hosts)")
    g.addoption("--bandwidth-strategy", choices=schedule.STRATEGIES,
                help="pairing: ring (2 rounds), tournament (all pairs, N-1 rounds), pairs (from a file)")
    g.addoption("--bandwidth-pairs", help="pairs file: 'node-a node-b' or '<round> node-a node-b' per line")
    g.addoption("--bandwidth-known-good", action="append", default=[],
                help="nodes known to be good, used first as retest partners (repeatable, comma lists)")


def _opt(config, name: str, default=None):
    try:
        return config.getoption(name)
    except ValueError:
        return default


def requested(config) -> tuple[bool, str]:
    select, deselect = _opt(config, "rpf_select", []) or [], _opt(config, "rpf_deselect", []) or []
    if any(fnmatchcase(CHECK_ID, p) for p in deselect):
        return False, f"{CHECK_ID} deselected by --skip-check"
    if select and not any(fnmatchcase(CHECK_ID, p) for p in select):
        return False, f"{CHECK_ID} not selected by --check"
    if _opt(config, "bandwidth", False) or select:
        return True, ""
    return False, NOT_REQUESTED


def plan_for(config) -> Plan:
    if _PLAN not in config.stash:
        ok, why = requested(config)
        plan = Plan(ok, why)
        if ok:
            try:
                _fill(plan, config)
            except Exception as exc:  # noqa: BLE001 - shown as the failing item
                plan.error, plan.reason = True, f"bandwidth run cannot be planned: {exc}"
        config.stash[_PLAN] = plan
    return config.stash[_PLAN]


def _fill(plan: Plan, config) -> None:
    from ..profile.loader import load_profile
    from ..targets.resolve import load_nodes_file, make_target, nodes_from_args

    specs = nodes_from_args(_opt(config, "nodes", []) or [])
    if _opt(config, "nodes_file"):
        specs += load_nodes_file(_opt(config, "nodes_file"))
    path = _opt(config, "profile") or next((s.profile for s in specs if s.profile), None)
    if not path:
        raise ValueError("no profile: give --profile")
    loaded = load_profile(path)
    kube = [s for s in specs if s.target.scheme == "kube"]
    hosts = [s for s in specs if s.target.scheme in ("ssh", "paramiko", "netns", "local")]
    if kube and hosts:
        raise ValueError("mix of kube:// and host targets: run Kubernetes and host mode separately")
    if len(kube) + len(hosts) < len(specs):
        raise ValueError("bandwidth runs on kube:// nodes (pods) or ssh:// hosts, not on snapshots")
    plan.profile = loaded.for_node(specs[0].name, specs[0].labels) if specs else loaded.profile
    plan.kubeconfig = _opt(config, "kubeconfig")
    plan.timeouts = _timeouts(config)
    if hosts:
        plan.mode = "hosts"
        plan.targets = [make_target(s, _opt(config, "ssh_config"), _opt(config, "ssh_identity_file"),
                                    timeouts=plan.timeouts,
                                    accept_new_host_keys=bool(_opt(config, "ssh_accept_new_host_keys", False)))
                        for s in hosts]
        plan.nodes = [s.name for s in hosts]
    else:
        plan.mode = "kubernetes"
        plan.nodes = [s.target.value for s in kube]
        if not plan.nodes:
            from .pods import list_nodes

            api = api_client(plan.kubeconfig)
            try:
                plan.nodes = list_nodes(api, plan.profile.kubernetes.node_selector, plan.timeouts)
            finally:
                api.close()
    bw = plan.profile.bandwidth
    strategy = _opt(config, "bandwidth_strategy") or bw.strategy
    pairs_path = _opt(config, "bandwidth_pairs") or bw.pairs_file
    pairs_text = Path(pairs_path).read_text() if strategy == "pairs" and pairs_path else None
    rails = list(plan.profile.rails)
    plan.rounds = schedule.plan(strategy, plan.nodes, rails, pairs_text, str(pairs_path))
    known = [n for v in _opt(config, "bandwidth_known_good", []) or [] for n in v.split(",") if n]
    if known:
        plan.profile = plan.profile.model_copy(update={"bandwidth": bw.model_copy(update={"known_good": known})})


def _timeouts(config):
    """The run's Timeouts (--timeout, --connect-timeout, ...), also without the harness plugin."""
    from ..harness.plugin import run_timeouts

    return run_timeouts(config)


def api_client(kubeconfig: str | None):
    from kubernetes import client, config as kconfig

    if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return kconfig.new_client_from_config(config_file=kubeconfig)
    cfg = client.Configuration()
    kconfig.load_incluster_config(client_configuration=cfg)
    return client.ApiClient(cfg)


def generate(metafunc) -> None:
    """``pytest_generate_tests`` for checks/test_bandwidth.py."""
    if "rpf_bw_flow" not in metafunc.fixturenames:
        return
    plan = plan_for(metafunc.config)
    if not plan.requested:
        params = [pytest.param(None, id="not-requested", marks=pytest.mark.skip(reason=plan.reason))]
    elif plan.error:
        params = [pytest.param(None, id="plan")]
    else:
        params = [pytest.param(f, id=f.id) for f in plan.flows]
    metafunc.parametrize("rpf_bw_flow", params)


@pytest.fixture(scope="session")
def rpf_bandwidth(request):
    """The whole measurement, run once, at the first bandwidth item."""
    plan = plan_for(request.config)
    if plan.mode == "hosts":
        from .host import run_hosts

        report = run_hosts(plan.targets, plan.profile, rounds=plan.rounds)
    else:
        from .pods import run_kubernetes

        api = api_client(plan.kubeconfig)
        try:
            report = run_kubernetes(api, plan.profile, plan.nodes, rounds=plan.rounds, timeouts=plan.timeouts)
        finally:
            api.close()
    out = _opt(request.config, "report_dir")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bandwidth.json").write_text(json.dumps(report.to_json(), indent=1) + "\n")
    return report


def _record(config, flow: schedule.Flow, verdict, test_id: str) -> None:
    from ..harness.plugin import STATE_KEY
    from ..harness.records import Record

    if STATE_KEY not in config.stash:
        return
    src = verdict.evidence.get("runs", [{}])[-1].get("src", {}) if verdict.evidence.get("runs") else {}
    config.stash[STATE_KEY].store.add(Record(
        node=flow.src, check=CHECK_ID, title=TITLE, area="bw", rail=flow.rail, netdev=src.get("netdev"),
        outcome=verdict.outcome, summary=verdict.summary, expected=verdict.expected, found=verdict.found,
        fix=verdict.fix, test_id=test_id, evidence=verdict.evidence))


def write_bw_test():
    """The test function bound in checks/test_bandwidth.py."""
    from ..harness.binding import PreflightWarning

    def test_write_bw(request, rpf_bw_flow):
        plan = plan_for(request.config)
        if plan.error:
            pytest.fail(plan.reason, pytrace=False)
        report = request.getfixturevalue("rpf_bandwidth")
        verdict = report.verdict(rpf_bw_flow)
        if verdict is None:
            pytest.fail(f"{rpf_bw_flow.id}: no verdict (not in the run's plan)", pytrace=False)
        _record(request.config, rpf_bw_flow, verdict, request.node.nodeid.rsplit("::", 1)[-1])
        message = verdict.result().message(f"{rpf_bw_flow.src}->{rpf_bw_flow.dst}", rpf_bw_flow.rail, None, CHECK_ID)
        if verdict.outcome == "fail":
            pytest.fail(message, pytrace=False)
        if verdict.outcome == "warn":
            warnings.warn(PreflightWarning(message))

    test_write_bw.__doc__ = f"[{CHECK_ID}] {TITLE}"
    test_write_bw._rpf_bandwidth = CHECK_ID
    return test_write_bw
