"""The remediation journal: prior state of everything a run changes on one node, on disk
before the change, and ``rollback`` that restores it.

One JSON file per node per run, ``<journal dir>/<node>-<UTC timestamp>.json``, rewritten
atomically and fsync'd at each step. Entry statuses: ``captured`` (prior recorded, not yet
applied), ``applied``, ``unchanged`` (already as wanted), ``failed``, ``undone``.
Rollback undoes captured/applied/failed entries newest first.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from .actions import Action, action_from_json
from .executor import ExecError, command_text, executor_for
from .lock import LockBusy, acquire, is_held, release

FORMAT = "rdma-preflight/journal"
VERSION = 1
UNDO_STATUSES = ("captured", "applied", "failed")


class JournalError(Exception):
    """The journal cannot be read, or the rollback cannot be done."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def write_json_durably(path: Path, doc: dict) -> None:
    """Write via a temp file, fsync it, rename, fsync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(doc, indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@dataclass
class Journal:
    path: Path
    doc: dict = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, node: str, target: str) -> "Journal":
        directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = directory / f"{node}-{stamp}.json"
        n = 1
        while path.exists():
            n += 1
            path = directory / f"{node}-{stamp}-{n}.json"
        j = cls(path, {"format": FORMAT, "version": VERSION, "node": node, "target": target,
                       "created": _now(), "pid": os.getpid(), "entries": []})
        j.save()
        return j

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Journal":
        p = Path(path)
        try:
            doc = json.loads(p.read_text())
        except FileNotFoundError:
            raise JournalError(f"{p}: no such journal") from None
        except (OSError, ValueError) as exc:
            raise JournalError(f"{p}: not a readable journal: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise JournalError(f"{p}: not an {FORMAT} v{VERSION} file")
        return cls(p, doc)

    @property
    def entries(self) -> list[dict]:
        return self.doc["entries"]

    def save(self) -> None:
        write_json_durably(self.path, self.doc)

    def record(self, check: str, subject: str, actions: list[Action], priors: list[dict]) -> list[dict]:
        """Journal the prior state of every action, durably, before any is applied."""
        out = []
        for a, prior in zip(actions, priors):
            e = {"seq": len(self.entries) + 1, "check": check, "subject": subject, "action": a.to_json(),
                 "commands": [command_text(c) for c in a.commands()], "prior": prior,
                 "status": "captured" if a.needed(prior) else "unchanged", "error": "", "at": _now()}
            self.entries.append(e)
            out.append(e)
        self.save()
        return out

    def mark(self, entry: dict, status: str, error: str = "") -> None:
        entry.update(status=status, error=error, at=_now())
        self.save()


_OPEN: "weakref.WeakKeyDictionary[object, dict[str, Journal]]" = weakref.WeakKeyDictionary()


def journal_dir(opts) -> Path | None:
    if opts.journal_dir:
        return Path(opts.journal_dir)
    if opts.report_dir:
        return Path(opts.report_dir) / "journal"
    return None


def journal_for(state, node: str, target: str) -> Journal:
    """The run's journal for ``node`` (created on first use)."""
    per_run = _OPEN.setdefault(state, {})
    if node not in per_run:
        directory = journal_dir(state.opts)
        if directory is None:
            raise JournalError("--remediate apply needs --report-dir or --journal-dir for its journal")
        per_run[node] = Journal.create(directory, node, target)
    return per_run[node]


def rollback_file(path: str | os.PathLike, ssh_config: str | None = None, dry_run: bool = False) -> list[str]:
    """Restore what the journal recorded, newest change first; returns what was (or would
    be) run. Raises JournalError (unreadable journal, unreachable node, an undo failed)."""
    from ..targets.base import TargetError
    from ..targets.resolve import NodesError, NodeSpec, make_target, parse_target

    j = Journal.load(path)
    node, url = j.doc["node"], j.doc["target"]
    todo = [e for e in reversed(j.entries) if e.get("status") in UNDO_STATUSES]
    plans = [(e, action_from_json(e["action"])) for e in todo]
    lines = [f"{node}: {command_text(c)}" for e, a in plans for c in a.undo_commands(e["prior"])]
    if dry_run or not plans:
        return lines or [f"{node}: nothing to roll back in {j.path}"]
    try:
        target = make_target(NodeSpec(node, parse_target(url)), ssh_config)
        ex = executor_for(target)
    except (TargetError, NodesError, ExecError) as exc:
        raise JournalError(f"{node}: cannot reach {url}: {exc}") from None
    ours = not is_held(url)
    try:
        lock = acquire(node, url)
    except LockBusy as exc:
        ex.close()
        raise JournalError(str(exc)) from None
    done: list[str] = []
    try:
        for e, a in plans:
            try:
                a.undo(ex, e["prior"])
            except ExecError as exc:
                j.mark(e, e["status"], f"rollback failed: {exc}")
                raise JournalError(f"{node}: undoing `{'; '.join(e['commands'])}` failed: {exc}"
                                   + (f" (already undone: {'; '.join(done)})" if done else "")) from None
            j.mark(e, "undone")
            done += [f"{node}: {command_text(c)}" for c in a.undo_commands(e["prior"])]
    finally:
        if ours:
            release(lock)
        ex.close()
    return done
