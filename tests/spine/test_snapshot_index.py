"""Snapshot.glob / Snapshot.children answer from a directory index (fleet-scale replay);
they must answer exactly what a scan of every stored path answers.

The oracle below is the straightforward scan (what the index replaced); it is run over the
bundled example snapshots (assembled from real recorded outputs, examples/snapshots/) with
every pattern that replaces one component of a stored path by a wildcard.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from rdma_preflight.collect.snapshot import Snapshot
from rdma_preflight.targets.snapshot import SnapshotTarget

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "snapshots").iterdir())


def scan_glob(snap: Snapshot, pattern: str) -> list[str]:
    parts = pattern.split("/")
    return sorted(p for p in snap.files
                  if len(p.split("/")) == len(parts)
                  and all(fnmatch.fnmatchcase(a, b) for a, b in zip(p.split("/"), parts)))


def scan_children(snap: Snapshot, directory: str) -> list[str]:
    prefix = directory.rstrip("/") + "/"
    return sorted({p[len(prefix):].split("/", 1)[0] for p in list(snap.files) + list(snap.links)
                   if p.startswith(prefix)})


def patterns(paths: list[str], limit: int = 400) -> list[str]:
    """Wildcard variants of the stored paths; a deterministic sample of ``limit`` (the oracle
    scans every path for each pattern, so all of them would take minutes)."""
    out: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for i in range(len(parts)):
            for wild in ("*", parts[i][:1] + "*", "?" * len(parts[i]), "[a-m]*"):
                out.add("/".join(parts[:i] + [wild] + parts[i + 1:]))
            out.add("/".join(parts[:i + 1]))
    ordered = sorted(out)
    return ordered[:: max(1, len(ordered) // limit)]


@pytest.mark.parametrize("snapdir", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_index_answers_like_a_scan(snapdir):
    snap = SnapshotTarget(node=snapdir.name, url=f"snapshot://{snapdir}", path=str(snapdir)).load()
    paths = list(snap.files)
    assert len(paths) > 50
    pats = patterns(paths)
    matched = 0
    for pat in pats:
        got = snap.glob(pat)
        assert got == scan_glob(snap, pat), pat
        matched += bool(got)
    assert matched > len(pats) // 2          # the patterns exercise real matches, not only misses
    dirs = {"/".join(p.split("/")[:i]) or "/" for p in paths + list(snap.links) for i in range(len(p.split("/")))}
    for d in dirs:
        assert snap.children(d) == scan_children(snap, d), d


def test_index_follows_added_and_removed_files():
    """Hand-made snapshot: the index is rebuilt when paths are added or removed."""
    snap = Snapshot(node="n", files={"/sys/class/net/eth0/mtu": b"1500\n"})
    assert snap.glob("/sys/class/net/*/mtu") == ["/sys/class/net/eth0/mtu"]
    snap.files["/sys/class/net/eth1/mtu"] = b"9000\n"
    assert snap.glob("/sys/class/net/*/mtu") == ["/sys/class/net/eth0/mtu", "/sys/class/net/eth1/mtu"]
    del snap.files["/sys/class/net/eth0/mtu"]
    assert snap.children("/sys/class/net") == ["eth1"]
    snap.links["/sys/class/net/eth2/device"] = "../../devices/pci0000:00/0000:00:01.0"
    assert snap.children("/sys/class/net") == ["eth1", "eth2"]
    assert snap.glob("/sys/class/net/eth2/*") == []          # a link is not a stored file
    assert snap.glob("/sys/class/net/eth[[]1]/mtu") == []    # escaped metacharacters match literally
