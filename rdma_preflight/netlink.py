"""Open a pyroute2 netlink socket inside a network namespace, from the calling thread.

setns(2) for a network namespace applies to the calling thread only: the thread enters the
namespace, opens the socket (which stays bound to that namespace) and goes back. No helper
process is forked — pyroute2's own ``NetNS``/``netns=`` path forks, and a fork from a
worker thread of a multi-threaded process (our concurrent fact gathering) can deadlock.
A missing namespace is an error, never created (flags=0).
"""

from __future__ import annotations

import os


def open_netlink(netns: str | None):
    """An ``IPRoute`` whose socket lives in ``netns`` (None or "" = the current namespace)."""
    from pyroute2 import IPRoute
    from pyroute2.netns import setns

    if not netns:
        return IPRoute()
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(netns, flags=0, fork=False)
        try:
            return IPRoute()
        finally:
            setns(saved, flags=0, fork=False)
    finally:
        os.close(saved)
