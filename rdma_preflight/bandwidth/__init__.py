"""Multi-node RDMA bandwidth with ``ib_write_bw`` (bandwidth-practice.md).

Every static check can pass while a cable, an optic or a switch port delivers half its
rate; the proof is traffic. This package measures ``ib_write_bw`` between nodes on every
rail, through the same Spiderpool networks and RDMA resources training jobs use:

* ``spec``      the endpoint pod (networks annotation, one RDMA resource per rail, IPC_LOCK,
                pinned to its node, run label, activeDeadlineSeconds)
* ``schedule``  pairing: ring (2 rounds), tournament (circle method), pairs from a file,
                retest rounds; every (node, rail) sends at most once and receives at most
                once per round
* ``driver``    the fixed shell script run in the pod/host (servers, clients, collection,
                discovery) and the perftest argv; names are validated before any argv
* ``discover``  each rail's netdev, IP, RDMA device, port state/rate and RoCE v2 GID index
* ``failures``  failure classes with their actionable messages
* ``verdict``   floor (nominal rate), outliers, link rate first, asymmetry, localisation
* ``runner``    rounds over endpoints, retests against known-good partners
* ``pods``      Kubernetes endpoints (create, wait Ready, exec, delete)
* ``host``      the same over SSH targets with host networking (bare-metal acceptance)
* ``cleanup``   delete leftovers by label; signals deferred while cleaning up
* ``pytest_hooks``  ``checks/test_bandwidth.py``: one pytest result per (pair, rail, direction)
"""

from .cleanup import cleanup

__all__ = ["cleanup"]
