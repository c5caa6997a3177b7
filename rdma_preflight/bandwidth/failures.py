"""Failure classes of a bandwidth measurement and how a perftest run is classified.

Each class carries a title and an actionable fix (bandwidth-practice.md §5). A run is
classified from both ends' output: the server's failure decides when it died before
listening; otherwise the client's, unless the server printed a more specific signature
(a version or GID problem shows on one side and surfaces as a lost side channel on the
other). Exit 124 means our outer ``timeout`` fired (perftest has no deadline of its own),
127 that the binary is missing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..parsers import ParseError
from ..parsers import ib_write_bw as p_bw
from ..parsers.ib_write_bw import BwFailureKind as K


class FailureClass(enum.Enum):
    NOT_READY = "endpoint not ready"
    NO_DEVICE = "no RDMA device"
    BINARY_MISSING = "perftest missing"
    PORT_NOT_ACTIVE = "port not Active"
    LINK_DEGRADED = "link trained below nominal rate"
    GID = "bad or empty GID"
    SIDE_CHANNEL = "side channel connect failure or timeout"
    TRANSPORT = "transport retry exceeded"
    MEMLOCK = "memory registration failed (memlock)"
    VERSION_SKEW = "perftest version skew"
    MTU_FALLBACK = "MTU fallback"
    BELOW_FLOOR = "below floor"
    OUTLIER = "outlier"
    ASYMMETRIC = "asymmetric"
    NO_RESULT = "no result"

    @property
    def severity(self) -> str:
        return "warn" if self in (FailureClass.OUTLIER, FailureClass.MTU_FALLBACK) else "fail"

    @property
    def static(self) -> bool:
        """Found before any traffic: a retest cannot change it."""
        return self in STATIC


STATIC = frozenset({FailureClass.NOT_READY, FailureClass.NO_DEVICE, FailureClass.BINARY_MISSING,
                    FailureClass.PORT_NOT_ACTIVE, FailureClass.LINK_DEGRADED, FailureClass.GID,
                    FailureClass.VERSION_SKEW})

FIX = {
    FailureClass.NOT_READY: "make the node able to run the RDMA test pod: allocatable RDMA resources for every rail "
                            "(kubectl get node -o jsonpath='{.status.allocatable}'), the rails' SpiderMultusConfigs "
                            "and IP pools, a pullable image; then re-run",
    FailureClass.NO_DEVICE: "give the pod the rail's RDMA device: request the rail's RDMA resource, make the RDMA "
                            "shared device plugin or SR-IOV policy (isRdma: true) select this NIC, and in exclusive "
                            "netns mode check the rdma CNI moved the VF into the pod (`rdma link` inside the pod)",
    FailureClass.BINARY_MISSING: "run an image that has perftest (profile bandwidth.image, e.g. "
                                 "ghcr.io/spidernet-io/rdma-tools) or install perftest on the host "
                                 "(bandwidth.perftest names the binary)",
    FailureClass.PORT_NOT_ACTIVE: "bring the port up: check the cable or optic and the switch port (ibstat "
                                  "State / Physical state); on InfiniBand make sure a subnet manager runs",
    FailureClass.LINK_DEGRADED: "the port trained below its nominal rate: reseat or replace the cable/optic and "
                                "check the switch port's speed and the link width (ibstat Rate, ethtool); "
                                "bandwidth is only judged once the link runs at its nominal rate",
    FailureClass.GID: "use the local RoCE v2 IPv4 GID index (show_gids, /sys/class/infiniband/<dev>/ports/1/"
                      "gid_attrs/types); an empty or missing GID means the rail netdev has no IPv4 or the VF "
                      "is not in the pod's network namespace; on InfiniBand an empty GID 0 means no subnet manager",
    FailureClass.SIDE_CHANNEL: "perftest's TCP side channel failed: check the server is up, the server's rail IP "
                               "is reachable from the client's rail (ping -I <netdev>), policy routing answers "
                               "from the same rail (ip rule from <ip> lookup <table>) and no firewall drops the port",
    FailureClass.TRANSPORT: "RDMA packets are lost or unroutable between the two rails: check both ends are in "
                            "the same subnet/VLAN or routed, lossless settings (PFC/ECN) on the path and the switch "
                            "port error counters; on InfiniBand the subnet manager's routes",
    FailureClass.MEMLOCK: "memory could not be pinned: the pod needs CAP_IPC_LOCK (the bandwidth pods add it) "
                          "and an unlimited memlock limit (containerd LimitMEMLOCK=infinity, ulimit -l); for "
                          "GPUDirect load nvidia-peermem",
    FailureClass.VERSION_SKEW: "run the same perftest on both ends (one image, one package version): versions "
                               "before and after 5.70 cannot talk",
    FailureClass.MTU_FALLBACK: "the RDMA MTU fell back: raise the rail netdev MTU (Spiderpool uses 4200) so the "
                               "active RDMA MTU reaches 4096, and the switch MTU (9216)",
    FailureClass.NO_RESULT: "perftest printed no result: read the first output line and exit status in the "
                            "evidence, then run the same command by hand in the pod",
}

KIND_CLASS = {
    K.NO_DEVICE: FailureClass.NO_DEVICE, K.BINARY_MISSING: FailureClass.BINARY_MISSING,
    K.PORT_NOT_ACTIVE: FailureClass.PORT_NOT_ACTIVE, K.EMPTY_GID: FailureClass.GID,
    K.HCA_CONNECT_FAILED: FailureClass.GID, K.INVALID_GID_INDEX: FailureClass.GID,
    K.GID_TYPE_MISMATCH: FailureClass.GID, K.COMPLETION_ERROR: FailureClass.TRANSPORT,
    K.TRANSPORT_RETRY_EXCEEDED: FailureClass.TRANSPORT, K.CONNECT_FAILED: FailureClass.SIDE_CHANNEL,
    K.EXCHANGE_FAILED: FailureClass.SIDE_CHANNEL, K.SERVER_TIMEOUT: FailureClass.SIDE_CHANNEL,
    K.MEMLOCK: FailureClass.MEMLOCK, K.VERSION_MISMATCH: FailureClass.VERSION_SKEW,
    K.BELOW_BW_LIMIT: FailureClass.BELOW_FLOOR, K.MTU_FALLBACK: FailureClass.MTU_FALLBACK,
}
# Which side's signature explains a failed run best (most specific first).
PRIORITY = (FailureClass.VERSION_SKEW, FailureClass.BINARY_MISSING, FailureClass.NO_DEVICE,
            FailureClass.PORT_NOT_ACTIVE, FailureClass.GID, FailureClass.MEMLOCK, FailureClass.TRANSPORT,
            FailureClass.SIDE_CHANNEL, FailureClass.BELOW_FLOOR, FailureClass.NO_RESULT)
TIMED_OUT = (124, 137)
NOT_FOUND = 127


@dataclass(frozen=True)
class JobOutput:
    """What one perftest process printed and its exit status (None: unknown or never ran)."""

    text: str
    rc: int | None


@dataclass(frozen=True)
class Classified:
    gbps: float | None
    failure: FailureClass | None = None
    line: str = ""
    side: str = ""
    warnings: tuple[tuple[FailureClass, str], ...] = ()
    header: dict | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.gbps is not None


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def read(out: JobOutput, side: str, timeout_s: int = 0) -> Classified:
    """One side on its own."""
    try:
        res = p_bw.parse(out.text) if out.text.strip() else None
    except ParseError:
        res = None
    warnings = tuple((FailureClass.MTU_FALLBACK, w.text) for w in res.warnings) if res else ()
    header = _header(res) if res else None
    if res is not None and res.failure is not None:
        return Classified(None, KIND_CLASS[res.failure.kind], res.failure.text, side, warnings, header)
    if out.rc == NOT_FOUND:
        return Classified(None, FailureClass.BINARY_MISSING, _first_line(out.text) or "exit 127", side)
    if out.rc in TIMED_OUT:
        return Classified(None, FailureClass.SIDE_CHANNEL,
                          f"{side} killed by the outer timeout after {timeout_s}s (exit {out.rc})", side,
                          warnings, header)
    if res is not None and res.rows and res.average_gbps is not None:
        return Classified(res.average_gbps, None, "", side, warnings, header)
    line = _first_line(out.text) or "no output"
    return Classified(None, FailureClass.NO_RESULT, f"{line} (exit {out.rc})", side, warnings, header)


def _header(res) -> dict:
    h = res.header
    return {k: v for k, v in (("device", h.device), ("link_type", h.link_type), ("qps", h.num_qps),
                              ("mtu", h.mtu), ("gid_index", h.gid_index), ("unit", h.bw_unit)) if v is not None}


def classify(client: JobOutput | None, server: JobOutput | None, server_status: str,
             client_timeout: int = 0, server_timeout: int = 0, listen_wait: int = 0,
             client_read: Classified | None = None) -> Classified:
    """The outcome of one flow from both ends; the client's BW average is the figure.
    ``client_read``: the client's output already read (``read``), e.g. in a worker thread."""
    if server_status == "dead" and server is not None:
        died = read(server, "server", server_timeout)
        if died.failure is None:
            died = Classified(None, FailureClass.NO_RESULT, "server exited before the client connected", "server")
        return died
    if server_status != "ready":
        return Classified(None, FailureClass.SIDE_CHANNEL,
                          f"server did not listen on its TCP port within {listen_wait}s", "server")
    if client is None:
        return Classified(None, FailureClass.NO_RESULT, "client did not run", "client")
    got = client_read or read(client, "client", client_timeout)
    if got.failure is None or server is None:
        return got
    other = read(server, "server", server_timeout)
    if other.failure is not None and PRIORITY.index(other.failure) < PRIORITY.index(got.failure):
        return Classified(None, other.failure, other.line, "server", got.warnings, got.header)
    return got
