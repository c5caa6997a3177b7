"""Delete bandwidth pods by label; keep Ctrl-C and SIGTERM from cutting a cleanup short.

Every pod of a run carries ``rdma-preflight.io/run=<id>`` and
``app.kubernetes.io/component=bandwidth``. The runner deletes its pods in a ``finally``
(success, failure, timeout, Ctrl-C, SIGTERM); ``activeDeadlineSeconds`` bounds a pod whose
runner was killed outright, and :func:`cleanup` (``rdma-preflight cleanup``) removes
leftovers of any run. Needs pods list/delete in the namespace (deploy/rbac-bandwidth.yaml).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from ..timeouts import DEFAULTS, Timeouts

RUN_LABEL = "rdma-preflight.io/run"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "bandwidth"
GRACE_SECONDS = 1


def selector(run_id: str | None = None) -> str:
    """The label selector of one run's pods, or of every run's."""
    return f"{COMPONENT_LABEL}={COMPONENT}," + (f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL)


def core_api(api):
    """A CoreV1Api from a CoreV1Api or an ApiClient."""
    from kubernetes import client

    return api if isinstance(api, client.CoreV1Api) else client.CoreV1Api(api)


def delete_pods(core, namespace: str, pod_names, request_timeout: float = DEFAULTS.kube_request) -> list[str]:
    """Delete pods by name, ignoring those already gone; returns the names deleted now."""
    from kubernetes.client.rest import ApiException

    gone = []
    for name in pod_names:
        try:
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=GRACE_SECONDS,
                                       _request_timeout=request_timeout)
            gone.append(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
    return gone


def cleanup(api, namespace: str, run_id: str | None = None, timeouts: Timeouts = DEFAULTS) -> list[str]:
    """Delete the bandwidth pods of ``run_id`` (of every run when None) in ``namespace``;
    returns the names deleted."""
    from . import names

    core = core_api(api)
    names.namespace(namespace)
    if run_id is not None:
        names.run_id(run_id)
    with deferred_signals():
        pods = core.list_namespaced_pod(namespace, label_selector=selector(run_id),
                                        _request_timeout=timeouts.kube_request).items
        return delete_pods(core, namespace, [p.metadata.name for p in pods], timeouts.kube_request)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """While the body runs, SIGINT and SIGTERM are held back (main thread only); the first
    one that arrived is raised as KeyboardInterrupt once the body is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}

    def hold(signum, frame):
        caught.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, hold)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt(f"signal {caught[0]} (deferred until cleanup finished)")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread while the body runs (as Ctrl-C),
    so ``finally`` blocks delete what was created."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
