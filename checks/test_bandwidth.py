"""RDMA bandwidth between nodes (id bw.write): ib_write_bw on every rail, through the same
Spiderpool networks and RDMA resources training jobs use; one result per (pair, rail,
direction), e.g. ``test_write_bw[node-1->node-2:rail3]``.

Runs only when asked (``--bandwidth`` or ``--check 'bw.*'``): it creates pods (or runs on
ssh hosts) and moves traffic. The logic lives in rdma_preflight/bandwidth/.
"""

from rdma_preflight.bandwidth.pytest_hooks import generate as pytest_generate_tests  # noqa: F401
from rdma_preflight.bandwidth.pytest_hooks import rpf_bandwidth  # noqa: F401
from rdma_preflight.bandwidth.pytest_hooks import write_bw_test

test_write_bw = write_bw_test()
