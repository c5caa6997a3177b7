"""Every timeout from one place (issue 9): ``rdma_preflight/timeouts.py``.

Each field of ``Timeouts`` is followed to the code that waits on it: the collector's argv and
the ``timeout N`` it wraps each command in, the ssh command line, paramiko's connect, the
ansible call, ``Target.run``'s default, the live netlink read, every Kubernetes API call of the
probe pod, the cluster reads and the bandwidth pods (``_request_timeout`` as the real client
passes it to its REST layer, against the API double of tests/kube_double), the probe pod's
readiness and deadline, the exec WebSocket open, the rendered collector Jobs. Then: the
options (``--timeout NAME=SECONDS`` on ``run``, ``collect`` and plain pytest; a bad one is
exit 2 with one line), no numeric timeout left behind in the transport modules (a token scan
with an allow-list, each entry with its reason), and the README table generated from the
dataclass.

Doubles, labelled: the Kubernetes API server (tests/kube_double), a blocking
``create_websocket`` / ``stream`` / netlink read / ansible host standing in for a peer that
never answers.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import threading
import time
import tokenize
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kubernetes.client import rest as k8s_rest

from rdma_preflight import cli
from rdma_preflight.collect.gather import collect_snapshot, gather_node
from rdma_preflight.collect.stream import collector_argv, new_nonce
from rdma_preflight.harness.session import Options, RunState
from rdma_preflight.targets.base import TargetError
from rdma_preflight.targets.kube import HOST_ENTER, KubeTarget
from rdma_preflight.targets.local import LocalTarget
from rdma_preflight.targets.resolve import NodeSpec, TargetSpec, make_target
from rdma_preflight.targets.ssh import SshTarget
from rdma_preflight.timeouts import DEFAULTS, Timeouts, TimeoutsError, markdown_table, readme_section
from tests.bandwidth.conftest import NAMESPACE as BW_NAMESPACE
from tests.bandwidth.conftest import bw_lab_factory, make_profile  # noqa: F401 - the fixture, used below
from tests.spine.harness_util import run_checks, two_rail_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "roce-sriov-shared-subnet.yaml"


# -- the dataclass and its options ---------------------------------------------------------

def test_defaults_are_the_former_constants_and_every_field_is_documented():
    t = Timeouts()
    assert (t.connect, t.collect, t.command, t.remote_command) == (10, 60, 20, 15)
    assert (t.ssh_alive_interval, t.ssh_dead_after, t.ssh_alive_count) == (5, 10, 2)   # ServerAlive 5 x 2
    assert (t.kube_connect, t.kube_list, t.kube_request, t.ansible_grace) == (10, 60, 15, 10)
    assert (t.probe_ready, t.probe_deadline, t.collect_job, t.bandwidth_ready) == (120, 900, 300, None)
    for f in fields(Timeouts):
        assert f.metadata["doc"] and f.metadata["consumer"], f.name


def test_options_build_one_timeouts_and_the_generic_option_wins():
    t = Timeouts.from_options(["command=7", "kube-request=3"], connect=4, collect=30)
    assert (t.connect, t.collect, t.command, t.kube_request, t.probe_ready) == (4, 30, 7, 3, 120)
    assert Timeouts.from_options(["connect=2"], connect=4).connect == 2
    assert Timeouts.from_options(["ssh_alive_interval=2", "ssh_dead_after=7"]).ssh_alive_count == 4


@pytest.mark.parametrize("item, says", [
    ("foo=1", "unknown timeout 'foo'; valid names: connect, collect, command, remote_command,"),
    ("command", "--timeout takes NAME=SECONDS, not 'command'; valid names: connect,"),
    ("command=0", "--timeout command=0: seconds must be a positive number"),
    ("command=-1", "--timeout command=-1: seconds must be a positive number"),
    ("command=abc", "--timeout command=abc: seconds must be a positive number"),
    ("command=inf", "--timeout command=inf: seconds must be a positive number"),
])
def test_a_bad_timeout_is_one_clear_line(item, says):
    with pytest.raises(TimeoutsError) as exc:
        Timeouts.from_options([item])
    assert str(exc.value).startswith(says)
    assert "\n" not in str(exc.value)
    if "valid names" in says:
        assert str(exc.value).endswith(", ".join(Timeouts.names()))


def test_cli_run_and_collect_exit_2_with_one_line(tmp_path, capsys):
    assert cli.main(["run", "--timeout", "foo=1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("rdma-preflight: error: unknown timeout 'foo'; valid names: connect")
    assert cli.main(["collect", "--nodes", "local", "--out", str(tmp_path), "--timeout", "collect=-3"]) == 2
    assert capsys.readouterr().err == "rdma-preflight: error: --timeout collect=-3: seconds must be a positive number\n"
    proc = subprocess.run([sys.executable, "-m", "rdma_preflight", "run", "--timeout", "foo=1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "valid names: connect, collect, command" in proc.stderr


def test_plain_pytest_exits_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "checks"), "--rootdir", str(ROOT),
                           "-p", "no:cacheprovider", "-q", "--timeout", "foo=1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "rdma-preflight: error: unknown timeout 'foo'; valid names: connect" in lines[0]


def test_options_and_make_target_carry_the_timeouts():
    assert Options(connect_timeout=4, collect_timeout=30).timeouts == Timeouts(connect=4, collect=30)
    o = Options(timeouts=Timeouts(collect=5, command=3))
    assert (o.collect_timeout, o.connect_timeout) == (5, 10)
    t = Timeouts(command=3, kube_request=4)
    for url in ("local", "netns://ns1", "snapshot:///nowhere", "ssh://root@h:2222", "paramiko://h", "kube://n"):
        scheme, _, value = url.partition("://")
        target = make_target(NodeSpec("n", TargetSpec(scheme, value)), timeouts=t)
        assert target.timeouts == t, url
    assert make_target(NodeSpec("n", TargetSpec("ansible", "h", {"inventory": "x"})), timeouts=t).timeouts == t
    assert make_target(NodeSpec("n", TargetSpec("ssh", "h")), None, None, 5, timeouts=t).timeouts.connect == 5
    state = RunState(Options(profile=str(PROFILE), nodes=["local"], timeouts=t), out=io.StringIO())
    state.resolve_nodes()
    assert state.make_target(next(iter(state.nodes.values()))).timeouts == t


# -- collector, ssh, paramiko, ansible, local ------------------------------------------------

def test_collector_gets_the_per_command_timeout_in_its_argv():
    local = LocalTarget(node="n", url="local", timeouts=Timeouts(command=7))
    assert local.collector_command("RPFabc")[0][-3:] == ["RPFabc", "", "7"]
    assert local.collector_command("RPFabc", "mlxconfig")[0][-2:] == ["mlxconfig", "7"]
    argv, stdin = KubeTarget(node="n", url="kube://n", timeouts=Timeouts(command=2.5)).collector_command("RPFabc")
    assert argv == ["sh", "-s", "--", "RPFabc", "", "3"] and stdin.endswith(b"\nexit 0\n")


def test_collector_wraps_each_command_in_that_timeout_on_the_node():
    nonce = new_nonce()
    argv = collector_argv(nonce, "", 7)
    traced = subprocess.run(argv[:1] + ["-x"] + argv[1:], capture_output=True, timeout=120)
    assert traced.returncode == 0
    trace = [l[2:] for l in traced.stderr.decode(errors="replace").splitlines() if l.startswith("+ ")]
    asked = [l for l in trace if l.startswith("run ") and " ip -j " in l]        # run NAME ip -j ...
    executed = [l for l in trace if not l.startswith("run ") and "ip -j " in l]
    assert len(asked) == 4 and len(executed) == 4, trace[:40]
    assert all(l.startswith("timeout -k 2 7 ip -j ") for l in executed), executed
    snap = collect_snapshot(LocalTarget(node="n", url="local", timeouts=Timeouts(command=9)))
    assert snap.meta["command_timeout"] == "9"                # what the collector used, recorded


def test_collector_default_is_the_dataclass_default():
    text = (ROOT / "rdma_preflight" / "collect" / "collector.sh").read_text()
    assert re.search(r'^CT="\$\{3:-(\d+)\}"$', text, re.M).group(1) == f"{DEFAULTS.command:g}"
    assert 'TO="timeout $CT"' in text and 'TO="timeout -k 2 $CT"' in text


@pytest.mark.skipif(subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0,
                    reason="needs a private mount namespace (unshare -m, root)")
def test_a_tool_ignoring_sigterm_costs_one_command_not_the_node(tmp_path):
    """A vendor tool stuck in a driver ignores SIGTERM: `timeout -k` KILLs it, the collector goes
    on, and the node keeps every other fact. The tool (``ofed_info``) is shadowed only inside a
    private mount namespace (a tmpfs over /usr/local/sbin, first on the collector's PATH)."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "ofed_info").write_text("#!/bin/sh\ntrap '' TERM INT HUP\nexec sleep 600\n")
    (shadow / "ofed_info").chmod(0o755)
    nonce = new_nonce()
    argv = collector_argv(nonce, "", 1)
    wrapper = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /usr/local/sbin && exec "$@"', str(shadow), *argv]
    t0 = time.monotonic()
    proc = subprocess.run(wrapper, capture_output=True, timeout=120)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-500:]
    from rdma_preflight.collect.stream import decode_stream

    snap = decode_stream(proc.stdout, nonce, node="n")
    assert snap.commands["ofed_info"].rc in (124, 137)          # killed, recorded as a failed command
    assert snap.commands["ip_link"].rc == 0 and snap.commands["ip_link"].stdout
    assert took < 60, took                                       # the sleep 600 did not hold the run


