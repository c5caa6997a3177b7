"""``ansible://PATTERN?inventory=FILE`` for real: ansible-core reads an inventory this test
writes, and the host is a lab node with a real sshd in its network namespace, reached through
the lab's ssh_config (ProxyCommand into the namespace, the lab's known_hosts, strict host key
checking) named by ``ansible_ssh_common_args``.

Both routes of rdma_preflight/targets/ansible.py are exercised: the default one (testinfra maps
the host's variables to one OpenSSH invocation) and the ``ansible`` CLI (``force_ansible=true``:
ad hoc ``raw`` module, command and output base64-wrapped). Checked: one collector execution with
the same facts as ``ssh://``; byte-exact stdout/stderr/stdin and a script Jinja would choke on;
the command timeout (remote ``timeout N``) and the local deadline (``ansible_grace``) on a node
that hangs, with no process left behind; an unreachable node as a node error; host patterns;
the harness end to end against ``ssh://``; no password value in reasons or reports.

Environment (set here, not by the library): ANSIBLE_CONFIG is an empty file (no user or
/etc ansible.cfg applies), ANSIBLE_HOME / ANSIBLE_LOCAL_TEMP under the test's tmp dir,
ANSIBLE_HOST_KEY_CHECKING=True (the lab's ssh_config checks keys against its known_hosts),
ANSIBLE_SSH_ARGS without ControlPersist (Ansible's default keeps an ssh master per host
running for 60 s after the call; the test wants no process left behind).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import pytest

from rdma_preflight.collect.gather import gather_node
from rdma_preflight.targets.base import TargetError
from rdma_preflight.targets.resolve import NodesError, make_target, nodes_from_args
from rdma_preflight.targets.ssh import SshTarget
from rdma_preflight.timeouts import Timeouts
from tests.spine.harness_util import run_checks, two_rail_profile

NODE = "node-shared"
CANARY = "RPFCANARY" + secrets.token_hex(8)


def _ansible_missing() -> str | None:
    try:
        import ansible  # noqa: F401
    except ImportError:
        return "ansible-core is not installed (pip install -e '.[ansible]'; scripts/setup.sh --test does)"
    for tool in ("ansible", "ansible-inventory"):
        if shutil.which(tool) is None:
            return f"ansible-core is installed but {tool!r} is not on PATH"
    return None


pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(_ansible_missing() is not None, reason=str(_ansible_missing()))]


@pytest.fixture
def ansible_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ansible"
    home.mkdir()
    cfg = home / "ansible.cfg"
    cfg.write_text("")
    for k, v in {"ANSIBLE_CONFIG": cfg, "ANSIBLE_HOME": home, "ANSIBLE_LOCAL_TEMP": home / "tmp",
                 "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
                 "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "False"}.items():
        monkeypatch.setenv(k, str(v))
    return home


def write_inventory(path: Path, sshd_lab, extra: str = "", hosts: tuple[str, ...] = (NODE,)) -> Path:
    ssh_config = sshd_lab.ssh_config_path if sshd_lab else "/dev/null"
    common = f"ansible_connection=ssh ansible_user=root ansible_ssh_common_args='-F {ssh_config}'"
    lines = ["[gpu]", *(f"{h} {common} {extra}".rstrip() for h in hosts), "", "[rack1]", NODE, ""]
    path.write_text("\n".join(lines))
    return path


def ansible_target(inventory: Path, route: str, timeouts: Timeouts | None = None, host: str = NODE):
    url = f"ansible://{host}?inventory={inventory}" + ("&force_ansible=true" if route == "ansible" else "")
    [spec] = nodes_from_args([url])
    return make_target(spec, timeouts=timeouts or Timeouts(connect=5))


@pytest.fixture
def node(lab, lab_node_shared, sshd_lab, ansible_env):
    sshd_lab.start(lab_node_shared)
    return lab_node_shared


ROUTES = ["ssh", "ansible"]


@pytest.mark.parametrize("route", ROUTES)
def test_one_collector_execution_with_the_facts_of_ssh_and_exact_bytes(node, sshd_lab, tmp_path, route):
    inv = write_inventory(tmp_path / "hosts.ini", sshd_lab)
    [spec] = nodes_from_args([f"ansible://gpu?inventory={inv}"])          # a group pattern
    assert spec.name == NODE
    t = ansible_target(inv, route)
    assert t.route().kind == route
    g = gather_node(t, timeout=30)
    assert g.error is None, g.error
    assert g.round_trips == 1 and g.facts.round_trips == 1
    net = g.facts.net
    assert net.source == "ip-json"
    for i in range(1, 9):
        rail = node.rail(i)
        assert net.links[rail.ifname].mtu == node.mtu == 4200
        assert [a.address for a in net.ipv4(rail.ifname)] == [str(rail.address.ip)]
    ssh = gather_node(SshTarget(node=NODE, url=f"ssh://{NODE}", hostspec=NODE,
                                ssh_config=str(sshd_lab.ssh_config_path), connect_timeout=5), timeout=30)
    assert ssh.error is None, ssh.error
    assert net.comparable() == ssh.facts.net.comparable()
    # bytes, stdin, stderr and the exit code come back exact; `${#x}` and `{{` reach sh untemplated
    script = 'x=abc; printf "%s {{ 7*7 }}\\n" "${#x}"; head -c 4; printf "\\377\\000\\n\\n"; echo err >&2; exit 3'
    res = t.run(["sh", "-c", script], stdin=b"\x00\x01ab", timeout=20)
    assert (res.rc, res.stdout, res.stderr) == (3, b"3 {{ 7*7 }}\n\x00\x01ab\xff\x00\n\n", b"err\n")
    assert res.argv == ["sh", "-c", script] and t.round_trips == 2


@pytest.mark.parametrize("route", ROUTES)
def test_command_timeout_is_honoured(node, sshd_lab, tmp_path, route):
    t = ansible_target(write_inventory(tmp_path / "hosts.ini", sshd_lab), route,
                       Timeouts(connect=5, ansible_grace=8))
    t0 = time.monotonic()
    with pytest.raises(TargetError, match=r"timed out after 2s \(ansible\)$"):
        t.run(["sleep", "30"], timeout=2)           # the node's `timeout 2` ends it, not the grace
    assert 2 <= time.monotonic() - t0 < 2 + 8


@pytest.mark.parametrize("route", ROUTES)
def test_hanging_node_cut_at_timeout_plus_grace_then_unreachable_node_error(node, sshd_lab, tmp_path, route):
    sshd_lab.make_hanging(node, seconds=600)        # ForceCommand sleep: the remote `timeout` never runs
    t = ansible_target(write_inventory(tmp_path / "hosts.ini", sshd_lab), route,
                       Timeouts(connect=5, ansible_grace=1))
    t0 = time.monotonic()
    g = gather_node(t, timeout=2)
    took = time.monotonic() - t0
    assert g.facts is None
    assert "timed out after 2s (ansible): no answer 1s past the remote timeout" in g.error, g.error
    assert 3 <= took < 3 + 3, took
    assert _clients_of(sshd_lab) == []
    # sshd stopped: the ProxyCommand's connect is refused; one readable line, quickly
    sshd_lab.make_unreachable(node)
    t0 = time.monotonic()
    g = gather_node(ansible_target(write_inventory(tmp_path / "hosts.ini", sshd_lab), route), timeout=20)
    assert g.facts is None
    assert "unreachable" in g.error and "Connection refused" in g.error, g.error
    assert "\n" not in g.error and len(g.error) < 400
    assert time.monotonic() - t0 < 15


def _clients_of(sshd_lab) -> list[str]:
    """ssh or ansible processes on this machine using the lab's ssh_config."""
    needle = str(sshd_lab.ssh_config_path).encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmd and b"sshd" not in cmd.split(b"\0")[0]:
            found.append(cmd.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


def test_password_host_goes_through_ansible_and_its_value_reaches_no_reason(node, sshd_lab, tmp_path):
    # testinfra would put the password on a command line (`sshpass -p`): such a host takes the
    # ansible CLI route (the lab's ssh_config names a key, which ssh tries first and succeeds with)
    inv = write_inventory(tmp_path / "hosts.ini", sshd_lab,
                          extra=f"ansible_ssh_pass={CANARY} ansible_become_password={CANARY}")
    t = ansible_target(inv, "ssh")
    assert (t.route().kind, t.route().why) == ("ansible", "password")
    g = gather_node(t, timeout=20)
    assert g.error is None and g.round_trips == 1, g.error
    sshd_lab.make_unreachable(node)
    g = gather_node(ansible_target(inv, "ssh"), timeout=20)
    assert g.facts is None and "unreachable" in g.error
    assert CANARY not in g.error + g.target


def test_host_patterns_and_names(ansible_env, tmp_path):
    inv = write_inventory(tmp_path / "hosts.ini", None, hosts=(NODE, "node-b", "node-c"))
    names = lambda pattern: [n.name for n in nodes_from_args([f"ansible://{pattern}?inventory={inv}"])]  # noqa: E731
    assert names("gpu") == ["node-b", "node-c", NODE]
    assert names("all:!rack1") == ["node-b", "node-c"]
    assert names("node-b:node-c:rack1") == ["node-b", "node-c", NODE]   # "," splits --nodes lists
    assert names("gpu:&rack1") == [NODE]
    assert names("node-[bc]") == ["node-b", "node-c"]
    for bad in ("--version", "-i/etc/passwd", "~node.*", "gpu;id", "a b"):
        with pytest.raises(NodesError, match="bad ansible host pattern"):
            names(bad)
    with pytest.raises(NodesError, match="matches"):
        names("nothing-here")
    with pytest.raises(NodesError, match="unknown ansible option"):
        nodes_from_args([f"ansible://gpu?inventory={inv}&ansible_ssh_pass=x"])
    with pytest.raises(NodesError, match="no hosts in it"):
        nodes_from_args([f"ansible://gpu?inventory={tmp_path / 'missing.ini'}"])
    odd = tmp_path / "odd.ini"
    odd.write_text("[gpu]\n../../etc ansible_host=127.0.0.1\n")
    with pytest.raises(NodesError, match="not usable as a node name"):
        nodes_from_args([f"ansible://gpu?inventory={odd}"])


def test_harness_end_to_end_same_outcomes_as_ssh(node, sshd_lab, tmp_path):
    # an unused credential in the inventory: it must appear in no report
    inv = write_inventory(tmp_path / "hosts.ini", sshd_lab, extra=f"ansible_become_password={CANARY}")
    prof = two_rail_profile(tmp_path, rails=8)
    common = ("--profile", str(prof), "--connect-timeout", "5")
    via_ansible = run_checks(tmp_path / "rep-ansible", "--nodes", f"ansible://gpu?inventory={inv}", *common)
    via_ssh = run_checks(tmp_path / "rep-ssh", "--nodes", f"ssh://{NODE}",
                         "--ssh-config", str(sshd_lab.ssh_config_path), *common)
    assert via_ansible.rc == via_ssh.rc, via_ansible.stdout[-3000:] + via_ansible.stderr[-3000:]
    [n] = via_ansible.results["nodes"]
    assert (n["name"], n["status"], n["round_trips"]) == (NODE, "ok", 1), n
    assert n["target"] == f"ansible://{NODE}?inventory={inv}"

    def outcomes(run) -> list[tuple]:
        return sorted((r["check"], r["rail"] or "", r["netdev"] or "", r["outcome"], r["expected"], r["found"])
                      for r in run.records())
    got = outcomes(via_ansible)
    assert got == outcomes(via_ssh)
    assert len(got) > 50 and {o[3] for o in got} >= {"pass"}
    leaks = [str(p) for p in (tmp_path / "rep-ansible").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == [] and CANARY not in via_ansible.stdout + via_ansible.stderr
