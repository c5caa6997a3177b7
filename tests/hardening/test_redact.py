"""Credentials in copied netplan files are replaced before a snapshot is stored (issue 9,
secrets). The netplan files here are HAND-MADE (netplan's documented keys: auth.password,
wifis access-point password, wireguard keys.private / keys.shared); no real node's file."""

from __future__ import annotations

import gzip
import subprocess

import pytest
import yaml

from rdma_preflight.checks.net import netplan_interfaces
from rdma_preflight.collect.redact import REDACTED, redact_snapshot, redact_text
from rdma_preflight.collect.snapshot import Snapshot

SECRET = "s3cr3t-Canary-7f1e"

NETPLAN = f"""\
network:
  version: 2
  ethernets:
    ens1f0np0:
      mtu: 4200
      addresses: [172.16.1.11/24]
      auth:
        key-management: 802.1x
        method: peap
        identity: "operator@example"
        password: "{SECRET}"
      routes:
        - to: default
          via: 172.16.1.1
          table: 151
      routing-policy:
        - from: 172.16.1.11
          table: 151
  wifis:
    wlan0:
      access-points:
        "lab-ssid":
          password: {SECRET}
  tunnels:
    wg0:
      mode: wireguard
      keys:
        private: {SECRET}=
        shared: '{SECRET}'
      key: |
        {SECRET}
      psk: >
        {SECRET}
        {SECRET}
"""


def test_netplan_credentials_are_replaced_and_routing_is_kept():
    text, n = redact_text(NETPLAN)
    assert SECRET not in text and n == 6
    doc = yaml.safe_load(text)                                  # still valid YAML
    eth = doc["network"]["ethernets"]["ens1f0np0"]
    assert eth["auth"]["password"] == REDACTED and eth["auth"]["identity"] == "operator@example"
    assert doc["network"]["tunnels"]["wg0"]["keys"] == {"private": REDACTED, "shared": REDACTED}
    before, _ = netplan_interfaces({"/etc/netplan/50-rails.yaml": NETPLAN})
    after, bad = netplan_interfaces({"/etc/netplan/50-rails.yaml": text})
    assert bad == [] and after == before                        # what net.persistence reads is unchanged


def test_snapshot_records_what_was_redacted_and_leaves_other_files():
    snap = Snapshot(node="n", files={"/etc/netplan/50-rails.yaml": NETPLAN.encode(),
                                     "/etc/os-release": b'NAME="Ubuntu"\npassword: not-a-netplan-file\n'})
    assert redact_snapshot(snap) == ["/etc/netplan/50-rails.yaml"]
    assert snap.meta["redacted"] == "/etc/netplan/50-rails.yaml"
    assert SECRET.encode() not in snap.files["/etc/netplan/50-rails.yaml"]
    assert b"password: not-a-netplan-file" in snap.files["/etc/os-release"]


def _overlay_ok() -> bool:
    probe = ["unshare", "-m", "sh", "-c", 'd=$(mktemp -d) && mkdir $d/u $d/w && '
             'mount -t overlay overlay -o lowerdir=/etc,upperdir=$d/u,workdir=$d/w /etc; r=$?; '
             'umount /etc 2>/dev/null; rm -rf $d; exit $r']
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.skipif(not _overlay_ok(), reason="needs a private mount namespace with overlayfs (root)")
def test_real_collection_never_stores_the_netplan_secret(tmp_path):
    """The real collector, locally, with the netplan file placed in an overlay over /etc that
    exists only inside a private mount namespace (the machine's /etc is never written): the
    saved snapshot (dir and tar) carries no byte of the secret."""
    (tmp_path / "upper").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "50-rails.yaml").write_text(NETPLAN)
    out = tmp_path / "snaps"
    script = ('mount -t overlay overlay -o lowerdir=/etc,upperdir="$0/upper",workdir="$0/work" /etc '
              '&& mkdir -p /etc/netplan && cp "$0/50-rails.yaml" /etc/netplan/ && shift && exec "$@"')
    cmd = ["unshare", "-m", "sh", "-c", script, str(tmp_path), "x", "python3", "-m", "rdma_preflight", "collect",
           "--nodes", "local", "--out", str(out), "--tar"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    stored = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".tar.gz") for p in stored)
    assert any("50-rails.yaml" in str(p) for p in stored)      # the file was collected...
    for p in stored:
        data = gzip.decompress(p.read_bytes()) if p.name.endswith(".tar.gz") else p.read_bytes()
        assert SECRET.encode() not in data, p                  # ...without its credentials
