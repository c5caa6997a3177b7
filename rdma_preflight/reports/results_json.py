"""The JSON result document, schema ``rdma-preflight/results`` version 1 (docs/results-schema.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from .. import __version__

SCHEMA = "rdma-preflight/results"
VERSION = 1
OUTCOMES = ("pass", "fail", "warn", "skip", "error", "waived", "remediated")


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None


def node_entries(state) -> list[dict]:
    out = []
    for st in state.nodes.values():
        g = st.gathered
        facts = g.facts if g else None
        sysf = facts.system if facts else None
        out.append({
            "name": st.name, "target": st.spec.target.url,
            "profile": st.profile.name if st.profile else None,
            "profile_file": str(st.loaded.path) if st.loaded else None,
            "labels": st.spec.labels,
            "status": "error" if st.error else ("ok" if facts else "not-collected"),
            "error": st.error,
            "collect_seconds": round(g.seconds, 4) if g else None,
            "round_trips": g.round_trips if g else None,
            "identity": None if sysf is None else {
                "hostname": sysf.hostname, "kernel": sysf.kernel, "os": sysf.os_name,
                "serial": sysf.serial, "product": sysf.product, "vendor": sysf.vendor,
                "collected_at": sysf.collected_at},
        })
    return out


def build(state, partial: bool = False) -> dict:
    from ..harness.plugin import exit_code

    records = [r.to_json() for r in state.store.records]
    return {
        "schema": SCHEMA, "version": VERSION,
        "tool": {"name": "rdma-preflight", "version": __version__},
        "run": {"started": _iso(state.started), "finished": _iso(state.finished),
                "partial": partial or state.interrupted or state.finished is None,
                "remediate": state.opts.remediate, "example_fleet": state.used_example,
                "exit_code": exit_code(state)},
        "summary": summary_of(records),
        "nodes": node_entries(state),
        "results": records,
    }


def summary_of(records: list[dict]) -> dict[str, int]:
    """The ``summary`` block: records per outcome."""
    counts = Counter(r["outcome"] for r in records)
    return {o: counts.get(o, 0) for o in OUTCOMES}


def write(state, path: Path, partial: bool = False) -> Path:
    return write_doc(build(state, partial), path)


INDENT_UP_TO = 5000     # records; larger documents are written compact


def dumps(doc: dict) -> str:
    """Indented for a person up to INDENT_UP_TO records, compact above: ``indent`` makes the
    json module fall back to its pure-Python encoder, 5x slower on a 1,000-node fleet."""
    if len(doc.get("results") or ()) <= INDENT_UP_TO:
        return json.dumps(doc, indent=1)
    return json.dumps(doc, separators=(",", ":"))


def write_doc(doc: dict, path: Path) -> Path:
    """Write a results document atomically (tmp + rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(dumps(doc) + "\n")
    tmp.replace(path)
    return path


class ResultsError(ValueError):
    """A results document that cannot be read or used; the message is one line, without the path."""


# (key, types) every reader of the document relies on; None allowed where the tool writes null
_NODE_KEYS = (("name", (str,)),)
_RECORD_KEYS = (("node", (str,)), ("check", (str,)), ("outcome", (str,)), ("area", (str,)))
_RECORD_TEXT = ("title", "rail", "netdev", "summary", "expected", "found", "fix", "test_id")
_RECORD_MAPS = ("remediation", "waiver", "evidence")


def check_document(doc: object) -> None:
    """Raise ResultsError naming the first problem (``results[12].outcome: ...``) if ``doc``
    is not a usable results document (schema ``rdma-preflight/results`` v1)."""
    if not isinstance(doc, dict):
        raise ResultsError(f"not a JSON object (found {type(doc).__name__})")
    if doc.get("schema") != SCHEMA or doc.get("version") != VERSION:
        raise ResultsError(f"not an {SCHEMA} v{VERSION} document (schema {doc.get('schema')!r}, "
                           f"version {doc.get('version')!r})")
    for key in ("run", "summary"):
        if not isinstance(doc.get(key), dict):
            raise ResultsError(f"{key}: expected an object")
    for key, required, text, maps in (("nodes", _NODE_KEYS, ("target", "profile", "status", "error"), ("labels",)),
                                      ("results", _RECORD_KEYS, _RECORD_TEXT, _RECORD_MAPS)):
        items = doc.get(key)
        if not isinstance(items, list):
            raise ResultsError(f"{key}: expected a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ResultsError(f"{key}[{i}]: expected an object")
            for k, types in required:
                if not isinstance(item.get(k), types):
                    raise ResultsError(f"{key}[{i}].{k}: missing or not a string")
            for k in text:
                if item.get(k) is not None and not isinstance(item[k], str):
                    raise ResultsError(f"{key}[{i}].{k}: expected a string or null")
            for k in maps:
                if item.get(k) is not None and not isinstance(item[k], dict):
                    raise ResultsError(f"{key}[{i}].{k}: expected an object or null")
            if key == "results" and item["outcome"] not in OUTCOMES:
                raise ResultsError(f"results[{i}].outcome: {item['outcome']!r} is not one of {', '.join(OUTCOMES)}")


def read(path: str | Path) -> dict:
    """Read and check a results.json; ResultsError (one line, without the path) if unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError("file not found") from None
    except IsADirectoryError:
        raise ResultsError("is a directory, not a results.json") from None
    except UnicodeDecodeError as exc:
        raise ResultsError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ResultsError(f"cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ResultsError("empty file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ResultsError("invalid JSON: nested too deeply") from None
    check_document(doc)
    return doc


def load(path: str | Path) -> dict:
    """A checked results document (ResultsError, a ValueError, if unusable)."""
    return read(path)
