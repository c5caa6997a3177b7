"""Knobs and hooks shared by the double's parts; change them at any time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union

ExecOutput = Union[str, bytes]
ExecResult = tuple[int, ExecOutput, ExecOutput]
# exec_handler(pod, argv) -> (rc, stdout, stderr), or None to run argv for real.
ExecHandler = Callable[[dict[str, Any], list[str]], Optional[ExecResult]]
# on_pod_network(pod, netns_name_or_None) -> annotations to add to the pod, or None.
NetworkHook = Callable[[dict[str, Any], Optional[str]], Optional[Mapping[str, str]]]


@dataclass
class Settings:
    token: str = "kube-double-token"
    start_delay: float = 0.05
    pod_netns: bool = False
    node_netns: dict[str, str] = field(default_factory=dict)
    exec_handler: ExecHandler | None = None
    # exec_rewrite(pod, argv) -> argv: what actually runs for real (stdin still flows), e.g. to
    # strip `nsenter -t 1 ...`: the double has no node PID 1 to enter.
    exec_rewrite: Callable[[dict, list[str]], list[str]] | None = None
    on_pod_network: NetworkHook | None = None
    errors: list[str] = field(default_factory=list)


def as_bytes(data: ExecOutput | None) -> bytes:
    if data is None:
        return b""
    return data if isinstance(data, bytes) else data.encode()


def truthy(values: Sequence[str] | str | None) -> bool:
    value = values[-1] if isinstance(values, (list, tuple)) and values else values
    return isinstance(value, str) and value.lower() in ("true", "1", "yes")
