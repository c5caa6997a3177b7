"""Every timeout rdma-preflight uses, in one place (issue 9).

``Timeouts`` is a frozen dataclass: one documented field per timeout, with its default. The
run builds one from the options (``--connect-timeout``, ``--collect-timeout`` and the generic
``--timeout NAME=SECONDS``, repeatable) and hands it, or the relevant field, to every place
that waits: targets (ssh, paramiko, ansible, kube, local/netns), the collector, the
Kubernetes reads of the k8s.* checks, the probe and bandwidth pods. Nothing in those modules
carries a number of its own (``tests/hardening/test_timeouts_config.py`` greps for strays).

The README's "Timeouts" table is :func:`markdown_table` (a test keeps it in sync):
``python3 -m rdma_preflight.timeouts`` prints it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")


class TimeoutsError(ValueError):
    """A bad ``--timeout`` value (usage error, exit 2)."""


def _doc(text: str, consumer: str) -> dict:
    return {"doc": text, "consumer": consumer}


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Field order is the README table's order."""

    connect: float = field(default=10.0, metadata=_doc(
        "connect and authenticate to a node: ssh `ConnectTimeout`; paramiko TCP connect, banner, "
        "authentication and channel open", "targets/ssh.py (`--connect-timeout`)"))
    collect: float = field(default=60.0, metadata=_doc(
        "one node's whole collection: the single collector execution, from start to its last byte",
        "collect/gather.py, every target's `run` (`--collect-timeout`)"))
    command: float = field(default=20.0, metadata=_doc(
        "each command the collector runs on the node (`timeout N tool ...` there)",
        "collect/collector.sh (third argument)"))
    remote_command: float = field(default=15.0, metadata=_doc(
        "one short command on a node outside collection (the default of `Target.run`; "
        "remediation reads `$SSH_CONNECTION` with it)", "targets/base.py, remediation/runner.py"))
    remediation_command: float = field(default=60.0, metadata=_doc(
        "one command of a remediation or rollback (`ip`, `mlnx_qos`, a sysfs write) run over the "
        "target", "remediation/executor.py"))
    ssh_alive_interval: float = field(default=5.0, metadata=_doc(
        "ssh `ServerAliveInterval`; paramiko transport keepalive", "targets/ssh.py"))
    ssh_dead_after: float = field(default=10.0, metadata=_doc(
        "a silent ssh connection is dropped after this long (`ServerAliveCountMax` = "
        "ceil(ssh_dead_after / ssh_alive_interval))", "targets/ssh.py"))
    ansible_grace: float = field(default=10.0, metadata=_doc(
        "how much longer than the remote `timeout N` the runner waits for an ansible call",
        "targets/ansible.py"))
    netlink_read: float = field(default=30.0, metadata=_doc(
        "the live netlink read (pyroute2) of a `local` or `netns://` target's links, addresses, "
        "rules and routes", "facts/net.py via collect/gather.py"))
    kube_connect: float = field(default=10.0, metadata=_doc(
        "TCP connect to the Kubernetes API server for the cluster reads (k8s.* checks, the bandwidth "
        "node list)", "k8s/gather.py, bandwidth/pods.py"))
    kube_list: float = field(default=60.0, metadata=_doc(
        "read of one page (500 objects) of a cluster list (k8s.* checks, the bandwidth node list)",
        "k8s/gather.py, bandwidth/pods.py"))
    kube_request: float = field(default=15.0, metadata=_doc(
        "one Kubernetes API call of the probe and bandwidth pods (create, list, delete)",
        "targets/kube.py, bandwidth/pods.py, bandwidth/cleanup.py"))
    kube_watch_slack: float = field(default=10.0, metadata=_doc(
        "client-side allowance beyond a watch's server-side `timeoutSeconds`",
        "targets/kube.py, bandwidth/pods.py"))
    exec_open: float = field(default=15.0, metadata=_doc(
        "opening the exec WebSocket into a probe or bandwidth pod (the client has no bound of its own)",
        "targets/kube.py, bandwidth/pods.py"))
    probe_ready: float = field(default=120.0, metadata=_doc(
        "a `kube://` probe pod becoming Ready (image pull, scheduling)", "targets/kube.py"))
    probe_deadline: float = field(default=900.0, metadata=_doc(
        "the probe pod's `activeDeadlineSeconds` (and its `sleep`): the backstop when the runner "
        "is killed before it deletes the pod", "targets/kube.py"))
    bandwidth_ready: float | None = field(default=None, metadata=_doc(
        "bandwidth pods becoming Ready; unset: the profile's `bandwidth.timeout` (default 120)",
        "bandwidth/pods.py"))
    collect_job: float = field(default=300.0, metadata=_doc(
        "`activeDeadlineSeconds` of the collector Jobs that `kube.manifests` renders (in-cluster "
        "collection)", "kube/manifests.py"))

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None and f.name in OPTIONAL:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise TimeoutsError(f"timeout {f.name} must be a positive number of seconds, not {v!r}")
            object.__setattr__(self, f.name, float(v))

    # -- derived values ---------------------------------------------------------------------
    @property
    def ssh_alive_count(self) -> int:
        """``ServerAliveCountMax``: missed keepalives before the connection is dropped."""
        return max(1, math.ceil(self.ssh_dead_after / self.ssh_alive_interval))

    def kube_list_timeout(self) -> tuple[float, float]:
        """``_request_timeout`` of the cluster reads: (connect, read)."""
        return (self.kube_connect, self.kube_list)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_options(cls, items: Iterable[str] = (), *, connect: float | None = None,
                     collect: float | None = None) -> "Timeouts":
        """From ``--timeout NAME=SECONDS`` items (later wins) and the dedicated options.

        ``--connect-timeout`` / ``--collect-timeout`` are the same as ``--timeout connect=`` /
        ``--timeout collect=``; a ``--timeout`` item naming them wins over them."""
        values: dict[str, float] = {}
        if connect is not None:
            values["connect"] = connect
        if collect is not None:
            values["collect"] = collect
        for item in items or ():
            name, value = parse_item(item)
            values[name] = value
        try:
            return cls(**values)
        except TimeoutsError:
            raise
        except (TypeError, ValueError) as exc:   # e.g. a non-number from the API
            raise TimeoutsError(str(exc)) from None


