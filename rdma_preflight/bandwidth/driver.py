"""The fixed shell script run inside a pod (or on a host) and the argv that carries it.

One script, four modes, passed as ``sh -c DRIVER rpf-bw <mode> <dir> <nonce> <wait_s> JOB...``.
The script text never changes; every variable part is a positional argument. A JOB is one
argument holding ``<tag> <port> <argv words...>``: the shell splits it on blanks with
globbing off, so every word is validated by :func:`job` (no blank, quote or shell
metacharacter can get through) and nothing is ever evaluated.

* ``serve``    start every job in the background (output and exit status to files in
               <dir>), then wait up to <wait_s> until each one listens on its TCP port
               (/proc/net/tcp{,6} state 0A) or has exited; print ``ready``/``dead``/``notready``
               per tag. perftest's banner is printed before it listens, so it proves nothing.
* ``run``      start every job in the background, wait for all, print each output and status;
               jobs after a ``--`` argument are this endpoint's servers of the round, collected
               as ``collect`` does once the clients are done (saves an exec per endpoint).
* ``collect``  wait up to <wait_s> for the jobs of a ``serve``; stop those still running
               (TERM to ``timeout``, which passes it on, then KILL); print outputs; remove files.
* ``discover`` ``ip -j addr``, ``rdma -j link``, the RDMA sysfs attributes and the perftest
               version, in marked sections (parsed by ``discover.py``).

Every perftest process runs under ``timeout -k 5 <s>``: perftest has no deadline of its own
(the server blocks in accept(), the client's connect() can hang behind a firewall).
Output is framed by ``@@rpf <nonce> ...`` lines, which perftest cannot print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from . import names

PROGRAM = "rpf-bw"
KILL_AFTER = 5

DRIVER = r"""set -f
umask 077
mode=$1 dir=$2 nonce=$3 wait_s=$4
shift 4
say() { printf '@@rpf %s %s\n' "$nonce" "$*"; }
launch() {
	tag=$1; shift 2
	rm -f "$dir/$tag.out" "$dir/$tag.rc" "$dir/$tag.pid"
	(
		"$@" </dev/null >"$dir/$tag.out" 2>&1 &
		echo $! >"$dir/$tag.pid"
		wait $!
		echo $? >"$dir/$tag.rc.tmp" && mv "$dir/$tag.rc.tmp" "$dir/$tag.rc"
	) </dev/null >/dev/null 2>&1 &
}
listening() {
	hex=$(printf '%04X' "$1")
	grep -q ":$hex [0-9A-F]*:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
finished() { [ -f "$dir/$1.rc" ]; }
settled() { finished "$1" || listening "$2"; }
all() {
	fn=$1; shift
	for job in "$@"; do $fn $job || return 1; done
}
poll() {
	n=0
	until all "$@"; do
		n=$((n + 1)); [ "$n" -gt $((wait_s * 10)) ] && return 1
		sleep 0.1
	done
}
emit() {
	say begin "$1"
	cat "$dir/$1.out" 2>/dev/null
	say end "$1" "$(cat "$dir/$1.rc" 2>/dev/null || echo none)"
}
status() {
	if finished "$1"; then say dead "$1"; emit "$1"
	elif listening "$2"; then say ready "$1"
	else say notready "$1"; fi
}
stop() {
	finished "$1" && return 0
	pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	n=0
	while ! finished "$1" && [ "$n" -lt 20 ]; do sleep 0.1; n=$((n + 1)); done
	finished "$1" || kill -KILL "$pid" 2>/dev/null
}
reap() { stop "$1"; emit "$1"; rm -f "$dir/$1.out" "$dir/$1.rc" "$dir/$1.pid"; }
case $mode in
serve)
	mkdir -p "$dir" || exit 90
	for job in "$@"; do launch $job; done
	poll settled "$@"
	for job in "$@"; do status $job; done
	;;
run)
	mkdir -p "$dir" || exit 90
	n=0
	for job in "$@"; do n=$((n + 1)); [ "$job" = "--" ] && break; launch $job; done
	wait
	for job in "$@"; do [ "$job" = "--" ] && break; reap $job; done
	shift "$n"
	if [ $# -gt 0 ]; then
		poll finished "$@"
		for job in "$@"; do reap $job; done
	fi
	rmdir "$dir" 2>/dev/null || true
	;;
collect)
	poll finished "$@"
	for job in "$@"; do reap $job; done
	rmdir "$dir" 2>/dev/null || true
	;;