def test_ssh_command_line_gets_connect_and_keepalive():
    t = SshTarget(node="n", url="ssh://n", hostspec="root@n:2222",
                  timeouts=Timeouts(connect=3, ssh_alive_interval=2, ssh_dead_after=7))
    cmd, args = t._backend()._build_ssh_command("true")
    line = " ".join(cmd)
    assert "-o ServerAliveInterval=2 -o ServerAliveCountMax=4" in line and "-o ConnectTimeout=3" in line
    assert SshTarget(node="n", url="ssh://n", hostspec="n", connect_timeout=5).timeouts.connect == 5


def test_paramiko_connect_gets_connect_banner_auth_and_channel_timeouts(tmp_path, monkeypatch):
    import paramiko

    from rdma_preflight.targets.hostkeys import PinPolicy

    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host n\n  HostName 127.0.0.1\n  Port 1\n  UserKnownHostsFile {tmp_path / 'kh'}\n")
    seen = {}

    def connect(client, **kw):
        seen.update(kw, policy=client._policy)
        raise paramiko.SSHException("stop here")
    monkeypatch.setattr(paramiko.SSHClient, "connect", connect)
    t = SshTarget(node="n", url="paramiko://n", hostspec="n", backend_name="paramiko", ssh_config=str(cfg),
                  timeouts=Timeouts(connect=4))
    with pytest.raises(TargetError):
        t.run(["true"])
    assert {k: seen[k] for k in ("timeout", "banner_timeout", "auth_timeout", "channel_timeout")} == dict.fromkeys(
        ("timeout", "banner_timeout", "auth_timeout", "channel_timeout"), 4.0)
    assert isinstance(seen["policy"], PinPolicy)


