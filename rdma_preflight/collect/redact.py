"""Credentials in the files the collector copies are replaced before anything is stored.

The collector copies ``/etc/netplan/*.yaml`` (for ``net.persistence``); netplan keeps Wi-Fi
passphrases, 802.1X passwords and WireGuard private keys inline. Their values are replaced by
``REDACTED`` (quoted, so the YAML still parses) as the stream is decoded, on the machine
running rdma-preflight, before a snapshot is saved or a fact is built; the snapshot's
``meta.redacted`` lists the files touched. The keys are netplan's own credential keys; the
routes, rules and addresses the checks read are left byte for byte.
"""

from __future__ import annotations

import fnmatch
import re

from .snapshot import Snapshot

REDACTED = "REDACTED"
NETPLAN_GLOB = "/etc/netplan/*"
# netplan: auth.password, auth.private-key-password, wifis.<ssid>.password, wireguard keys.private,
# keys.shared (pre-shared key), and the general names a hand-written file may use
CREDENTIAL_KEYS = ("password", "private-key-password", "client-key-password", "psk", "private", "shared",
                   "key", "private-key", "secret", "token", "pin")
_LINE = re.compile(r"^(?P<head>\s*(?:-\s+)?[\"']?(?P<key>[A-Za-z_-]+)[\"']?\s*:[ \t]*)(?P<value>[^\s#].*?)\s*$")


def redact_text(text: str) -> tuple[str, int]:
    """``text`` with every credential key's inline value replaced; (new text, values replaced).
    A value continued on the next lines (a YAML block scalar) is replaced line by line too."""
    out, n, block_indent = [], 0, None
    for line in text.split("\n"):
        if block_indent is not None:
            stripped = line.lstrip(" ")
            if stripped and len(line) - len(stripped) > block_indent:
                out.append(" " * (len(line) - len(stripped)) + REDACTED)
                continue
            block_indent = None
        m = _LINE.match(line)
        if m and m.group("key").lower() in CREDENTIAL_KEYS:
            value = m.group("value")
            if value in ("|", ">", "|-", ">-", "|+", ">+"):
                block_indent = len(line) - len(line.lstrip(" "))
                out.append(line)
            else:
                out.append(f'{m.group("head")}"{REDACTED}"')
            n += 1
            continue
        out.append(line)
    return "\n".join(out), n


def redact_snapshot(snap: Snapshot) -> list[str]:
    """Redact credentials in the snapshot's copied config files in place; the paths changed."""
    changed = []
    for path in sorted(snap.files):
        if not fnmatch.fnmatchcase(path, NETPLAN_GLOB):
            continue
        text = snap.files[path].decode("utf-8", errors="surrogateescape")
        new, n = redact_text(text)
        if n:
            snap.files[path] = new.encode("utf-8", errors="surrogateescape")
            changed.append(path)
    if changed:
        snap.meta["redacted"] = ",".join(changed)
    return changed
