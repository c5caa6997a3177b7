"""Load a profile: YAML with line numbers, ``extends:`` layering, per-node overrides.

Merging (documented in the README): mappings merge key by key, the later layer wins;
scalars and lists from the later layer replace the earlier ones as a whole, except the
top-level ``nodes:`` override list, which is concatenated (earlier layers first). A rail's
``nic:`` selector is replaced as a whole (so a layer can switch from position to netdev).
``extends`` paths are relative to the file that names them. Every problem is reported as
``file:line: field: found X; allowed Y`` — never a traceback.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Profile

Loc = tuple
MAX_EXTENDS_DEPTH = 16
MAX_PROFILE_BYTES = 1024 * 1024


class ProfileError(Exception):
    """One or more problems in a profile; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Doc:
    data: Any
    origins: dict[Loc, tuple[str, int]]


def _compose(path: Path) -> _Doc:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ProfileError([f"{path}: cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError([f"{path}: {len(raw)} bytes is larger than a profile can be ({MAX_PROFILE_BYTES})"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ProfileError([f"{path}:{line}: malformed YAML: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ProfileError([f"{path}: malformed YAML: {exc}"]) from None
    if node is None:
        raise ProfileError([f"{path}:1: empty profile"])
    origins: dict[Loc, tuple[str, int]] = {}
    problems: list[str] = []
    data = _convert(node, (), str(path), origins, problems)
    if problems:
        raise ProfileError(problems)
    if not isinstance(data, dict):
        raise ProfileError([f"{path}:{node.start_mark.line + 1}: a profile is a mapping of keys (found {type(data).__name__})"])
    return _Doc(data, origins)


def _convert(node: yaml.Node, loc: Loc, fname: str, origins: dict, problems: list[str]) -> Any:
    origins[loc] = (fname, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(f"{fname}:{knode.start_mark.line + 1}: {_dotted(loc) or '(top)'}: keys must be plain scalars")
                continue
            key = yaml.SafeLoader.construct_scalar(yaml.SafeLoader(""), knode) if False else knode.value
            if key in out:
                problems.append(f"{fname}:{knode.start_mark.line + 1}: {_dotted(loc + (key,))}: duplicate key "
                                f"(first at line {origins[loc + (key,)][1]})")
                continue
            origins[loc + (key,)] = (fname, knode.start_mark.line + 1)
            out[key] = _convert(vnode, loc + (key,), fname, origins, problems)
            origins[loc + (key,)] = (fname, knode.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, loc + (i,), fname, origins, problems) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(f"{fname}:{node.start_mark.line + 1}: {_dotted(loc)}: {exc}")
        return None
    finally:
        loader.dispose()


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out


def _merge(base: Any, over: Any, bo: dict, oo: dict, loc: Loc, origins: dict) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            sub = loc + (k,)
            if k in base:
                if len(loc) == 2 and loc[0] == "rails" and k == "nic":
                    out[k] = v          # a rail's NIC selector is replaced as a whole
                    _copy_origins(oo, sub, origins, drop_first=True)
                    if sub in oo:
                        origins[sub] = oo[sub]
                    continue
                if loc == () and k == "nodes" and isinstance(base[k], list) and isinstance(v, list):
                    out[k] = list(base[k]) + list(v)
                    n = len(base[k])
                    for ol, o in oo.items():
                        if ol[:1] == ("nodes",) and len(ol) > 1 and isinstance(ol[1], int):
                            origins[("nodes", ol[1] + n) + ol[2:]] = o
                    continue
                out[k] = _merge(base[k], v, bo, oo, sub, origins)
            else:
                out[k] = v
                _copy_origins(oo, sub, origins)
            if sub in oo:
                origins[sub] = oo[sub]
        return out
    _copy_origins(oo, loc, origins, drop_first=True)
    return over


def _copy_origins(src: dict, prefix: Loc, dest: dict, drop_first: bool = False) -> None:
    if drop_first:
        for k in [k for k in dest if k[:len(prefix)] == prefix and k != prefix]:
            del dest[k]
    n = len(prefix)
    for k, v in src.items():
        if k[:n] == prefix:
            dest[k] = v


def _resolve(path: Path, stack: tuple[Path, ...]) -> tuple[dict, dict]:
    path = path.resolve() if path.exists() else path
    if path in stack:
        chain = " -> ".join(str(p) for p in stack + (path,))
        raise ProfileError([f"{stack[-1]}: circular extends: {chain}"])
    if len(stack) > MAX_EXTENDS_DEPTH:
        raise ProfileError([f"{path}: extends chain deeper than {MAX_EXTENDS_DEPTH}"])
    doc = _compose(path)
    data, origins = doc.data, doc.origins
    ext = data.pop("extends", [])
    if isinstance(ext, str):
        ext = [ext]
    if not isinstance(ext, list) or not all(isinstance(e, str) for e in ext):
        fname, line = origins.get(("extends",), (str(path), 0))
        raise ProfileError([f"{fname}:{line}: extends: found {ext!r}; allowed a file name or a list of file names"])
    merged: dict = {}
    morig: dict = {}
    for i, rel in enumerate(ext):
        target = (path.parent / rel)
        if not target.exists():
            fname, line = origins.get(("extends", i), origins.get(("extends",), (str(path), 0)))
            raise ProfileError([f"{fname}:{line}: extends: {rel!r} not found (looked for {target})"])
        d, o = _resolve(target, stack + (path,))
        new_orig: dict = dict(morig)
        merged = _merge(merged, d, morig, o, (), new_orig)
        morig = new_orig
    new_orig = dict(morig)
    merged = _merge(merged, data, morig, {k: v for k, v in origins.items() if k[:1] != ("extends",)}, (), new_orig)
    return merged, new_orig


def _human(err: dict) -> str:
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    typ = err.get("type", "")
    if typ == "extra_forbidden":
        return "unknown key (not in the schema; check the spelling)"
    if typ == "missing":
        return "required, but missing"
    if typ == "literal_error":
        return msg.replace("Input should be", "allowed:")
    return msg


_AT_RE = __import__("re").compile(r"@([A-Za-z0-9_.-]+)@ ")


def format_validation(exc: ValidationError, origins: dict, default_file: str) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err.get("loc", ()) if p not in ("function-after", "function-before"))
        msg = err.get("msg", "")
        m = _AT_RE.search(msg)
        if m:
            loc = loc + tuple(int(x) if x.isdigit() else x for x in m.group(1).split("."))
            err = dict(err, msg=msg[:m.start()] + msg[m.end():], input=None, type="value_error")
        probe = loc
        where = None
        while True:
            if probe in origins:
                where = origins[probe]
                break
            if not probe:
                break
            probe = probe[:-1]
        fname, line = where or (default_file, 1)
        line = line or 1
        found = err.get("input")
        found_s = ("" if err.get("type") in ("missing",) or isinstance(found, dict) or found is None
                   else f" found {found!r};")
        field_name = _dotted(loc) or "(profile)"
        lines.append(f"{fname}:{line}: {field_name}:{found_s} {_human(err)}")
    return lines


@dataclass
class LoadedProfile:
    path: Path
    raw: dict
    origins: dict
    profile: Profile
    _cache: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.profile.name

    def overrides_for(self, node: str, labels: dict[str, str] | None = None) -> list[int]:
        labels = labels or {}
        hits = []
        for i, o in enumerate(self.profile.nodes):
            if o.match is not None and not fnmatch.fnmatchcase(node, o.match):
                continue
            if o.labels and any(labels.get(k) != v for k, v in o.labels.items()):
                continue
            hits.append(i)
        return hits

    def for_node(self, node: str, labels: dict[str, str] | None = None) -> Profile:
        """The effective profile for one node: the base plus every matching override, in order."""
        hits = tuple(self.overrides_for(node, labels))
        if not hits:
            return self.profile
        if hits in self._cache:
            return self._cache[hits]
        data = {k: v for k, v in self.raw.items() if k != "nodes"}
        origins = dict(self.origins)
        for i in hits:
            over = self.raw["nodes"][i].get("set", {}) or {}
            oo = {("",) + k[3:]: v for k, v in self.origins.items() if k[:3] == ("nodes", i, "set")}
            oo = {k[1:]: v for k, v in oo.items()}
            new_orig = dict(origins)
            data = _merge(data, over, origins, oo, (), new_orig)
            origins = new_orig
        try:
            prof = Profile.model_validate(data)
        except ValidationError as exc:
            raise ProfileError([f"node {node}: " + p for p in format_validation(exc, origins, str(self.path))]) from None
        self._cache[hits] = prof
        return prof


def load_profile(path: str | Path) -> LoadedProfile:
    p = Path(path)
    raw, origins = _resolve(p, ())
    try:
        prof = Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(format_validation(exc, origins, str(p))) from None
    loaded = LoadedProfile(path=p, raw=raw, origins=origins, profile=prof)
    problems = []
    for i, o in enumerate(prof.nodes):
        try:
            data = _merge({k: v for k, v in raw.items() if k != "nodes"}, raw["nodes"][i].get("set", {}) or {}, {}, {}, (), {})
            Profile.model_validate(data)
        except ValidationError as exc:
            oo = {k[3:]: v for k, v in origins.items() if k[:3] == ("nodes", i, "set")}
            merged_orig = dict(origins)
            merged_orig.update(oo)
            problems += [f"(override nodes[{i}] match={o.match!r}) " + p
                         for p in format_validation(exc, merged_orig, str(p))]
    if problems:
        raise ProfileError(problems)
    return loaded


def effective_dict(profile: Profile) -> dict:
    return profile.model_dump(mode="json")