def test_ansible_remote_timeout_and_grace(monkeypatch):
    import testinfra

    from rdma_preflight.targets import ansible as ansible_mod
    from rdma_preflight.targets.ansible import AnsibleTarget, _Route

    calls, real = [], ansible_mod.run_subprocess

    def recording(node, argv, stdin, timeout, **kw):
        calls.append((argv, timeout))
        return real(node, argv, stdin, timeout, **kw)
    monkeypatch.setattr(ansible_mod, "run_subprocess", recording)
    t = AnsibleTarget(node="n", url="ansible://n", inventory="hosts.ini", timeouts=Timeouts(ansible_grace=0.3))
    # the route an inventory's `ansible_connection=local` host takes (no ansible-core needed here);
    # the wait (0.2 + 0.3 s) ends before the remote `timeout 1`: a node (or ansible) that never answers
    t._route = _Route("local", backend=testinfra.get_host("local://").backend)
    t0 = time.monotonic()
    with pytest.raises(TargetError, match=r"timed out after 0\.2s \(ansible\): no answer 0\.3s past"):
        t.run(["sleep", "5"], timeout=0.2)
    assert time.monotonic() - t0 < 3
    assert calls == [(["sh", "-c", "timeout 1 sleep 5"], 0.5)]     # whole seconds, never `timeout 0` (no limit)


