"""Node identity and kernel-level facts: hostname, kernel, cmdline, loaded modules, modprobe.d."""

from __future__ import annotations

from dataclasses import dataclass, field

MODPROBE_DIRS = ("/etc/modprobe.d/", "/lib/modprobe.d/", "/usr/lib/modprobe.d/", "/run/modprobe.d/")


@dataclass(frozen=True)
class Module:
    name: str
    size: int
    refcount: int
    used_by: tuple[str, ...] = ()
    version: str | None = None


@dataclass
class SystemFacts:
    hostname: str | None = None
    kernel: str | None = None
    os_name: str | None = None
    cmdline: str | None = None
    collected_at: str | None = None
    collector_version: str | None = None
    uid: int | None = None
    serial: str | None = None
    product: str | None = None
    vendor: str | None = None
    bios_version: str | None = None
    modules: dict[str, Module] | None = None        # None: /proc/modules not readable
    modprobe_files: dict[str, str] = field(default_factory=dict)
    systemd_enabled: dict[str, str] = field(default_factory=dict)
    systemd_active: dict[str, str] = field(default_factory=dict)
    config_files: dict[str, str] = field(default_factory=dict)  # netplan, NM dispatcher, units
    dev_exists: set[str] = field(default_factory=set)

    def module_loaded(self, name: str) -> bool | None:
        if self.modules is None:
            return None
        return name in self.modules or name.replace("-", "_") in self.modules

    def cmdline_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for tok in (self.cmdline or "").split():
            k, _, v = tok.partition("=")
            out[k] = v
        return out


def parse_proc_modules(text: str) -> dict[str, Module]:
    """/proc/modules: ``name size refcount deps state address`` per line; bad lines skipped."""
    mods: dict[str, Module] = {}
    for line in text.splitlines():
        parts = line.split()
        # ASCII size only (issue 9): "²" passed str.isdigit() and made int() raise
        if len(parts) < 3 or not (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) < 20):
            continue
        deps = tuple(d for d in (parts[3].split(",") if len(parts) > 3 else []) if d and d != "-")
        try:
            ref = int(parts[2])
        except ValueError:
            ref = 0
        mods[parts[0]] = Module(name=parts[0], size=int(parts[1]), refcount=ref, used_by=deps)
    return mods


def from_snapshot(snap) -> SystemFacts:
    f = SystemFacts(
        hostname=snap.value("/proc/sys/kernel/hostname"), kernel=snap.meta.get("kernel"),
        cmdline=snap.value("/proc/cmdline"), collected_at=snap.meta.get("date"),
        collector_version=snap.meta.get("collector_version"),
        serial=snap.value("/sys/class/dmi/id/product_serial"),
        product=snap.value("/sys/class/dmi/id/product_name"),
        vendor=snap.value("/sys/class/dmi/id/sys_vendor"),
        bios_version=snap.value("/sys/class/dmi/id/bios_version"),
        dev_exists=set(snap.exists))
    uid = snap.meta.get("uid")
    # ASCII digits only (issue 9): "²" passes str.isdigit() and made int() raise; "١" read as 1
    f.uid = int(uid) if uid and uid.isascii() and uid.isdigit() and len(uid) < 11 else None
    osr = snap.text("/etc/os-release") or ""
    for line in osr.splitlines():
        if line.startswith("PRETTY_NAME="):
            f.os_name = line.split("=", 1)[1].strip().strip('"')
    mods = snap.text("/proc/modules")
    if mods is not None:
        f.modules = parse_proc_modules(mods)
        for name, m in list(f.modules.items()):
            ver = snap.value(f"/sys/module/{name}/version")
            if ver:
                f.modules[name] = Module(m.name, m.size, m.refcount, m.used_by, ver)
    for path in snap.files:
        if path.startswith(MODPROBE_DIRS) and path.endswith(".conf"):
            f.modprobe_files[path] = snap.text(path) or ""
        elif path.startswith(("/etc/netplan/", "/etc/NetworkManager/dispatcher.d/", "/etc/systemd/system/")):
            f.config_files[path] = snap.text(path) or ""
    for name, out in snap.commands.items():
        kind, _, unit = name.partition("/")
        if kind == "systemctl_enabled" and unit:
            f.systemd_enabled[unit] = out.text.strip() or ("not-found" if out.rc else "")
        elif kind == "systemctl_active" and unit:
            f.systemd_active[unit] = out.text.strip() or ("unknown" if out.rc else "")
    return f