discover)
	set +f
	say section ip; ip -j addr show 2>&1
	say section rdma; rdma -j link show 2>&1
	say section sysfs
	grep -H . /sys/class/infiniband/*/ports/*/state /sys/class/infiniband/*/ports/*/phys_state \
		/sys/class/infiniband/*/ports/*/rate /sys/class/infiniband/*/ports/*/link_layer \
		/sys/class/infiniband/*/ports/*/gids/* /sys/class/infiniband/*/ports/*/gid_attrs/types/* \
		/sys/class/infiniband/*/ports/*/gid_attrs/ndevs/* /sys/class/infiniband/*/device/net/*/ifindex \
		/sys/class/infiniband/*/device/numa_node /sys/class/infiniband/*/device/uevent 2>/dev/null
	say section perftest; "$1" -V </dev/null 2>&1 | head -n 5
	say section end
	;;
*)
	echo "rpf-bw: unknown mode $mode" >&2; exit 2
	;;
esac
"""

MODES = ("serve", "run", "collect", "discover")
SERVERS_FOLLOW = "--"          # in ``run``: the servers to collect after the clients


def job(tag: str, port: int, argv: Sequence[str]) -> str:
    """One JOB argument; every word validated so the shell's field splitting is exact."""
    if not 1 <= int(port) <= 65535:
        raise names.BadName(f"invalid port {port!r}")
    return " ".join([names.word(tag), str(int(port)), *(names.word(a) for a in argv)])


def command(mode: str, workdir: str, nonce: str, wait_s: int, jobs: Sequence[str]) -> list[str]:
    """The argv of one driver invocation (``sh -c DRIVER rpf-bw ...``)."""
    if mode not in MODES:
        raise ValueError(f"unknown driver mode {mode!r}")
    return ["sh", "-c", DRIVER, PROGRAM, mode, names.word(workdir), names.word(nonce),
            str(max(0, int(wait_s))), *jobs]


def discover_command(nonce: str, perftest: str) -> list[str]:
    return command("discover", "/", nonce, 0, [names.word(perftest)])


@dataclass(frozen=True)
class PerftestArgs:
    """The ``ib_write_bw`` flags of one rail; both ends get the same symmetric flags
    (``-D -s -q -p -F --report_gbits``), each its own device, port and GID index."""

    perftest: str
    device: str
    ib_port: int
    gid_index: int | None
    tcp_port: int
    duration: int
    size: int
    qps: int

    def argv(self, server_ip: str | None = None, timeout_s: int = 60) -> list[str]:
        out = ["timeout", "-k", str(KILL_AFTER), str(int(timeout_s)), self.perftest,
               "-d", names.rdma_device(self.device), "-i", str(int(self.ib_port))]
        if self.gid_index is not None:
            out += ["-x", str(int(self.gid_index))]
        out += ["-p", str(int(self.tcp_port)), "-D", str(int(self.duration)), "-s", str(int(self.size)),
                "-q", str(int(self.qps)), "-F", "--report_gbits"]
        if server_ip is not None:
            out.append(names.ipv4(server_ip))
        return out


# -- output framing ---------------------------------------------------------------------------

_FRAME = re.compile(r"^@@rpf (\S+) (\S+)(?: (\S+))?(?: (\S+))?$")


@dataclass
class Frames:
    """What one driver invocation printed."""

    status: dict[str, str] = field(default_factory=dict)        # tag -> ready|dead|notready
    output: dict[str, str] = field(default_factory=dict)        # tag -> the job's output
    rc: dict[str, int | None] = field(default_factory=dict)     # tag -> exit status (None: unknown)
    sections: dict[str, str] = field(default_factory=dict)      # discover: section -> text
    stray: list[str] = field(default_factory=list)              # lines outside any frame


def parse_frames(text: str, nonce: str) -> Frames:
    frames = Frames()
    current: tuple[str, str] | None = None       # ("job", tag) | ("section", name)
    buf: list[str] = []

    def close() -> None:
        if current is not None and current[0] == "section":
            frames.sections[current[1]] = "".join(buf)

    for line in text.splitlines(keepends=True):
        m = _FRAME.match(line.rstrip("\n"))
        if m is None or m.group(1) != nonce:
            (buf if current is not None else frames.stray).append(line)
            continue
        what, arg, extra = m.group(2), m.group(3), m.group(4)
        if what in ("ready", "dead", "notready") and arg:
            frames.status[arg] = what
        elif what == "begin" and arg:
            close()
            current, buf = ("job", arg), []
        elif what == "end" and arg and current == ("job", arg):
            frames.output[arg] = "".join(buf)
            frames.rc[arg] = int(extra) if extra and extra.lstrip("-").isdigit() else None
            current, buf = None, []
        elif what == "section" and arg:
            close()
            current, buf = ("section", arg), []
    close()
    return frames