def test_target_run_defaults_to_remote_command():
    t = LocalTarget(node="n", url="local", timeouts=Timeouts(remote_command=0.3))
    with pytest.raises(TargetError, match=r"timed out after 0\.3s running sleep"):
        t.run(["sleep", "5"])


def test_remediation_commands_get_the_remediation_timeout():
    from rdma_preflight.remediation.executor import ArgvExecutor, ExecError

    ex = ArgvExecutor(LocalTarget(node="n", url="local", timeouts=Timeouts(remediation_command=0.3,
                                                                           remote_command=30)))
    with pytest.raises(ExecError, match=r"timed out after 0\.3s running sleep"):
        ex.run(["sleep", "5"])


def test_live_netlink_read_is_bounded(monkeypatch):
    from rdma_preflight.facts import build

    release = threading.Event()
    monkeypatch.setattr(build, "from_netlink", lambda ns: release.wait(30))   # a netlink dump that never ends
    try:
        g = gather_node(LocalTarget(node="n", url="local", timeouts=Timeouts(netlink_read=0.3)))
    finally:
        release.set()
    assert g.facts is None and g.error == "netlink read of this host gave no answer within 0.3s"


# -- Kubernetes: the real client against the API double --------------------------------------

@pytest.fixture
def api_calls(monkeypatch):
    """Every HTTP request the real kubernetes client makes: (method, path, _request_timeout, body)."""
    seen: list[tuple[str, str, object, object]] = []
    real = k8s_rest.RESTClientObject.request

    def spy(self, method, url, headers=None, body=None, post_params=None, _request_timeout=None):
        seen.append((method, url.split("://", 1)[-1].split("/", 1)[-1], _request_timeout, body))
        return real(self, method, url, headers=headers, body=body, post_params=post_params,
                    _request_timeout=_request_timeout)
    monkeypatch.setattr(k8s_rest.RESTClientObject, "request", spy)
    return seen


def test_probe_pod_api_calls_deadline_and_collector_timeout(kube_double, api_calls):
    d = kube_double
    d.add_namespace("rdma-preflight")
    argvs = []
    d.exec_handler = lambda pod, argv: (argvs.append(list(argv)), (0, b"not a collector stream\n", b""))[1]
    t = KubeTarget(node="node-1", url="kube://node-1", api_client=d.api_client(),
                   timeouts=Timeouts(kube_request=7, kube_watch_slack=3, probe_deadline=333, command=9))
    g = gather_node(t, timeout=60)
    assert "not a collector stream" in g.error
    [create] = [c for c in api_calls if c[0] == "POST" and c[1].endswith("/pods")]
    [delete] = [c for c in api_calls if c[0] == "DELETE"]
    [watch] = [c for c in api_calls if c[0] == "GET" and "watch=" in c[1]]
    assert create[2] == 7 and delete[2] == 7
    assert 1 <= watch[2] - 3 <= 60 and float(watch[2] - 3).is_integer()     # timeoutSeconds + kube_watch_slack
    spec = create[3]["spec"]
    assert spec["activeDeadlineSeconds"] == 333 and spec["containers"][0]["command"] == ["sleep", "333"]
    [argv] = argvs
    assert argv[len(HOST_ENTER):len(HOST_ENTER) + 3] == ["sh", "-s", "--"] and argv[-2:] == ["", "9"]
    assert d.pods("rdma-preflight") == []


