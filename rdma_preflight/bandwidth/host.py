"""Host mode: the same measurement between hosts over their transports (SSH for
bare-metal acceptance without Kubernetes), with host networking.

Each host runs the same driver as a pod (``targets.base.Target.run`` with an argv, never a
shell string built from names). Rails are found by the profile's NIC selector (netdev,
RDMA device, subnet/pool/address, position among RDMA devices in PCI order). The servers
share the host's TCP port space: ``bandwidth.port_base`` + rail index must be free. After
an interruption the servers of the round in flight are stopped and the commands in flight
are let finish (each is bounded by its ``timeout``), so nothing is left running on a host.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..targets.base import Target, TargetError
from . import names, schedule
from .cleanup import deferred_signals, sigterm_interrupts
from .runner import BandwidthReport, EndpointError, RunConfig, Runner, new_report


class HostEndpoint:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.node = names.node(target.node)

    @property
    def annotations(self) -> Mapping[str, str] | None:
        return None

    def exec(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        try:
            res = self.target.run(argv, timeout=timeout)
        except TargetError as exc:
            raise EndpointError(exc.reason) from None
        return res.rc, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")


def run_hosts(targets: Sequence[Target], profile, *, rounds: Sequence[schedule.Round] | None = None,
              run_id: str | None = None, config: RunConfig | None = None,
              pairs_text: str | None = None) -> BandwidthReport:
    run_id = names.run_id(run_id) if run_id else names.new_run_id()
    config = config or RunConfig.from_profile(profile, pod=False)
    endpoints = {e.node: e for e in (HostEndpoint(t) for t in targets)}
    nodes = list(endpoints)
    rails = [r.name for r in config.rails]
    if rounds is None:
        rounds = schedule.plan(profile.bandwidth.strategy, nodes, rails, pairs_text)
    report = new_report(run_id, "hosts", nodes, rails, rounds)
    runner = Runner(endpoints, config, run_id)
    with sigterm_interrupts():
        try:
            runner.run(rounds, report)
        except BaseException:
            report.interrupted = True
            with deferred_signals():
                runner.stop_servers()          # servers of the round in flight
                runner.close(wait=True)        # commands in flight end (servers gone, clients bounded)
            raise
        finally:
            runner.close()
    return report
