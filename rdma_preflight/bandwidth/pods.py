"""Kubernetes endpoints: create one pod per node, wait until Ready, exec, always delete.

API use per run (N nodes): N pod creates, one list plus one watch to see them Ready, one
exec per pod for discovery, then per round one exec per serving pod (serve, collect) and
one per sending pod (run), and N deletes. Execs use the real WebSocket exec subresource
(``pods/exec``), each worker thread with its own ApiClient: ``kubernetes.stream.stream``
swaps the ApiClient's ``call_api`` while it runs and is not safe to share across threads.

Pods are deleted in a ``finally`` with signals deferred (success, failure, timeout,
Ctrl-C, SIGTERM); a runner killed outright leaves pods that end at
``activeDeadlineSeconds`` and that ``cleanup.cleanup`` removes by label.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

from . import names, schedule
from .cleanup import deferred_signals, delete_pods, selector, sigterm_interrupts
from .runner import BandwidthReport, EndpointError, RunConfig, Runner, new_report
from .spec import CONTAINER, endpoint_pod, pod_name
from ..timeouts import DEFAULTS, Overdue, Timeouts, bounded

STDOUT, STDERR, ERROR = 1, 2, 3
CLOSE_WAIT = 0.5      # seconds for the close handshake of a finished or abandoned exec (not a deadline)


def _exit_status(raw: str) -> int:
    """The exit code from the exec error channel (a metav1.Status)."""
    if not raw:
        raise EndpointError("exec ended without a status")
    try:
        status = json.loads(raw)
    except ValueError:
        raise EndpointError(f"exec status unreadable: {raw[:200]}") from None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
                return int(cause["message"])
    raise EndpointError(status.get("message") or raw[:200])


class PodEndpoint:
    """One running pod: exec over WebSocket with a hard deadline."""

    def __init__(self, fleet: "PodFleet", node: str, pod_name: str, annotations: Mapping[str, str]) -> None:
        self.fleet = fleet
        self.node = node
        self.pod_name = pod_name
        self._annotations = dict(annotations)

    @property
    def annotations(self) -> Mapping[str, str]:
        return self._annotations

    def exec(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        from kubernetes.client.rest import ApiException
        from kubernetes.stream import stream

        core = self.fleet.thread_core()
        opened = self.fleet.timeouts.exec_open
        try:
            # the WebSocket open has no bound of its own: wait at most exec_open, close a late one
            ws = bounded(lambda: stream(core.connect_get_namespaced_pod_exec, self.pod_name, self.fleet.namespace,
                                        command=argv, container=CONTAINER, stdin=False, stdout=True, stderr=True,
                                        tty=False, _preload_content=False),
                         opened, name=f"rpf-bw-exec-{self.node}", discard=lambda late: late.close())
        except Overdue:
            # stream() swapped this client's call_api and still runs: this thread takes a new one
            self.fleet.drop_thread_core()
            raise EndpointError(f"exec into {self.pod_name} did not open within {opened:g}s") from None
        except ApiException as exc:
            raise EndpointError(f"exec into {self.pod_name}: {exc.reason or exc.status}") from None
        try:
            ws.run_forever(timeout=timeout)
            if ws.is_open():
                raise EndpointError(f"exec into {self.pod_name} timed out after {timeout:g}s")
            out, err = ws.read_channel(STDOUT), ws.read_channel(STDERR)
            return _exit_status(ws.read_channel(ERROR)), out, err
        except EndpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - websocket/transport errors
            raise EndpointError(f"exec into {self.pod_name}: {type(exc).__name__}: {exc}") from None
        finally:
            ws.close(timeout=CLOSE_WAIT)   # a hung exec's server may never answer the close frame


class PodFleet:
    """The pods of one run."""

    def __init__(self, api_client, *, namespace: str, run_id: str, nodes: Sequence[str], profile,
                 deadline_seconds: int, timeouts: Timeouts = DEFAULTS) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.namespace = names.namespace(namespace)
        self.run_id = names.run_id(run_id)
        self.nodes = [names.kube_node(n) for n in nodes]
        self.profile = profile
        self.deadline_seconds = deadline_seconds
        self.timeouts = timeouts
        self.created: dict[str, str] = {}        # node -> pod name
        self.failed: dict[str, str] = {}         # node -> why its pod is not usable
        self.pods: dict[str, object] = {}        # node -> V1Pod when Ready
        self._local = threading.local()
        self._clients: list = []
        self._clients_lock = threading.Lock()

    def thread_core(self):
        """A CoreV1Api with an ApiClient of this thread's own (for exec)."""
        from kubernetes import client

        core = getattr(self._local, "core", None)
        if core is None:
            api = client.ApiClient(self.api_client.configuration)
            with self._clients_lock:
                self._clients.append(api)
            core = self._local.core = client.CoreV1Api(api)
        return core

    def drop_thread_core(self) -> None:
        """Forget this thread's client (an abandoned exec still holds it); closed at ``close``."""
        self._local.core = None

    def manifest(self, node: str) -> dict:
        from .discover import RailTarget

        bw, kube = self.profile.bandwidth, self.profile.kubernetes
        return endpoint_pod(node=node, run_id=self.run_id, namespace=self.namespace,
                            rails=RailTarget.from_profile(self.profile), image=bw.image,
                            spiderpool_namespace=kube.spiderpool_namespace,
                            deadline_seconds=self.deadline_seconds, annotations=bw.annotations)

    def create(self, workers: int = 16) -> None:
        from kubernetes.client.rest import ApiException

        def one(node: str) -> None:
            body = self.manifest(node)
            self.created[node] = body["metadata"]["name"]
            try:
                self.core.create_namespaced_pod(self.namespace, body, _request_timeout=self.timeouts.kube_request)
            except ApiException as exc:
                if exc.status != 409:
                    self.created.pop(node, None)
                self.failed[node] = f"pod not created: {exc.status} {_api_message(exc)}"

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(self.nodes)))) as pool:
            list(pool.map(one, self.nodes))

    def wait_ready(self, timeout: float) -> None:
        """Watch the run's pods until each is Ready or settled, or until ``timeout``."""
        from kubernetes import watch
        from kubernetes.client.rest import ApiException

        want = {name: node for node, name in self.created.items() if node not in self.failed}
        last: dict[str, str] = {}
        end = time.monotonic() + timeout
        version = None
        while want and (remaining := end - time.monotonic()) > 0:
            if version is None:                 # (re)list: at the start and when the watch expired
                listed = self.core.list_namespaced_pod(self.namespace, label_selector=selector(self.run_id),
                                                       _request_timeout=self.timeouts.kube_request)
                for pod in listed.items:
                    self._see(pod, want, last)
                version = listed.metadata.resource_version
                continue
            w = watch.Watch()
            try:
                for event in w.stream(self.core.list_namespaced_pod, self.namespace,
                                      label_selector=selector(self.run_id), resource_version=version,
                                      timeout_seconds=max(1, int(remaining + 0.999)),
                                      _request_timeout=remaining + self.timeouts.kube_watch_slack):
                    pod = event["object"]
                    version = pod.metadata.resource_version or version
                    self._see(pod, want, last)
                    if not want or time.monotonic() > end:
                        w.stop()
                        break
            except ApiException as exc:
                if exc.status != 410:
                    raise
                version = None
        for name, node in want.items():
            self.failed[node] = f"pod {name} not Ready after {timeout:g}s: {last.get(name, 'no status yet')}"

    def _see(self, pod, want: dict[str, str], last: dict[str, str]) -> None:
        name = pod.metadata.name
        node = want.get(name)
        if node is None:
            return
        status = pod.status
        conditions = {c.type: c for c in (status.conditions or [])} if status else {}
        if status is not None and status.phase in ("Failed", "Succeeded"):
            self.failed[node] = f"pod {name} {status.phase}: {status.reason or ''} {status.message or ''}".strip()
            del want[name]
        elif "Ready" in conditions and conditions["Ready"].status == "True":
            self.pods[node] = pod
            del want[name]
        else:
            last[name] = _pending_reason(pod, conditions)

    def endpoints(self) -> dict[str, PodEndpoint]:
        return {node: PodEndpoint(self, node, pod.metadata.name, pod.metadata.annotations or {})
                for node, pod in self.pods.items()}

    def delete(self) -> list[str]:
        """Delete every pod of the run (by name, then any stragglers by label)."""
        request = self.timeouts.kube_request
        gone = delete_pods(self.core, self.namespace, list(self.created.values()), request)
        left = self.core.list_namespaced_pod(self.namespace, label_selector=selector(self.run_id),
                                             _request_timeout=request).items
        gone += delete_pods(self.core, self.namespace, [p.metadata.name for p in left], request)
        self.close()
        return gone

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for api in clients:
            api.close()