def test_probe_readiness_deadline_is_honoured(kube_double):
    d = kube_double
    d.add_namespace("rdma-preflight")
    d.settings.start_delay = 3600                  # the pod stays Pending (image pull that never ends)
    t = KubeTarget(node="node-1", url="kube://node-1", api_client=d.api_client(), timeouts=Timeouts(probe_ready=1.5))
    t0 = time.monotonic()
    g = gather_node(t, timeout=60)
    assert time.monotonic() - t0 < 10
    assert re.fullmatch(r"probe pod rpf-probe-node-1-\w+ not ready after 1\.5s \(Pending\)", g.error), g.error
    assert d.pods("rdma-preflight") == []


def test_exec_websocket_open_is_bounded(kube_double, monkeypatch):
    from kubernetes.stream import ws_client

    d = kube_double
    d.add_namespace("rdma-preflight")
    release = threading.Event()

    def never_opens(*args, **kwargs):             # an API server that accepts and never upgrades
        release.wait(30)
        raise ConnectionError("released")
    monkeypatch.setattr(ws_client, "create_websocket", never_opens)
    t = KubeTarget(node="node-1", url="kube://node-1", api_client=d.api_client(), timeouts=Timeouts(exec_open=0.5))
    t0 = time.monotonic()
    try:
        g = gather_node(t, timeout=60)
    finally:
        release.set()
    assert time.monotonic() - t0 < 10
    assert re.fullmatch(r"exec into probe pod rpf-probe-node-1-\w+ did not open within 0\.5s", g.error), g.error
    assert d.pods("rdma-preflight") == []


def test_collect_and_harness_options_reach_the_probe_pod(kube_double, tmp_path, capsys):
    d = kube_double
    d.add_namespace("rdma-preflight")
    d.settings.start_delay = 3600
    cfg = str(d.kubeconfig(tmp_path / "kubeconfig"))
    rc = cli.main(["collect", "--nodes", "kube://node-1", "--kubeconfig", cfg, "--out", str(tmp_path / "snaps"),
                   "--timeout", "probe_ready=1"])
    assert rc == 3
    assert re.search(r"node-1: node-1: probe pod rpf-probe-node-1-\w+ not ready after 1s", capsys.readouterr().err)
    run = run_checks(tmp_path / "rep", "--nodes", "kube://node-1", "--kubeconfig", cfg,
                     "--profile", str(two_rail_profile(tmp_path)), "--check", "net.rail_count",
                     "--timeout", "probe_ready=1", "--timeout", "kube_request=5")
    assert run.rc == 3, run.stdout + run.stderr
    assert re.fullmatch(r"probe pod rpf-probe-node-1-\w+ not ready after 1s \(Pending\)",
                        run.results["nodes"][0]["error"])
    d.settle()
    assert d.pods("rdma-preflight") == []


def test_cluster_reads_get_connect_and_read_timeouts(tmp_path, api_calls):
    from tests.k8s.host import Host, design_profile
    from tests.kube_double.double import KubeDouble

    Host("node-1", "macvlan-shared").build().save(tmp_path / "node-1")
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(design_profile("macvlan-shared").model_dump(mode="json"), sort_keys=False))
    with KubeDouble(pod_netns=False) as d:
        opts = Options(profile=str(profile), nodes=[f"snapshot://{tmp_path / 'node-1'}"],
                       kubeconfig=str(d.kubeconfig(tmp_path / "kubeconfig")),
                       timeouts=Timeouts(kube_connect=4, kube_list=8))
        state = RunState(opts, out=io.StringIO())
        state.resolve_nodes()
        state.gather()                                # cluster facts are read at the end of gather
    assert state.cluster is not None and state.cluster.calls >= 7
    assert len(api_calls) == state.cluster.calls
    assert {c[2] for c in api_calls} == {(4.0, 8.0)}


