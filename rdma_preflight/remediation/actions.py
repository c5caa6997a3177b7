"""Typed remediation actions and the plan a planner returns.

An action knows its exact commands (``commands()``/``describe()``), the interfaces it
touches (for the refusal guard), how to ``capture`` the prior state of everything it will
change, how to ``apply`` itself (idempotently: it re-reads and changes only what differs)
and how to ``undo`` back to a captured prior. Actions serialise to the journal
(``to_json``/``action_from_json``), so ``rollback`` can run in a later process.

Other areas reuse these: ``WriteFile`` for sysfs/configfs/modprobe.d writes,
``RunCommand`` for argv with an explicit inverse (``modprobe``, ``rdma system set netns``,
``mlnx_qos``), or a new subclass registered with ``@action_kind("...")``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from .executor import ExecError, Executor, RouteSpec, RuleSpec, command_text

ACTION_KINDS: dict[str, type["Action"]] = {}
SPEC_TYPES = {"RuleSpec": RuleSpec, "RouteSpec": RouteSpec}
KERNEL_PROTO = 2
KERNEL_ROUTE_TYPES = (2, 3)         # local, broadcast: the kernel re-creates them with addresses


def action_kind(kind: str):
    def deco(cls: type[Action]) -> type[Action]:
        cls.KIND = kind
        ACTION_KINDS[kind] = cls
        return cls
    return deco


@dataclass
class Action:
    """Base: subclasses are dataclasses of plain values and RuleSpec/RouteSpec."""

    KIND: ClassVar[str] = ""

    def commands(self) -> list[list[str]]:
        raise NotImplementedError

    def undo_commands(self, prior: dict) -> list[list[str]]:
        raise NotImplementedError

    def describe(self) -> str:
        return "; ".join(command_text(c) for c in self.commands())

    def interfaces(self) -> set[str]:
        return set()

    def capture(self, ex: Executor) -> dict:
        return {}

    def needed(self, prior: dict) -> bool:
        return True

    def apply(self, ex: Executor) -> None:
        raise NotImplementedError

    def undo(self, ex: Executor, prior: dict) -> None:
        raise NotImplementedError

    def to_json(self) -> dict:
        out: dict = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
        return out


def action_from_json(data: dict) -> Action:
    cls = ACTION_KINDS.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown action kind {data.get('kind')!r}")
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            v = data[f.name]
            spec = SPEC_TYPES.get(str(f.type))
            kw[f.name] = spec(**v) if spec and isinstance(v, dict) else v
    return cls(**kw)


# ---- links ---------------------------------------------------------------------------------

@dataclass
class _LinkSetting(Action):
    """Set one link attribute; the prior state is that attribute's value."""

    ATTR: ClassVar[str] = ""        # LinkState field
    KW: ClassVar[str] = ""          # Executor.set_link keyword
    ifname: str

    def want(self) -> object:
        raise NotImplementedError

    def words(self, value: object) -> list[str]:
        raise NotImplementedError

    def commands(self) -> list[list[str]]:
        return [["ip", "link", "set", "dev", self.ifname, *self.words(self.want())]]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [["ip", "link", "set", "dev", self.ifname, *self.words(prior[self.ATTR])]]

    def interfaces(self) -> set[str]:
        return {self.ifname}

    def capture(self, ex: Executor) -> dict:
        return {self.ATTR: getattr(_link(ex, self.ifname), self.ATTR)}

    def needed(self, prior: dict) -> bool:
        return prior[self.ATTR] != self.want()

    def _ensure(self, ex: Executor, value: object) -> None:
        if getattr(_link(ex, self.ifname), self.ATTR) != value:
            ex.set_link(self.ifname, **{self.KW: value})

    def apply(self, ex: Executor) -> None:
        self._ensure(ex, self.want())

    def undo(self, ex: Executor, prior: dict) -> None:
        self._ensure(ex, prior[self.ATTR])


@action_kind("link.mtu")
@dataclass
class SetMtu(_LinkSetting):
    ATTR: ClassVar[str] = "mtu"
    KW: ClassVar[str] = "mtu"
    mtu: int = 0

    def want(self) -> object:
        return self.mtu

    def words(self, value: object) -> list[str]:
        return ["mtu", str(value)]


@action_kind("link.state")
@dataclass
class SetLinkState(_LinkSetting):
    ATTR: ClassVar[str] = "admin_up"
    KW: ClassVar[str] = "up"
    up: bool = True

    def want(self) -> object:
        return self.up

    def words(self, value: object) -> list[str]:
        return ["up" if value else "down"]


def _link(ex: Executor, ifname: str):
    st = ex.link(ifname)
    if st is None:
        raise ExecError(f"no interface {ifname} on the node")
    return st


# ---- addresses -----------------------------------------------------------------------------