OPTIONAL = ("bandwidth_ready",)
DEFAULTS = Timeouts()


def parse_item(item: str) -> tuple[str, float]:
    """``NAME=SECONDS`` -> (name, seconds); a clear one-line error naming the valid names."""
    name, sep, value = str(item).partition("=")
    name = name.strip().replace("-", "_")
    valid = Timeouts.names()
    if not sep or name not in valid:
        what = f"unknown timeout {name!r}" if sep else f"--timeout takes NAME=SECONDS, not {item!r}"
        raise TimeoutsError(f"{what}; valid names: {', '.join(valid)}")
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise TimeoutsError(f"--timeout {name}={value}: seconds must be a positive number")
    return name, seconds


def markdown_table(t: Timeouts = DEFAULTS) -> str:
    """The README's table, generated from the dataclass."""
    rows = ["| name | default (s) | what it bounds | used in |", "|---|---|---|---|"]
    for f in fields(t):
        v = getattr(t, f.name)
        shown = "profile" if v is None else f"{v:g}"
        rows.append(f"| `{f.name}` | {shown} | {f.metadata['doc']} | {f.metadata['consumer']} |")
    return "\n".join(rows)


README_BEGIN = "<!-- timeouts:begin (generated: python3 -m rdma_preflight.timeouts) -->"
README_END = "<!-- timeouts:end -->"


def readme_section() -> str:
    return f"{README_BEGIN}\n{markdown_table()}\n{README_END}"


class Overdue(Exception):
    """``bounded`` gave up waiting."""


def bounded(fn: Callable[[], T], seconds: float, *, name: str = "rpf-bounded",
            discard: Callable[[T], Any] | None = None) -> T:
    """Run ``fn`` in a daemon thread and wait at most ``seconds`` for it.

    For blocking calls that take no timeout of their own (the kubernetes client's WebSocket
    open, a netlink dump). On expiry raises :class:`Overdue`; the thread is left to finish
    on its own and ``discard`` is applied to a result that arrives too late (e.g. closing a
    socket), so nothing leaks."""
    box: dict[str, Any] = {}
    done = threading.Event()
    lock = threading.Lock()

    def work() -> None:
        try:
            r = fn()
        except BaseException as exc:      # handed to the waiting thread
            with lock:
                box["error"] = exc
                done.set()
            return
        with lock:
            late = box.get("abandoned", False)
            box["result"] = r
            done.set()
        if late and discard is not None:
            try:
                discard(r)
            except Exception:
                pass

    threading.Thread(target=work, name=name, daemon=True).start()
    if not done.wait(seconds):
        with lock:
            if not done.is_set():
                box["abandoned"] = True
                raise Overdue(f"no answer after {seconds:g}s")
    if "error" in box:
        raise box["error"]
    return box["result"]


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