def test_bandwidth_pods_api_calls_and_ready_timeout(bw_lab_factory, api_calls):  # noqa: F811
    from rdma_preflight.bandwidth.failures import FailureClass
    from rdma_preflight.bandwidth.pods import run_kubernetes
    from rdma_preflight.bandwidth.runner import RunConfig

    lab = bw_lab_factory(["node-1", "node-2", "node-3"], 1, allocatable={"node-3": {"spidernet.io/shared_cx5_gpu1": "0"}})
    profile = make_profile(1)
    cfg = RunConfig.from_profile(profile, listen_wait=2, connect_slack=2, exec_margin=10)
    api = lab.api_client()
    try:
        report = run_kubernetes(api, profile, lab.nodes, config=cfg,
                                timeouts=Timeouts(bandwidth_ready=1.5, kube_request=7, kube_watch_slack=4))
    finally:
        api.close()
    v = report.verdicts["node-2->node-3:rail1"]
    assert v.cls is FailureClass.NOT_READY and "not Ready after 1.5s" in v.summary
    pods = [c for c in api_calls if "/pods" in c[1] and "/exec" not in c[1]]
    plain = [c for c in pods if "watch=" not in c[1]]
    assert {c[0] for c in plain} == {"POST", "GET", "DELETE"} and {c[2] for c in plain} == {7}
    assert all(c[2] - 4 <= 2 for c in pods if "watch=" in c[1])          # remaining (<= 1.5 s) + kube_watch_slack
    lab.double.settle()
    assert lab.double.pods(BW_NAMESPACE) == []


def test_bandwidth_exec_open_is_bounded_and_a_late_socket_closed(monkeypatch):
    import kubernetes.stream

    from rdma_preflight.bandwidth.pods import PodEndpoint
    from rdma_preflight.bandwidth.runner import EndpointError

    release, closed = threading.Event(), threading.Event()

    class LateSocket:
        def close(self, **kw):
            closed.set()

    def slow_stream(*args, **kwargs):
        release.wait(30)
        return LateSocket()
    monkeypatch.setattr(kubernetes.stream, "stream", slow_stream)
    dropped = []
    fleet = SimpleNamespace(thread_core=lambda: SimpleNamespace(connect_get_namespaced_pod_exec=None),
                            namespace="ns", timeouts=Timeouts(exec_open=0.3), drop_thread_core=lambda: dropped.append(1))
    endpoint = PodEndpoint(fleet, "node-1", "rpf-bw-x-node-1", {})
    with pytest.raises(EndpointError, match=r"exec into rpf-bw-x-node-1 did not open within 0\.3s"):
        endpoint.exec(["true"], timeout=60)
    assert dropped == [1]          # the client stream() still holds is not reused by this thread
    release.set()
    assert closed.wait(5)


def test_rendered_collector_jobs_use_collect_job():
    from rdma_preflight.kube.manifests import render_manifests

    jobs = [o for o in render_manifests(None, ["node-1"], "img") if o["kind"] == "Job"]
    assert jobs[0]["spec"]["activeDeadlineSeconds"] == int(DEFAULTS.collect_job)
    jobs = [o for o in render_manifests(None, ["node-1"], "img", collect_timeout=42) if o["kind"] == "Job"]
    assert jobs[0]["spec"]["activeDeadlineSeconds"] == 42


# -- no stray numbers; the README table ----------------------------------------------------

# The transport and Kubernetes modules: a number in the same argument as a name that speaks of
# time (timeout, deadline, alive, seconds, grace, wait, poll) must come from Timeouts. Zeros and
# the floor of max()/min() (e.g. ``max(1, int(x))``: the API takes whole seconds >= 1) are
# not durations.
SCANNED = sorted({*ROOT.glob("rdma_preflight/targets/*.py"), *ROOT.glob("rdma_preflight/k8s/*.py"),
                  *ROOT.glob("rdma_preflight/kube/*.py"), *(ROOT / "rdma_preflight" / p for p in (
                      "bandwidth/pods.py", "bandwidth/cleanup.py", "bandwidth/pytest_hooks.py", "collect/gather.py",
                      "collect/stream.py", "facts/build.py", "harness/session.py", "harness/plugin.py", "cli.py"))})