@action_kind("addr.set")
@dataclass
class SetAddresses(Action):
    """Delete ``remove`` (secondaries first), then add ``keep`` if missing. Removing an
    address can make the kernel drop routes through the NIC (and, with promote_secondaries
    0, the other addresses), so the prior state holds every address and non-kernel route
    of the NIC; routes the change dropped are put back after it, and undo restores all."""

    ifname: str
    keep: str | None = None
    remove: list[str] = field(default_factory=list)
    present: bool = False           # ``keep`` was there when planned: no add is listed

    def commands(self) -> list[list[str]]:
        out = [["ip", "addr", "del", a, "dev", self.ifname] for a in reversed(self.remove)]
        if self.keep and not self.present:
            out.append(["ip", "addr", "add", self.keep, "dev", self.ifname])
        return out

    def undo_commands(self, prior: dict) -> list[list[str]]:
        want = prior["addresses"]
        after = [a for a in want if a not in self.remove] + ([self.keep] if self.keep and self.keep not in want else [])
        same = _common_prefix(want, after)
        out = [["ip", "addr", "del", a, "dev", self.ifname] for a in reversed(after[same:])]
        out += [["ip", "addr", "add", a, "dev", self.ifname] for a in want[same:]]
        return out + [RouteSpec(**r).argv("add") for r in prior["routes"]]

    def interfaces(self) -> set[str]:
        return {self.ifname}

    def capture(self, ex: Executor) -> dict:
        routes = [dataclasses.asdict(r) for r in ex.routes()
                  if r.dev == self.ifname and r.proto != KERNEL_PROTO and r.type not in KERNEL_ROUTE_TYPES]
        return {"addresses": ex.addresses(self.ifname), "routes": routes}

    def needed(self, prior: dict) -> bool:
        have = prior["addresses"]
        return any(a in have for a in self.remove) or (self.keep is not None and self.keep not in have)

    def apply(self, ex: Executor) -> None:
        prior = self.capture(ex)
        for a in reversed(self.remove):
            if a in ex.addresses(self.ifname):
                ex.address("del", self.ifname, a)
        if self.keep and self.keep not in ex.addresses(self.ifname):
            ex.address("add", self.ifname, self.keep)
        _restore_routes(ex, prior["routes"], best_effort=True)

    def undo(self, ex: Executor, prior: dict) -> None:
        """Back to the prior addresses *in the prior order*. The kernel's order is state: the
        first address of a subnet is its primary (the source of the subnet route and of what
        the node sends), later ones are secondaries, and primaries always come before
        secondaries. Merely re-adding a removed primary while its secondary stayed would
        swap the two; so everything after the longest prefix the node still shares with
        the prior list is deleted, last first (a secondary never takes another address with
        it), then the prior's remaining addresses are added in order. Each step re-reads
        the node, so an undo cut short at any command (a killed rollback) just runs again."""
        want = list(prior["addresses"])
        have = ex.addresses(self.ifname)
        same = _common_prefix(want, have)
        for a in reversed(have[same:]):
            if a in ex.addresses(self.ifname):
                ex.address("del", self.ifname, a)
        for a in want[same:]:
            if a not in ex.addresses(self.ifname):
                ex.address("add", self.ifname, a)
        _restore_routes(ex, prior["routes"])


def _common_prefix(a: list, b: list) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _restore_routes(ex: Executor, routes: list[dict], best_effort: bool = False) -> None:
    have = {r.key() for r in ex.routes()}
    for r in map(lambda d: RouteSpec(**d), routes):
        if r.key() not in have:
            try:
                ex.route("add", r)
            except ExecError:
                if not best_effort:
                    raise


# ---- rules and routes ----------------------------------------------------------------------

class _RuleOps:
    """Policy rules: listed by ``ex.rules()``, matched on selector + table + priority."""

    SPEC: ClassVar[type] = RuleSpec

    @property
    def entry(self) -> RuleSpec:
        return self.rule

    @staticmethod
    def _list(ex: Executor) -> list:
        return ex.rules()

    @staticmethod
    def _same(a, b) -> bool:
        return a.same_rule(b)

    @staticmethod
    def _do(ex: Executor, verb: str, spec) -> None:
        ex.rule(verb, spec)


class _RouteOps:
    """Routes: listed by ``ex.routes()``, matched on table, destination, gateway, dev, metric."""

    SPEC: ClassVar[type] = RouteSpec

    @property
    def entry(self) -> RouteSpec:
        return self.route

    def interfaces(self) -> set[str]:
        return {self.route.dev} if self.route.dev else set()

    @staticmethod
    def _list(ex: Executor) -> list:
        return ex.routes()

    @staticmethod
    def _same(a, b) -> bool:
        return a.key() == b.key()

    @staticmethod
    def _do(ex: Executor, verb: str, spec) -> None:
        ex.route(verb, spec)


