"""Decode the collector's stream (format 1, see collector.sh) into a Snapshot.

A stream that is empty, lacks its banner or its final ``end`` record, carries an unknown
record kind, or is larger than the cap is refused with StreamError: no partial facts are
ever used silently.
"""

from __future__ import annotations

import math
import re
import secrets
from functools import lru_cache
from importlib import resources

from .snapshot import CommandOutput, Snapshot

MAX_STREAM_BYTES = 64 * 1024 * 1024
STREAM_VERSION = 1


class StreamError(Exception):
    """The collector's output cannot be trusted as a whole."""


@lru_cache(maxsize=1)
def collector_script() -> str:
    return resources.files("rdma_preflight.collect").joinpath("collector.sh").read_text()


def new_nonce() -> str:
    return "RPF" + secrets.token_hex(16)


def collector_args(nonce: str, options: str = "", command_timeout: float | None = None) -> list[str]:
    """The collector's positional arguments: NONCE [OPTIONS [COMMAND_TIMEOUT]].

    ``command_timeout`` (whole seconds, at least 1) bounds each command on the node; without
    it the collector uses its built-in default (Timeouts.command's default)."""
    args = [nonce]
    if command_timeout is not None:
        args += [options, str(max(1, math.ceil(command_timeout)))]
    elif options:
        args.append(options)
    return args


def collector_argv(nonce: str, options: str = "", command_timeout: float | None = None) -> list[str]:
    """argv that runs the collector with its text passed as ``sh -c`` (no stdin needed)."""
    return ["sh", "-c", collector_script(), "rdma-preflight-collector",
            *collector_args(nonce, options, command_timeout)]


def bytes_after_end(data: bytes, nonce: str) -> int | None:
    """Bytes (beyond blank lines) after the end record of a possibly partial stream; None when
    it has no end record. Tells a node that finished its stream and kept printing (garbage)
    from one whose stream stalled, when the collect timeout cut both."""
    m = re.search(re.escape(b"\n" + nonce.encode() + b" ") + rb"end(?: [^\n]*)?(?:\n|$)", data)
    return None if m is None else len(data[m.end():].strip(b"\n"))


def decode_stream(data: bytes, nonce: str, node: str) -> Snapshot:
    if not data:
        raise StreamError("collector printed nothing")
    if len(data) > MAX_STREAM_BYTES:
        raise StreamError(f"collector output is {len(data)} bytes, over the {MAX_STREAM_BYTES} cap")
    banner = f"RPF-STREAM {STREAM_VERSION} {nonce}".encode()
    first, _, _ = data.partition(b"\n")
    if first.strip() != banner:
        if first.startswith(b"RPF-STREAM "):
            raise StreamError(f"unexpected stream banner {first[:80]!r} (version or nonce mismatch)")
        raise StreamError(f"not a collector stream (starts with {first[:60]!r})")
    sep = b"\n" + nonce.encode() + b" "
    if not re.search(re.escape(sep) + rb"end(?:[ \n]|$)", data):
        # checked first: a stream cut inside a record header ("<nonce> r") would otherwise be
        # reported as an unknown record kind, not as what it is (issue 9, chaos run)
        raise StreamError("stream truncated (no end record): the collector did not finish")
    chunks = data.split(sep)[1:]
    snap = Snapshot(node=node)
    ended = False
    for chunk in chunks:
        header, _, body = chunk.partition(b"\n")
        kind, _, key_b = header.partition(b" ")
        key = key_b.decode("utf-8", errors="replace")
        k = kind.decode("ascii", errors="replace")
        if ended:
            raise StreamError("data after the end record")
        if k == "meta":
            snap.meta[key] = body.decode("utf-8", errors="replace").strip()
        elif k == "cmd":
            snap.commands[key] = CommandOutput(name=key, rc=None, stdout=body)
        elif k == "rc":
            out = snap.commands.get(key)
            if out is None:
                raise StreamError(f"exit code for unknown command {key!r}")
            try:
                out.rc = int(body.strip() or b"-1")
            except ValueError:
                raise StreamError(f"bad exit code {body[:20]!r} for {key!r}") from None
        elif k == "err":
            out = snap.commands.get(key)
            if out is None:
                raise StreamError(f"stderr for unknown command {key!r}")
            out.stderr = body
        elif k == "missing":
            snap.missing.add(key)
        elif k == "file":
            snap.files[key] = body
        elif k == "ferr":
            snap.files.pop(key, None)
            snap.unreadable.add(key)
        elif k == "attrs":
            _decode_attrs(snap, body)
        elif k == "link":
            snap.links[key] = body.decode("utf-8", errors="replace").strip()
        elif k == "exists":
            snap.exists.add(key)
        elif k == "end":
            ended = True
        else:
            raise StreamError(f"unknown record kind {k!r}")
    if not ended:
        raise StreamError("stream truncated (no end record): the collector did not finish")
    for name, out in snap.commands.items():
        if out.rc is None:
            raise StreamError(f"command {name!r} has no exit code: stream damaged")
    return snap


def _decode_attrs(snap: Snapshot, body: bytes) -> None:
    """``grep -HsZ . files...`` output: ``path\\0line`` per non-empty line."""
    acc: dict[str, list[bytes]] = {}
    for line in body.split(b"\n"):
        if not line:
            continue
        path, nul, value = line.partition(b"\0")
        if not nul:
            raise StreamError(f"attribute line without a path separator: {line[:80]!r}")
        acc.setdefault(path.decode("utf-8", errors="replace"), []).append(value)
    for path, lines in acc.items():
        snap.files[path] = b"\n".join(lines) + b"\n"
