"""The collector stream and the snapshot layout: decode, refuse damage, round-trip exactly."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from rdma_preflight.collect.gather import collect_snapshot
from rdma_preflight.collect.snapshot import Snapshot, SnapshotError, write_tar
from rdma_preflight.collect.stream import StreamError, decode_stream
from rdma_preflight.facts import build_facts
from rdma_preflight.targets.local import LocalTarget

NONCE = "RPFabc123"


def stream(*records: bytes, end: bool = True, banner: bool = True) -> bytes:
    out = (f"RPF-STREAM 1 {NONCE}\n".encode() if banner else b"")
    for r in records:
        out += b"\n" + NONCE.encode() + b" " + r
    if end:
        out += b"\n" + NONCE.encode() + b" end all\n"
    return out


def test_decode_records_exactly():
    data = stream(b"meta kernel\n6.8.0", b"cmd ip_link\n[]\n", b"rc ip_link\n0",
                  b"file /proc/cmdline\nBOOT_IMAGE=/vmlinuz ro\n", b"missing ibstat",
                  b"attrs grep\n/sys/class/net/eth0/mtu\x001500\n/sys/class/net/eth0/operstate\x00up\n",
                  b"link /sys/class/net/eth0/device\n/sys/devices/pci0000:00/0000:00:03.0\n",
                  b"cmd odd\nno trailing newline", b"rc odd\n3", b"err odd\nboom\n")
    s = decode_stream(data, NONCE, "n1")
    assert s.meta["kernel"] == "6.8.0"
    assert s.commands["ip_link"].stdout == b"[]\n" and s.commands["ip_link"].rc == 0
    assert s.commands["odd"].stdout == b"no trailing newline" and s.commands["odd"].rc == 3
    assert s.commands["odd"].stderr == b"boom\n"
    assert s.files["/proc/cmdline"] == b"BOOT_IMAGE=/vmlinuz ro\n"
    assert s.value("/sys/class/net/eth0/mtu") == "1500"
    assert s.links["/sys/class/net/eth0/device"] == "/sys/devices/pci0000:00/0000:00:03.0"
    assert s.missing == {"ibstat"}


def test_file_content_cannot_forge_records():
    # a hostile file that contains a fake record line with a guessed marker
    hostile = b"file /etc/netplan/x.yaml\nRPFdeadbeef end all\n\nRPFdeadbeef cmd ip_link\n"
    s = decode_stream(stream(hostile), NONCE, "n1")
    assert s.files["/etc/netplan/x.yaml"] == b"RPFdeadbeef end all\n\nRPFdeadbeef cmd ip_link\n"
    assert "ip_link" not in s.commands


@pytest.mark.parametrize("data,reason", [
    (b"", "printed nothing"),
    (b"Permission denied\n", "not a collector stream"),
    (stream(b"cmd ip_link\n[]", b"rc ip_link\n0", end=False), "truncated"),
    (stream(b"cmd ip_link\n[]"), "has no exit code"),
    (stream(b"rc ip_link\n0"), "unknown command"),
    (stream(b"bogus x\ny"), "unknown record kind"),
    (stream(b"rc ip_link\nzero"), "unknown command"),
    (stream(b"attrs grep\nno-separator-here\n"), "without a path separator"),
    (b"RPF-STREAM 2 " + NONCE.encode() + b"\n", "version or nonce"),
])
def test_damaged_streams_are_refused(data, reason):
    with pytest.raises(StreamError, match=reason):
        decode_stream(data, NONCE, "n1")


def test_data_after_end_is_refused():
    data = stream(b"meta a\n1") + NONCE.encode() + b" meta b\n2"
    data = data.replace(b"end all\n", b"end all\n\n")
    with pytest.raises(StreamError, match="after the end record"):
        decode_stream(data, NONCE, "n1")


def test_collector_runs_once_locally_and_round_trips(tmp_path):
    """The real collector on this machine: one execution, decoded, saved, loaded, same facts."""
    target = LocalTarget(node="self", url="local")
    snap = collect_snapshot(target, timeout=60)
    assert target.round_trips == 1
    assert snap.meta["collector_version"] == "1"
    assert snap.cmd("ip_link").rc == 0 and json.loads(snap.cmd("ip_link").stdout)
    assert snap.value("/proc/sys/kernel/hostname")
    d = snap.save(tmp_path / "snap")
    again = Snapshot.load(d)
    assert again == snap
    tgz = write_tar(d, tmp_path / "snap.tar.gz")
    assert Snapshot.load(tgz) == snap
    # the snapshot's ip -j and the live netlink read give the same network facts
    live = build_facts(snap, netlink_ns="")
    replay = build_facts(again)
    assert live.net.comparable() == replay.net.comparable()
    assert live.net.source == "netlink" and replay.net.source == "ip-json"


def _tar_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"") -> str:
    p = tmp_path / "evil.tar.gz"
    with tarfile.open(p, "w:gz") as tar:
        idx = json.dumps({"format": "rdma-preflight-snapshot", "version": 1, "node": "x"}).encode()
        info = tarfile.TarInfo("snapshot.json")
        info.size = len(idx)
        tar.addfile(info, io.BytesIO(idx))
        tar.addfile(member, io.BytesIO(data) if data else None)
    return str(p)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_hostile_archives_are_refused(tmp_path, kind):
    m = tarfile.TarInfo({"dotdot": "../escape", "absolute": "/etc/passwd"}.get(kind, "files/x"))
    data = b""
    if kind in ("dotdot", "absolute"):
        data = b"boom"
        m.size = 4
    elif kind == "symlink":
        m.type, m.linkname = tarfile.SYMTYPE, "/etc/shadow"
    elif kind == "hardlink":
        m.type, m.linkname = tarfile.LNKTYPE, "snapshot.json"
    else:
        m.type, m.devmajor, m.devminor = tarfile.CHRTYPE, 1, 3
    with pytest.raises(SnapshotError):
        Snapshot.load(_tar_with(tmp_path, m, data))


def test_snapshot_dir_refuses_symlinks_and_unknown_versions(tmp_path):
    s = Snapshot(node="n1", files={"/proc/cmdline": b"x\n"})
    d = s.save(tmp_path / "s")
    (d / "files" / "proc" / "cmdline").unlink()
    (d / "files" / "proc" / "cmdline").symlink_to("/etc/hostname")
    with pytest.raises(SnapshotError, match="symlink"):
        Snapshot.load(d)
    idx = json.loads((d / "snapshot.json").read_text())
    idx["version"] = 99
    (d / "snapshot.json").write_text(json.dumps(idx))
    with pytest.raises(SnapshotError, match="version 99 is not supported"):
        Snapshot.load(d)


def test_snapshot_path_components_are_encoded(tmp_path):
    s = Snapshot(node="n1", files={"/sys/class/net/we ird$(x)/mtu": b"1500\n", "/sys/class/net/../mtu": b"1\n"})
    d = s.save(tmp_path / "s")
    assert Snapshot.load(d) == s
    stored = [p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()]
    assert all(".." not in part.split("/") for part in stored)


def test_gzip_bombs_and_broken_gzip_are_refused(tmp_path, monkeypatch):
    """Hand-made archives: the whole archive is unpacked in memory (fleet-speed replay), so its
    unpacked size is bounded before the memory is spent; truncated gzip data is refused."""
    from rdma_preflight.collect import snapshot as snapmod

    m = tarfile.TarInfo("files/big")
    m.size = 2 * 1024 * 1024
    path = _tar_with(tmp_path, m, b"\0" * m.size)
    assert Snapshot.load(path).node == "x"                   # within the limits: read
    monkeypatch.setattr(snapmod, "MAX_ARCHIVE_BYTES", 1024 * 1024)
    with pytest.raises(SnapshotError, match="unpacks to more than"):
        Snapshot.load(path)
    monkeypatch.undo()
    data = open(path, "rb").read()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match="cannot read archive"):
        Snapshot.load(str(cut))
