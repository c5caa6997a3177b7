"""``kube://NODE``: a short-lived privileged probe pod pinned to the node, entering the host's
namespaces (``nsenter -t 1``) to run the collector, through the official kubernetes client.

The pod is created on first use, reused for the target's lifetime, and always deleted: on
success, on failure, on timeout, and on Ctrl-C/SIGTERM (a process-wide registry deletes live
probe pods). Its spec: ``nodeName`` pinning, hostNetwork/hostPID/hostIPC, privileged, no
service account token, tolerations for any taint, ``activeDeadlineSeconds`` as a backstop, and
the labels ``app.kubernetes.io/name=rdma-preflight`` + ``rdma-preflight.io/role=probe`` so
``rdma-preflight cleanup`` finds leftovers.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace

from ..timeouts import DEFAULTS, Overdue, Timeouts, bounded
from .base import MAX_OUTPUT_BYTES, CommandResult, OutputTooLarge, Target, TargetError

DEFAULT_IMAGE = "docker.io/library/busybox:1.36"
HOST_ENTER = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "--"]
PROBE_LABELS = {"app.kubernetes.io/name": "rdma-preflight", "rdma-preflight.io/role": "probe"}
DNS_LABEL = re.compile(r"[^a-z0-9-]+")
POLL_SECONDS = 1.0     # how often a running exec checks its deadline (a poll interval, not a bound)

_LIVE: dict[str, tuple[object, str, str, float]] = {}   # pod key -> (core api, namespace, name, request timeout)
_LIVE_LOCK = threading.Lock()


def delete_live_pods() -> int:
    """Delete every probe pod this process created and has not deleted yet (interrupts)."""
    with _LIVE_LOCK:
        items = list(_LIVE.items())
        _LIVE.clear()
    for _, (core, ns, name, request_timeout) in items:
        _delete(core, ns, name, request_timeout)
    return len(items)


def _delete(core, namespace: str, name: str, request_timeout: float = DEFAULTS.kube_request) -> None:
    from kubernetes.client.rest import ApiException

    try:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0, _request_timeout=request_timeout)
    except ApiException as exc:
        if exc.status != 404:
            raise
    except Exception:   # best effort during teardown; the pod's deadline is the backstop
        pass


def probe_pod_name(node: str) -> str:
    base = DNS_LABEL.sub("-", node.lower()).strip("-")[:40] or "node"
    return f"rpf-probe-{base}-{secrets.token_hex(3)}"


def probe_pod_manifest(node: str, name: str, namespace: str, image: str, deadline: float) -> dict:
    deadline = max(1, int(deadline))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": dict(PROBE_LABELS, **{"rdma-preflight.io/node": DNS_LABEL.sub("-", node)[:63]})},
        "spec": {
            "nodeName": node,
            "hostNetwork": True, "hostPID": True, "hostIPC": True,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "probe", "image": image, "command": ["sleep", str(deadline)],
                "securityContext": {"privileged": True},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "256Mi"}},
            }],
        },
    }


@dataclass
class KubeTarget(Target):
    """``ready_timeout`` / ``deadline`` override ``timeouts.probe_ready`` /
    ``timeouts.probe_deadline`` when given (they are kept in step with ``timeouts``)."""

    kubeconfig: str | None = None
    namespace: str = "rdma-preflight"
    image: str = DEFAULT_IMAGE
    ready_timeout: float | None = None
    deadline: float | None = None
    api_client: object | None = None          # injected (tests) or built from kubeconfig
    pod_name: str | None = field(default=None, init=False)
    _core: object | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        over = {k: v for k, v in (("probe_ready", self.ready_timeout), ("probe_deadline", self.deadline))
                if v is not None}
        if over:
            self.timeouts = replace(self.timeouts, **over)
        self.ready_timeout = self.timeouts.probe_ready
        self.deadline = self.timeouts.probe_deadline

    def core(self):
        if self._core is None:
            from kubernetes import client, config

            api = self.api_client
            if api is None:
                try:
                    cfg = client.Configuration()
                    config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
                except Exception as exc:
                    raise TargetError(self.node, f"cannot load kubeconfig {self.kubeconfig or '(default)'}: {exc}") from None
                api = client.ApiClient(cfg)
                self.api_client = api
            self._core = client.CoreV1Api(api)
        return self._core

    def collector_command(self, nonce: str, options: str = "") -> tuple[list[str], bytes | None]:
        """The exec request carries its command in the URL, so the ~10 KB script goes on
        stdin (``sh -s``) and ends with ``exit`` so no stdin close is needed (v4 protocol)."""
        from ..collect.stream import collector_script

        from ..collect.stream import collector_args

        argv = ["sh", "-s", "--", *collector_args(nonce, options, self.timeouts.command)]
        return argv, (collector_script() + "\nexit 0\n").encode()

    def _ensure_pod(self, timeout: float) -> str:
        if self.pod_name:
            return self.pod_name
        from kubernetes.client.rest import ApiException

        core = self.core()
        name = probe_pod_name(self.node)
        body = probe_pod_manifest(self.node, name, self.namespace, self.image, self.timeouts.probe_deadline)
        try:
            core.create_namespaced_pod(self.namespace, body, _request_timeout=self.timeouts.kube_request)
        except ApiException as exc:
            raise TargetError(self.node, f"cannot create probe pod in namespace {self.namespace}: "
                                         f"{exc.status} {exc.reason}") from None
        except Exception as exc:
            raise TargetError(self.node, f"Kubernetes API unreachable: {exc}") from None
        self.pod_name = name
        with _LIVE_LOCK:
            _LIVE[f"{self.namespace}/{name}"] = (core, self.namespace, name, self.timeouts.kube_request)
        self._wait_ready(name, min(timeout, self.timeouts.probe_ready))
        return name

    def _wait_ready(self, name: str, timeout: float) -> None:
        from kubernetes import watch

        core = self.core()
        w = watch.Watch()
        deadline = time.monotonic() + timeout
        last = "Pending"
        try:
            while time.monotonic() < deadline:
                remaining = max(1, math.ceil(deadline - time.monotonic()))
                for ev in w.stream(core.list_namespaced_pod, self.namespace,
                                   field_selector=f"metadata.name={name}", timeout_seconds=remaining,
                                   _request_timeout=remaining + self.timeouts.kube_watch_slack):
                    pod = ev["object"]
                    phase = pod.status.phase if pod.status else None
                    last = phase or last
                    if phase in ("Failed", "Succeeded"):
                        raise TargetError(self.node, f"probe pod {name} ended ({phase}): "
                                                     f"{(pod.status.reason or '')} {(pod.status.message or '')}".strip())
                    conds = {c.type: c for c in (pod.status.conditions or [])} if pod.status else {}
                    sched = conds.get("PodScheduled")
                    if sched is not None and sched.status == "False" and sched.message:
                        last = f"unschedulable: {sched.message}"
                    ready = conds.get("Ready")
                    if phase == "Running" and ready is not None and ready.status == "True":
                        return
                    if time.monotonic() >= deadline:
                        break
        finally:
            w.stop()
        raise TargetError(self.node, f"probe pod {name} not ready after {timeout:g}s ({last})")

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        from kubernetes.client.rest import ApiException
        from kubernetes.stream import stream

        from kubernetes import client

        t0 = time.monotonic()
        name = self._ensure_pod(timeout)
        left = max(1.0, timeout - (time.monotonic() - t0))
        # an ApiClient of the exec's own: stream() swaps the client's call_api while it runs,
        # and an exec abandoned at exec_open must not leave the pod delete going over WebSocket
        exec_api = client.ApiClient(self.core().api_client.configuration)
        core = client.CoreV1Api(exec_api)
        opened = self.timeouts.exec_open

        def late(ws) -> None:
            ws.close()
            exec_api.close()
        try:
            # the client's WebSocket open has no bound of its own (_request_timeout is unused
            # with _preload_content=False): wait at most exec_open, close a late socket
            ws = bounded(lambda: stream(core.connect_get_namespaced_pod_exec, name, self.namespace,
                                        command=HOST_ENTER + list(argv), stdin=stdin is not None, stdout=True,
                                        stderr=True, tty=False, _preload_content=False, binary=True),
                         opened, name=f"rpf-exec-{self.node}", discard=late)
        except Overdue:
            raise TargetError(self.node, f"exec into probe pod {name} did not open within {opened:g}s") from None
        except ApiException as exc:
            exec_api.close()
            raise TargetError(self.node, f"exec into probe pod failed: {exc.status} {exc.reason}") from None
        except Exception as exc:
            exec_api.close()
            raise TargetError(self.node, f"exec into probe pod failed: {exc}") from None
        out, err = bytearray(), bytearray()
        try:
            if stdin is not None:
                ws.write_stdin(stdin)
                if getattr(ws, "subprotocol", None) == "v5.channel.k8s.io":
                    ws.close_channel(0)     # v5: signal EOF; v4 relies on the script's own exit
            end = time.monotonic() + left
            while ws.is_open():
                now = time.monotonic()
                if now > end:
                    raise TargetError(self.node, f"timed out after {timeout:g}s (exec in probe pod)")
                ws.update(timeout=min(POLL_SECONDS, end - now))
                if ws.peek_stdout():
                    out += ws.read_stdout()
                if ws.peek_stderr():
                    err += ws.read_stderr()
                self._cap(out, err)         # a runaway node: stop reading, like ssh and local
            out += ws.read_stdout() or b""
            err += ws.read_stderr() or b""
            self._cap(out, err)
            rc = ws.returncode
        except TargetError:
            raise
        except Exception as exc:
            raise TargetError(self.node, f"exec stream broke: {exc}") from None
        finally:
            ws.close()
            exec_api.close()
        return CommandResult(argv=argv, rc=rc if rc is not None else -1, stdout=bytes(out), stderr=bytes(err))

    def _cap(self, out: bytearray, err: bytearray) -> None:
        cap = MAX_OUTPUT_BYTES
        if len(out) > cap or len(err) > cap:
            which = "stdout" if len(out) > cap else "stderr"
            raise OutputTooLarge(self.node, f"the command printed more than {cap} bytes on {which} "
                                            "(exec in probe pod)")

    def close(self) -> None:
        if self.pod_name and self._core is not None:
            _delete(self._core, self.namespace, self.pod_name, self.timeouts.kube_request)
            with _LIVE_LOCK:
                _LIVE.pop(f"{self.namespace}/{self.pod_name}", None)
            self.pod_name = None


def cleanup_probe_pods(api_client, namespace: str, timeouts: Timeouts = DEFAULTS) -> list[str]:
    """Delete leftover probe pods by label (``rdma-preflight cleanup``)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    sel = ",".join(f"{k}={v}" for k, v in PROBE_LABELS.items())
    pods = core.list_namespaced_pod(namespace, label_selector=sel, _request_timeout=timeouts.kube_request).items
    for p in pods:
        _delete(core, namespace, p.metadata.name, timeouts.kube_request)
    return [p.metadata.name for p in pods]
