"""Instrumentation: every API call recorded, plus injected failures."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiCall:
    """One request as the double understood it; `code` is the HTTP status it answered."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    verb: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    code: int | None = None

    def param(self, key: str) -> str | None:
        """The last value of a query parameter (e.g. `labelSelector`)."""
        values = [v for k, v in self.query if k == key]
        return values[-1] if values else None

    def matches(self, verb: str | None = None, resource: str | None = None, **fields: str | None) -> bool:
        if verb is not None and self.verb != verb:
            return False
        if resource is not None and resource not in (self.resource, f"{self.resource}/{self.subresource}"):
            return False
        return all(getattr(self, k) == v for k, v in fields.items())


@dataclass
class Fault:
    """Answer matching calls with an error Status instead of serving them."""

    verb: str | None
    resource: str | None
    code: int
    message: str
    namespace: str | None = None
    name: str | None = None
    remaining: int | None = 1

    def applies(self, call: ApiCall) -> bool:
        if self.remaining == 0:
            return False
        fields = {k: v for k, v in (("namespace", self.namespace), ("name", self.name)) if v is not None}
        return call.matches(self.verb, self.resource, **fields)


@dataclass
class Recorder:
    calls: list[ApiCall] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fault_for(self, call: ApiCall) -> Fault | None:
        for fault in self.faults:
            if fault.applies(call):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None