def _api_message(exc) -> str:
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def _pending_reason(pod, conditions) -> str:
    for cs in (pod.status.container_statuses or []) if pod.status else []:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason not in (None, "ContainerCreating"):
            return f"{waiting.reason}: {waiting.message or ''}".strip(": ")
    sched = conditions.get("PodScheduled")
    if sched is not None and sched.status == "False":
        return f"{sched.reason or 'Unschedulable'}: {sched.message or ''}".strip(": ")
    phase = pod.status.phase if pod.status else None
    return f"phase {phase or 'unknown'}"


def list_nodes(api_client, node_selector: Mapping[str, str], timeouts: Timeouts = DEFAULTS) -> list[str]:
    """Node names matching the profile's label selector (every node when empty), sorted."""
    from kubernetes import client

    sel = ",".join(f"{k}={v}" for k, v in sorted(node_selector.items()))
    nodes = client.CoreV1Api(api_client).list_node(label_selector=sel or None,
                                                   _request_timeout=timeouts.kube_list_timeout()).items
    return sorted(names.kube_node(n.metadata.name) for n in nodes)


def deadline_seconds(config: RunConfig, rounds: int, ready_timeout: float) -> int:
    """The pods' activeDeadlineSeconds: Ready, discovery, the planned rounds and as many
    again for retests (a pod outliving its runner ends by itself)."""
    return int(ready_timeout + 30 + config.exec_margin + (2 * rounds + 2) * config.round_budget)