class _AddEntry(Action):
    """Add a rule/route unless present; undo deletes it only if this run added it."""

    def _present(self, ex: Executor, spec=None) -> bool:
        return any(self._same(x, spec or self.entry) for x in self._list(ex))

    def commands(self) -> list[list[str]]:
        return [self.entry.argv("add")]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [] if prior["existed"] else [self.entry.argv("del")]

    def capture(self, ex: Executor) -> dict:
        return {"existed": self._present(ex)}

    def needed(self, prior: dict) -> bool:
        return not prior["existed"]

    def apply(self, ex: Executor) -> None:
        if not self._present(ex):
            self._do(ex, "add", self.entry)

    def undo(self, ex: Executor, prior: dict) -> None:
        if not prior["existed"] and self._present(ex):
            self._do(ex, "del", self.entry)


class _DelEntry(_AddEntry):
    """Delete every matching rule/route; the prior state holds each exactly, for undo."""

    def commands(self) -> list[list[str]]:
        return [self.entry.argv("del")]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [self.SPEC(**d).argv("add") for d in prior["entries"]]

    def capture(self, ex: Executor) -> dict:
        return {"entries": [dataclasses.asdict(x) for x in self._list(ex) if self._same(x, self.entry)]}

    def needed(self, prior: dict) -> bool:
        return bool(prior["entries"])

    def apply(self, ex: Executor) -> None:
        for _ in range(len(self.capture(ex)["entries"])):
            self._do(ex, "del", self.entry)

    def undo(self, ex: Executor, prior: dict) -> None:
        for spec in (self.SPEC(**d) for d in prior["entries"]):
            if not self._present(ex, spec):
                self._do(ex, "add", spec)


@action_kind("rule.add")
@dataclass
class AddRule(_RuleOps, _AddEntry):
    rule: RuleSpec


@action_kind("rule.del")
@dataclass
class DelRule(_RuleOps, _DelEntry):
    rule: RuleSpec


@action_kind("route.add")
@dataclass
class AddRoute(_RouteOps, _AddEntry):
    route: RouteSpec


@action_kind("route.del")
@dataclass
class DelRoute(_RouteOps, _DelEntry):
    route: RouteSpec


# ---- generic: files and commands (for other areas) -----------------------------------------

@action_kind("file.write")
@dataclass
class WriteFile(Action):
    """Write a (sysfs, configfs, /etc) file on the node; undo writes back its prior content
    or removes a file that did not exist."""

    path: str
    text: str

    def commands(self) -> list[list[str]]:
        return [["sh", "-c", f"echo {command_text([self.text.rstrip(chr(10))])} > {command_text([self.path])}"]]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        if prior["text"] is None:
            return [["rm", "-f", "--", self.path]]
        return [["sh", "-c", f"echo {command_text([prior['text'].rstrip(chr(10))])} > {command_text([self.path])}"]]

    def capture(self, ex: Executor) -> dict:
        return {"text": ex.read_file(self.path)}

    def needed(self, prior: dict) -> bool:
        return (prior["text"] or "").strip() != self.text.strip()

    def apply(self, ex: Executor) -> None:
        ex.write_file(self.path, self.text)

    def undo(self, ex: Executor, prior: dict) -> None:
        if prior["text"] is None:
            ex.remove_file(self.path)
        else:
            ex.write_file(self.path, prior["text"])


@action_kind("command")
@dataclass
class RunCommand(Action):
    """An argv with an explicit inverse (``undo_argv``; empty: cannot be undone)."""

    argv: list[str]
    undo_argv: list[str] = field(default_factory=list)

    def commands(self) -> list[list[str]]:
        return [list(self.argv)]

    def undo_commands(self, prior: dict) -> list[list[str]]:
        return [list(self.undo_argv)] if self.undo_argv else []

    def apply(self, ex: Executor) -> None:
        ex.run(list(self.argv))

    def undo(self, ex: Executor, prior: dict) -> None:
        if not self.undo_argv:
            raise ExecError(f"`{command_text(self.argv)}` has no inverse: undo it by hand")
        ex.run(list(self.undo_argv))


# ---- the plan ------------------------------------------------------------------------------

@dataclass
class Plan:
    """What a planner wants done for one failed check, in order."""

    actions: list[Action] = field(default_factory=list)
    note: str = ""                  # choices made, what is not persisted
    refused: str = ""               # non-empty: do nothing, say why
    needs_reboot: bool = False      # applied state only takes effect after a reboot
    plan_only: bool = False         # show the commands, never apply them (firmware, cluster objects)
    status: str = ""                # the outcome a plan-only plan reports (e.g. "needs power cycle")
    runtime_only: bool = True       # runtime network state nothing persists (the runner says so)

    def commands(self) -> list[str]:
        return [command_text(c) for a in self.actions for c in a.commands()]

    def interfaces(self) -> set[str]:
        return set().union(*(a.interfaces() for a in self.actions)) if self.actions else set()


def refuse(reason: str) -> Plan:
    return Plan(refused=reason)