TIMEY = re.compile(r"timeout|deadline|alive|seconds|grace|wait|poll", re.I)
ALLOWED = {
    ("bandwidth/cleanup.py", "GRACE_SECONDS = 1"):
        "the pod deletion grace period the kubelet gives the container, not a wait of ours",
    ("bandwidth/pods.py", "CLOSE_WAIT = 0.5"):
        "the close handshake of an exec that is already over or abandoned; not a deadline",
    ("bandwidth/pods.py", "ready_timeout + 30 + config . exec_margin"):
        "the bandwidth pods' activeDeadlineSeconds budget (discovery allowance), part of RunConfig's "
        "round arithmetic, which the bandwidth tests pin",
    ("kube/manifests.py", "ttl_seconds : int = 3600"):
        "ttlSecondsAfterFinished: how long a finished Job object is kept, not a wait",
    ("targets/kube.py", "POLL_SECONDS = 1.0"):
        "how often a running exec checks its deadline; the deadline itself is the collect timeout",
    ("targets/local.py", "timeout = 5"):
        "reaping a process group this machine already SIGKILLed; no node is waited on",
}


def _segments(path: Path):
    """Token runs between commas/semicolons/line ends, comments and strings' content ignored."""
    seg: list[tokenize.TokenInfo] = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (tok.type == tokenize.OP and tok.string in ",;"):
            if seg:
                yield seg
            seg = []
        elif tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            seg.append(tok)


def stray_timeout_literals() -> list[tuple[str, int, str]]:
    found = []
    for path in SCANNED:
        rel = str(path.relative_to(ROOT / "rdma_preflight"))
        for seg in _segments(path):
            if not any(t.type == tokenize.NAME and TIMEY.search(t.string) for t in seg):
                continue
            text = " ".join(t.string for t in seg)
            for i, t in enumerate(seg):
                if t.type != tokenize.NUMBER or ast.literal_eval(t.string) == 0:
                    continue
                if i >= 2 and seg[i - 1].string == "(" and seg[i - 2].string in ("max", "min"):
                    continue
                found.append((rel, t.start[0], text))
                break
    return found


def test_no_stray_numeric_timeout_in_the_transport_and_kube_modules():
    assert len(SCANNED) > 15
    stray, used = [], set()
    for rel, line, text in stray_timeout_literals():
        key = next((k for k in ALLOWED if k[0] == rel and k[1] in text), None)
        if key is None:
            stray.append(f"rdma_preflight/{rel}:{line}: {text[:120]}")
        else:
            used.add(key)
    assert stray == [], "numeric timeouts outside rdma_preflight/timeouts.py:\n" + "\n".join(stray)
    assert used == set(ALLOWED), f"allow-list entries no longer needed: {set(ALLOWED) - used}"


def test_the_scan_catches_a_stray_literal(tmp_path, monkeypatch):
    bad = tmp_path / "rdma_preflight" / "targets" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f(core):\n    core.delete(x, _request_timeout=15)  # 15 s\n    wait = 0\n")
    monkeypatch.setattr(sys.modules[__name__], "SCANNED", [bad])
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert stray_timeout_literals() == [("targets/bad.py", 2, "_request_timeout = 15 )")]


def test_collector_script_has_no_other_timeout_number():
    text = (ROOT / "rdma_preflight" / "collect" / "collector.sh").read_text()
    code = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    hits = [l for l in code if re.search(r"timeout\s+\d|ServerAlive|sleep\s+\d", l)]
    assert hits == []


def test_readme_timeouts_table_is_generated_from_the_dataclass():
    readme = (ROOT / "README.md").read_text()
    assert "## Timeouts" in readme
    assert readme_section() in readme, ("README's Timeouts table is stale: replace the block between the "
                                        "timeouts:begin/end markers with `python3 -m rdma_preflight.timeouts`")
    assert markdown_table().count("\n") == len(fields(Timeouts)) + 1