def run_kubernetes(api_client, profile, nodes: Sequence[str], *, rounds: Sequence[schedule.Round] | None = None,
                   run_id: str | None = None, namespace: str | None = None, ready_timeout: float | None = None,
                   config: RunConfig | None = None, pairs_text: str | None = None,
                   timeouts: Timeouts = DEFAULTS) -> BandwidthReport:
    """Measure between the pods of ``nodes``; pods are always deleted before returning.

    ``ready_timeout``: seconds for the pods to be Ready (default: ``timeouts.bandwidth_ready``,
    else the profile's ``bandwidth.timeout``); API calls and exec opens are bounded by
    ``timeouts``."""
    run_id = names.run_id(run_id) if run_id else names.new_run_id()
    config = config or RunConfig.from_profile(profile)
    timeouts = timeouts or DEFAULTS
    if not any(r.network for r in config.rails) and not profile.bandwidth.annotations:
        raise ValueError("the pods would get no rail networks: set rails.<rail>.network (the SpiderMultusConfig "
                         "name) or bandwidth.annotations (e.g. cni.spidernet.io/rdma-resource-inject)")
    rails = [r.name for r in config.rails]
    if rounds is None:
        rounds = schedule.plan(profile.bandwidth.strategy, nodes, rails, pairs_text)
    if ready_timeout is None:
        ready_timeout = timeouts.bandwidth_ready if timeouts.bandwidth_ready is not None else profile.bandwidth.timeout
    ready_timeout = float(ready_timeout)
    report = new_report(run_id, "kubernetes", nodes, rails, rounds)
    fleet = PodFleet(api_client, namespace=namespace or profile.kubernetes.namespace, run_id=run_id,
                     nodes=nodes, profile=profile, deadline_seconds=deadline_seconds(config, len(rounds), ready_timeout),
                     timeouts=timeouts)
    runner: Runner | None = None
    started = time.monotonic()
    with sigterm_interrupts():
        try:
            fleet.create()
            report.timings["create"] = time.monotonic() - started
            fleet.wait_ready(ready_timeout)
            report.timings["ready"] = time.monotonic() - started - report.timings["create"]
            runner = Runner(fleet.endpoints(), config, run_id, not_ready=fleet.failed,
                            deadline=started + fleet.deadline_seconds - config.exec_margin)
            runner.run(rounds, report)
        except BaseException:
            report.interrupted = True
            raise
        finally:
            with deferred_signals():
                if runner is not None:
                    runner.close()
                t0 = time.monotonic()
                report.deleted = fleet.delete()
                report.timings["delete"] = time.monotonic() - t0
    report.not_ready = {**fleet.failed, **report.not_ready}
    return report
