"""A node's raw evidence, and its on-disk form (the versioned snapshot layout).

Layout, format ``rdma-preflight-snapshot`` version 1 (documented in docs/snapshot-format.md):

    <dir>/snapshot.json        index: format, version, node, meta, missing, exists,
                               unreadable, links, commands {name: {rc, stdout, stderr}},
                               files {host path: stored path}
    <dir>/commands/<name>.out  stdout of each command (name percent-encoded, "/" kept as "@")
    <dir>/commands/<name>.err  stderr, when there was any
    <dir>/files/<host path>    exact bytes of each file, path components percent-encoded

A snapshot may also be a ``.tar.gz`` of such a directory (one top-level folder or none).
Reading refuses anything that could escape the snapshot: absolute or ``..`` paths, links,
devices, stored paths the index does not name.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

FORMAT = "rdma-preflight-snapshot"
VERSION = 1
MAX_MEMBER_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024


class SnapshotError(Exception):
    """A snapshot that cannot be read safely or is not in a known format."""


@dataclass
class CommandOutput:
    name: str
    rc: int | None
    stdout: bytes
    stderr: bytes = b""

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Snapshot:
    node: str
    meta: dict[str, str] = field(default_factory=dict)
    commands: dict[str, CommandOutput] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    exists: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    _index: tuple | None = field(default=None, repr=False, compare=False)

    # -- reading helpers used by the fact builders -------------------------------------
    def text(self, path: str) -> str | None:
        data = self.files.get(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def value(self, path: str) -> str | None:
        """A sysfs/procfs attribute, stripped; None when absent."""
        t = self.text(path)
        return None if t is None else t.strip()

    def int_value(self, path: str) -> int | None:
        v = self.value(path)
        try:
            return int(v, 0) if v is not None else None
        except ValueError:
            return None

    def _tree(self) -> dict[str | None, dict[str, str | None]]:
        """Directory (None above the first component) -> {child name: full path if a stored
        file, else None}, built once per
        content (rebuilt when files or links are added or removed). Fact builders call
        ``glob``/``children`` a few dozen times per node over ~500 stored paths; scanning every
        path each time made snapshot replay the slowest part of a 1,000-node evaluation."""
        key = (len(self.files), len(self.links))
        if self._index is None or self._index[0] != key:
            tree: dict[str | None, dict[str, str | None]] = {}
            for path, is_file in [(p, True) for p in self.files] + [(p, False) for p in self.links]:
                parts = path.split("/")
                for i in range(len(parts)):
                    d = "/".join(parts[:i]) if i else None
                    kids = tree.setdefault(d, {})
                    leaf = i == len(parts) - 1
                    if leaf and is_file:
                        kids[parts[i]] = path
                    else:
                        kids.setdefault(parts[i], None)
            self._index = (key, tree)
        return self._index[1]

    def glob(self, pattern: str) -> list[str]:
        """Stored file paths matching a glob where ``*`` does not cross ``/``."""
        tree = self._tree()
        parts = pattern.split("/")
        dirs: list = [None]
        for depth, comp in enumerate(parts):
            last = depth == len(parts) - 1
            nxt = []
            magic = any(c in comp for c in "*?[")
            for d in dirs:
                kids = tree.get(d)
                if not kids:
                    continue
                names = fnmatch.filter(kids, comp) if magic else ([comp] if comp in kids else [])
                for name in names:
                    if last:
                        if kids[name] is not None:
                            nxt.append(kids[name])
                    else:
                        nxt.append(name if d is None else f"{d}/{name}")
            dirs = nxt
        return sorted(dirs)

    def children(self, directory: str) -> list[str]:
        """Names directly below ``directory`` that have stored files or links under them."""
        return sorted(self._tree().get(directory.rstrip("/"), {}))

    def cmd(self, name: str) -> CommandOutput | None:
        return self.commands.get(name)

    def cmd_text(self, name: str) -> str | None:
        """stdout of a command that ran and exited 0; None otherwise."""
        out = self.commands.get(name)
        return out.text if out is not None and out.rc == 0 else None

    def tool_missing(self, tool: str) -> bool:
        return tool in self.missing

    # -- persistence ----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        index: dict = {
            "format": FORMAT, "version": VERSION, "node": self.node, "meta": self.meta,
            "missing": sorted(self.missing), "exists": sorted(self.exists),
            "unreadable": sorted(self.unreadable), "links": self.links,
            "commands": {}, "files": {},
        }
        for name, out in sorted(self.commands.items()):
            stem = "commands/" + _encode_component(name.replace("/", "@"))
            _write(root, stem + ".out", out.stdout)
            entry = {"rc": out.rc, "stdout": stem + ".out"}
            if out.stderr:
                _write(root, stem + ".err", out.stderr)
                entry["stderr"] = stem + ".err"
            index["commands"][name] = entry
        for path, data in sorted(self.files.items()):
            stored = "files/" + "/".join(_encode_component(c) for c in path.strip("/").split("/"))
            _write(root, stored, data)
            index["files"][path] = stored
        (root / "snapshot.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        return root

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> "Snapshot":
        src = Path(source)
        if src.is_file() and (src.name.endswith(".tar.gz") or src.name.endswith(".tgz")):
            return cls._from_members(_read_tar(src), str(src))
        if not src.is_dir():
            raise SnapshotError(f"{src}: not a snapshot directory or .tar.gz")
        return cls._from_members(_DirReader(src), str(src))

    @classmethod
    def _from_members(cls, reader: "_Reader", label: str) -> "Snapshot":
        raw = reader.read("snapshot.json")
        if raw is None:
            raise SnapshotError(f"{label}: no snapshot.json")
        try:
            index = json.loads(raw)
        except ValueError as exc:
            raise SnapshotError(f"{label}: snapshot.json is not JSON: {exc}") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise SnapshotError(f"{label}: not an {FORMAT} (format={index.get('format') if isinstance(index, dict) else None!r})")
        if index.get("version") != VERSION:
            raise SnapshotError(f"{label}: snapshot version {index.get('version')!r} is not supported (this tool reads {VERSION})")
        try:
            snap = cls(node=str(index["node"]), meta={str(k): str(v) for k, v in index.get("meta", {}).items()},
                       links={str(k): str(v) for k, v in index.get("links", {}).items()},
                       missing=set(index.get("missing", [])), exists=set(index.get("exists", [])),
                       unreadable=set(index.get("unreadable", [])))
            for name, entry in index.get("commands", {}).items():
                stdout = reader.read(entry["stdout"])
                if stdout is None:
                    raise SnapshotError(f"{label}: {entry['stdout']} named in the index is missing")
                stderr = reader.read(entry["stderr"]) if entry.get("stderr") else b""
                rc = entry.get("rc")
                snap.commands[name] = CommandOutput(name=name, rc=None if rc is None else int(rc),
                                                    stdout=stdout, stderr=stderr or b"")
            for path, stored in index.get("files", {}).items():
                data = reader.read(stored)
                if data is None:
                    raise SnapshotError(f"{label}: {stored} named in the index is missing")
                snap.files[path] = data
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"{label}: malformed snapshot index: {exc!r}") from None
        return snap


def _encode_component(name: str) -> str:
    enc = quote(name, safe="@+=,")
    if enc in ("", ".", ".."):
        enc = enc.replace(".", "%2E") or "%00empty"
    return enc


def decode_component(name: str) -> str:
    return unquote(name)


def _check_rel(rel: str) -> None:
    """Refuse absolute paths and ``..`` components (empty and ``.`` components are harmless,
    as PurePosixPath folds them). Plain string work: it runs for every archive member."""
    parts = [c for c in rel.split("/") if c not in ("", ".")]
    if rel.startswith("/") or ".." in parts or not parts:
        raise SnapshotError(f"unsafe path in snapshot: {rel!r}")


def _write(root: Path, rel: str, data: bytes) -> None:
    _check_rel(rel)
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


class _Reader:
    def read(self, rel: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError


class _DirReader(_Reader):
    def __init__(self, root: Path):
        self.root = root.resolve()

    def read(self, rel: str) -> bytes | None:
        _check_rel(rel)
        path = self.root / rel
        if path.is_symlink():
            raise SnapshotError(f"symlink in snapshot refused: {rel}")
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if self.root not in resolved.parents:
            raise SnapshotError(f"path escapes the snapshot: {rel}")
        if not path.exists():
            return None
        if not path.is_file():
            raise SnapshotError(f"not a regular file in snapshot: {rel}")
        if path.stat().st_size > MAX_MEMBER_BYTES:
            raise SnapshotError(f"{rel} is larger than {MAX_MEMBER_BYTES} bytes")
        return path.read_bytes()


class _MemReader(_Reader):
    def __init__(self, members: dict[str, bytes]):
        self.members = members

    def read(self, rel: str) -> bytes | None:
        _check_rel(rel)
        return self.members.get(rel)


MAX_ARCHIVE_BYTES = MAX_TOTAL_BYTES + 64 * 1024 * 1024   # members plus tar headers and padding


def _gunzip_bounded(path: Path) -> bytes:
    """The archive's tar bytes, refusing more than MAX_ARCHIVE_BYTES (a gzip bomb stops here,
    before any memory is spent on it). Unpacked once in memory: tarfile's reads on a gzip
    stream seek for every member, a third of a fleet replay's time."""
    data = path.read_bytes()
    out: list[bytes] = []
    size = 0
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = d.decompress(data, MAX_ARCHIVE_BYTES + 1 - size)
        size += len(chunk)
        out.append(chunk)
        if d.unconsumed_tail or size > MAX_ARCHIVE_BYTES:
            raise SnapshotError(f"{path}: archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
        if not d.eof:
            raise SnapshotError(f"{path}: cannot read archive: truncated gzip data")
        data = d.unused_data.lstrip(b"\0")      # concatenated gzip members, as gzip(1) allows
    return b"".join(out)


def _read_tar(path: Path) -> _MemReader:
    members: dict[str, bytes] = {}
    total = 0
    try:
        raw = _gunzip_bounded(path)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for m in tar:
                name = m.name[2:] if m.name.startswith("./") else m.name
                if m.isdir():
                    _check_rel(name) if name not in ("", ".") else None
                    continue
                if not m.isfile():
                    kind = "symlink" if m.issym() else "hard link" if m.islnk() else "device or special file"
                    raise SnapshotError(f"{path}: {kind} {m.name!r} in archive refused")
                _check_rel(name)
                if m.size > MAX_MEMBER_BYTES:
                    raise SnapshotError(f"{path}: member {m.name!r} is too large")
                total += m.size
                if total > MAX_TOTAL_BYTES:
                    raise SnapshotError(f"{path}: archive unpacks to more than {MAX_TOTAL_BYTES} bytes")
                if m.sparse is not None or m.offset_data + m.size > len(raw):
                    raise SnapshotError(f"{path}: member {m.name!r} is sparse or runs past the archive's end")
                members[name] = raw[m.offset_data:m.offset_data + m.size]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise SnapshotError(f"{path}: cannot read archive: {exc}") from None
    # allow one top-level folder
    if "snapshot.json" not in members:
        tops = {n.split("/", 1)[0] for n in members}
        if len(tops) == 1:
            top = tops.pop() + "/"
            members = {n[len(top):]: d for n, d in members.items() if n.startswith(top)}
    return _MemReader(members)


def write_tar(snapshot_dir: Path, dest: Path) -> Path:
    """Pack a snapshot directory as .tar.gz (regular files only)."""
    with tarfile.open(dest, "w:gz") as tar:
        for p in sorted(snapshot_dir.rglob("*")):
            if p.is_file() and not p.is_symlink():
                tar.add(p, arcname=str(p.relative_to(snapshot_dir)), recursive=False)
    return dest


def snapshot_bytes_size(snap: Snapshot) -> int:
    return sum(len(v) for v in snap.files.values()) + sum(len(c.stdout) for c in snap.commands.values())


__all__ = ["CommandOutput", "Snapshot", "SnapshotError", "write_tar", "decode_component", "io"]
