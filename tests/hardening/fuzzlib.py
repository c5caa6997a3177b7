"""Parser fuzzing kit shared by tests/hardening/test_fuzz_parsers.py and bench/bench_fuzz.py.

Every parser entry point is listed in :data:`TARGETS` with its seeds: the real recorded
outputs in ``tests/fixtures/outputs/<dir>/`` (source header kept, so the header path is
fuzzed too) plus a few hand-made seeds, labelled as such, for formats no recording shows
(``-j`` JSON). :func:`fuzzed_input` is a hypothesis strategy that mutates a seed the ways
real node output goes wrong: truncation, dropped / shuffled / duplicated lines, byte flips,
unknown tool versions (extra columns, fields, JSON members), CRLF, NULs, invalid UTF-8 and
odd values (huge numbers, superscript digits, ``nan``). :func:`check_outcome` runs one input
and says what escaped, if anything: the contract is "a result, or a ParseError naming the
tool and a line of the input".
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rdma_preflight.parsers import (cma_roce_tos, dcb, ecn_query, ethtool_stats, ib_write_bw, ibdev2netdev, ibstat,
                                    ibstatus, ibv_devinfo, lsmod, lspci, mlnx_qos, mlxconfig, nvidia_smi_topo,
                                    ofed_info, rdma_link, rdma_system, traffic_class)
from rdma_preflight.parsers.base import ParseError, strip_source_header

OUTPUTS = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"

# -- settings: reproducible in CI, longer by hand ------------------------------------------------
# RPF_FUZZ_EXAMPLES=N raises the examples per parser (default 150 keeps the whole fuzz suite
# well under two minutes on two cores). derandomize: the same examples on every run.
DEFAULT_EXAMPLES = 150
FUZZ_EXAMPLES = int(os.environ.get("RPF_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
settings.register_profile(
    "rpf-fuzz", max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])
FUZZ_SETTINGS = settings.get_profile("rpf-fuzz")

# -- hand-made seeds (formats with no recording in tests/fixtures/outputs) --------------------------
# hand-made: `dcb -j pfc|app show dev IF` as iproute2 dcb_pfc.c / dcb_app.c print them
_DCB_PFC_JSON = ('{"pfc_cap":8,"macsec_bypass":false,"delay":0,'
                 '"prio_pfc":[false,false,false,false,false,true,false,false],'
                 '"requests":[0,0,0,0,0,17,0,0],"indications":[0,0,0,0,0,3,0,0]}\n')
_DCB_APP_JSON = '{"default_prio":[0],"dscp_prio":[[40,5],[48,6]]}\n'
# hand-made: `rdma -j link show` (new ifname+port and old "dev/port" forms), `rdma -j system show`
_RDMA_LINK_JSON = ('[{"ifindex":0,"ifname":"mlx5_0","port":1,"state":"ACTIVE","physical_state":"LINK_UP",'
                   '"netdev":"ens6f0np0","netdev_index":4},'
                   '{"ifindex":1,"port":1,"ifname":"mlx5_1/1","subnet_prefix":"fe80:0000:0000:0000","lid":2,'
                   '"sm_lid":2,"lmc":0,"state":"ACTIVE","physical_state":"LINK_UP"}]\n')
_RDMA_SYSTEM_JSON = '[{"netns":"shared","copy-on-fork":true}]\n'
# hand-made: /sys/class/infiniband/<dev>/tc/1/traffic_class content
_TCLASS = ("Global tclass=160\n", "Global tclass=106\r\n")


def _fixtures(*dirs: str) -> tuple[str, ...]:
    return tuple(p.read_text(encoding="utf-8") for d in dirs for p in sorted((OUTPUTS / d).glob("*.txt")))


@dataclass(frozen=True)
class Target:
    """One parser entry point: its name, the function, the ParseError.tool it must name, seeds."""

    name: str
    fn: Callable[[str | bytes], object]
    tool: str
    seeds: tuple[str, ...]


# (module, entry point, fixture directories, hand-made seeds)
_ENTRY_POINTS = (
    (cma_roce_tos, "parse", ("cma_roce_tos",), ()), (dcb, "parse", ("dcb",), (_DCB_PFC_JSON, _DCB_APP_JSON)),
    (dcb, "parse_pfc", ("dcb",), (_DCB_PFC_JSON,)), (dcb, "parse_app", ("dcb",), (_DCB_APP_JSON,)),
    (ecn_query, "parse", ("ecn_sysfs",), ()), (ethtool_stats, "parse", ("ethtool_stats",), ()),
    (ib_write_bw, "parse", ("ib_write_bw",), ()), (ibdev2netdev, "parse", ("ibdev2netdev",), ()),
    (ibstat, "parse", ("ibstat",), ()), (ibstatus, "parse", ("ibstatus",), ()),
    (ibv_devinfo, "parse", ("ibv_devinfo",), ()), (lsmod, "parse", ("lsmod",), ()),
    (lspci, "parse", ("lspci_acs", "lspci_nn"), ()), (lspci, "parse_vvv", ("lspci_acs",), ()),
    (lspci, "parse_nn", ("lspci_nn",), ()), (mlnx_qos, "parse", ("mlnx_qos",), ()),
    (mlxconfig, "parse", ("mlxconfig",), ()), (nvidia_smi_topo, "parse", ("nvidia_smi_topo",), ()),
    (ofed_info, "parse", ("ofed_info",), ()), (rdma_link, "parse", ("rdma_link",), (_RDMA_LINK_JSON,)),
    (rdma_system, "parse", ("rdma_system",), (_RDMA_SYSTEM_JSON,)), (traffic_class, "parse", (), _TCLASS),
)


def _targets() -> list[Target]:
    # the traffic_class file content the spiderpool query fixture prints after " = "
    tclass = tuple(line.split(" = ", 1)[1] + "\n" for s in _fixtures("ecn_sysfs")
                   for line in s.splitlines() if "Global tclass=" in line)
    return [Target(f"{mod.__name__.rsplit('.', 1)[1]}.{fn}", getattr(mod, fn), mod.TOOL,
                   _fixtures(*dirs) + hand + (tclass if mod is traffic_class else ()))
            for mod, fn, dirs, hand in _ENTRY_POINTS]


TARGETS: list[Target] = _targets()
BY_NAME: dict[str, Target] = {t.name: t for t in TARGETS}

# -- mutations ---------------------------------------------------------------------------------------
# values a parser may meet where a number or word was: too big, negative, not ASCII digits
# (superscripts pass str.isdigit() but not int()), float specials, empty, separators
ODD_VALUES = ("", "-1", "0", "4294967296", "99999999999999999999999999", "1e309", "nan", "NaN", "inf", "-0",
              "0x", "0xffffffffffffffffffff", "9" * 4301, "²", "٣", "１", "0.", ".5", "1.2.3", ":", "::", "=", "[", "]",
              "{", "}", "(", ")", '"', "'", "\\", "%s", "\t", "\u2026", "...", "N/A", "-", "+", "null", "true")
_TOKEN = re.compile(r"[0-9A-Za-z_.:/x-]+")
_JUNK_LINES = ("Version: 99.0", "\tNew field: 1", "Port 9:", "CA 'mlx9_9'", "  extra   column  layout  42",
               "-" * 80, "#", "+ set -x trace line", "{", "[", "]", "}", "......", "\u2026")


_JUNK_CHARS = "aZ09 \t:=,.-_/()[]{}<>'\"\\|;$`#*+%@!?~\u00a0\u2026\u00f1\u00b2\u0663\ufeff\x7f\x1b"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _junk(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice(_JUNK_CHARS) for _ in range(n))


MUTATIONS = ("truncate", "drop", "shuffle", "duplicate", "swap_lines", "flip", "extra_column", "extra_line",
             "crlf", "cr", "nul", "bad_utf8", "odd_value", "json", "strip_header", "repeat_char")


def mutate(text: str, kind: str, rnd: random.Random) -> str | bytes:
    """One mutation of ``text``, the way real output goes wrong (str in; str or bytes out)."""
    lines = _lines(text)
    if kind == "truncate":
        return text[: rnd.randint(0, len(text))]
    if kind == "drop" and lines:
        return "".join(line for line in lines if rnd.random() < 0.7)
    if kind == "shuffle" and lines:
        rnd.shuffle(lines)
        return "".join(lines)
    if kind == "duplicate" and lines:
        i = rnd.randrange(len(lines))
        return "".join(lines[: i + 1] + [lines[i]] * rnd.randint(1, 50) + lines[i + 1:])
    if kind == "swap_lines" and len(lines) > 1:
        i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == "flip" and text:
        data = bytearray(text.encode("utf-8"))
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] ^= rnd.randint(1, 255)
        return bytes(data)
    if kind == "extra_column" and lines:     # a newer tool version: more columns / fields per line
        i = rnd.randrange(len(lines))
        extra = rnd.choice(("  extra", "\t42", " x=1", " (new)", "  0x10  ON", ": more: colons", " " + _junk(rnd, 6)))
        lines[i] = lines[i].rstrip("\r\n") + extra + "\n"
        return "".join(lines)
    if kind == "extra_line":                 # a newer tool version: new lines, sections, banners
        i = rnd.randint(0, len(lines))
        return "".join(lines[:i] + [rnd.choice(_JUNK_LINES + (_junk(rnd, rnd.randint(0, 60)),)) + "\n"] + lines[i:])
    if kind == "crlf":
        return text.replace("\n", "\r\n")
    if kind == "cr":
        return text.replace("\n", "\r")
    if kind == "nul":
        pos = rnd.randint(0, len(text))
        return text[:pos] + "\x00" + text[pos:]
    if kind == "bad_utf8":
        data = text.encode("utf-8")
        pos = rnd.randint(0, len(data))
        return data[:pos] + rnd.choice((b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80\x80")) + data[pos:]
    if kind == "odd_value":
        spans = [m.span() for m in _TOKEN.finditer(text)]
        if spans:
            for _ in range(rnd.randint(1, 3)):
                a, b = rnd.choice(spans)
                text = text[:a] + rnd.choice(ODD_VALUES) + text[b:]
                spans = [m.span() for m in _TOKEN.finditer(text)] or [(0, 0)]
            return text
    if kind == "json":
        return _mutate_json(text, rnd)
    if kind == "strip_header":
        return strip_source_header(text)
    if kind == "repeat_char" and text:
        pos = rnd.randrange(len(text))
        return text[:pos] + text[pos] * rnd.randint(2, 2000) + text[pos + 1:]
    return text


def _json_value(rnd: random.Random, depth: int = 0) -> object:
    pick = rnd.randrange(9 if depth < 3 else 7)
    if pick == 7:
        return [_json_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if pick == 8:
        return {_junk(rnd, 4): _json_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    return (None, True, False, rnd.randint(-2**70, 2**70), rnd.random() * 1e6, rnd.choice(ODD_VALUES),
            _junk(rnd, rnd.randint(0, 8)))[pick]


def _mutate_json(text: str, rnd: random.Random) -> str:
    """Unknown-version JSON: extra members, members of the wrong type, objects swapped for lists."""
    try:
        data = json.loads(strip_source_header(text))
    except ValueError:
        return text
    items = data if isinstance(data, list) else [data]
    for obj in items:
        if not isinstance(obj, dict):
            continue
        if obj and rnd.random() < 0.5:
            obj[rnd.choice(sorted(obj))] = _json_value(rnd)
        if rnd.random() < 0.5:
            obj[rnd.choice(("new_field", "ifname", "port", "", "prio_pfc", _junk(rnd, 5)))] = _json_value(rnd)
    if rnd.random() < 0.3:
        items.append(_json_value(rnd))
    return json.dumps(data if isinstance(data, list) and rnd.random() < 0.5 else items)


@st.composite
def fuzzed_input(draw, seeds: tuple[str, ...]) -> str | bytes:
    """A real seed after 1 to 4 mutations, or (now and then) arbitrary text or bytes. The choices
    come from a Random seeded by hypothesis, so runs are reproducible and cheap to draw."""
    source = draw(st.integers(0, 19))
    if source == 0:
        return draw(st.text(max_size=400))
    if source == 1:
        return draw(st.binary(max_size=400))
    rnd = random.Random(draw(st.integers(0, 2**64 - 1)))
    value: str | bytes = rnd.choice(seeds)
    for _ in range(rnd.randint(1, 4)):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        value = mutate(value, rnd.choice(MUTATIONS), rnd)
    return value


# -- the contract -------------------------------------------------------------------------------------

def input_lines(data: str | bytes) -> list[str]:
    """The input's lines as the parsers number them (bytes decoded, CRLF and lone CR are breaks)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def check_outcome(target: Target, data: str | bytes) -> str | None:
    """Run the parser once: None if it kept the contract, else what went wrong (one line).

    The contract: a result, or a ParseError whose ``tool`` is the parser's, whose ``line`` is 0
    (the whole input) or a line of the input, and whose quoted text, if any, is on that line."""
    try:
        target.fn(data)
    except ParseError as exc:
        problems = []
        lines = input_lines(data)
        if exc.tool != target.tool:
            problems.append(f"ParseError names tool {exc.tool!r}, not {target.tool!r}")
        if not isinstance(exc.line, int) or not 0 <= exc.line <= len(lines):
            problems.append(f"ParseError line {exc.line!r} outside the input (0..{len(lines)})")
        elif exc.line and exc.text is not None and exc.text.strip() not in lines[exc.line - 1]:
            problems.append(f"ParseError quotes {exc.text[:60]!r}, not on line {exc.line}")
        if not exc.reason or target.tool not in str(exc):
            problems.append(f"ParseError without a reason or tool in its message: {str(exc)[:120]!r}")
        return "; ".join(problems) or None
    except Exception as exc:  # the finding: anything else escaped
        return f"{type(exc).__name__} escaped: {str(exc)[:160]}"
    return None


# -- huge and adversarial inputs ---------------------------------------------------------------------

HUGE_BYTES = 5 * 1024 * 1024


def _repeat_lines(lines: list[str], count: int, limit: int = HUGE_BYTES) -> str:
    out = (lines * (count // max(1, len(lines)) + 1))[:count]
    return "\n".join(out)[:limit]


def huge_inputs(target: Target, thorough: bool = False) -> dict[str, str]:
    """Huge inputs built from the longest seed: its lines repeated to 100k lines (at most 5 MB),
    one 5 MB line of its text and a 5 MB line of blank/digit/colon/dot runs; ``thorough`` adds
    100k short lines and 100k near-miss lines (one character short plus a huge hex value)."""
    body = strip_source_header(max(target.seeds, key=len))
    lines = [line for line in body.split("\n") if line.strip()] or ["x"]
    one_line = re.sub(r"\s", " ", body) or "x"
    near = [f"{line.rstrip()[:-1]} \t: 0x{'9' * 30}" for line in lines]
    out = {
        "repeated_100k_lines": _repeat_lines(lines, 100_000),
        "one_line_5mb": (one_line * (HUGE_BYTES // len(one_line) + 1))[:HUGE_BYTES],
        "runs_5mb": (("  " * 40 + "1" * 40 + ":" * 40 + "." * 40 + "\t") * (HUGE_BYTES // 161 + 1))[:HUGE_BYTES],
    }
    if thorough:
        out["short_lines_100k"] = _repeat_lines([line[:50] for line in lines], 100_000)
        out["near_miss_100k_lines"] = _repeat_lines(near, 100_000)
    return out


_WS_RUN = re.compile(r"[ \t]+")
_WORD = re.compile(r"\S+")


def _stretch_variants(line: str, width: int, thorough: bool) -> dict[str, str]:
    """One line made ``width`` bytes long in ways that expose backtracking regexes."""
    body = line.strip()
    indent = line[: len(line) - len(line.lstrip())]
    words = list(_WORD.finditer(line))
    out = {"gap_then_word": line + " " * width + "x", "first_char_repeated": line[0] * width + line[1:]}
    runs = len(_WS_RUN.findall(body))
    if runs:
        out["blank_runs_widened"] = indent + _WS_RUN.sub(" " * max(1, width // runs), body)
    if len(words) > 1:
        last = words[-1]
        out["gap_before_last_word"] = line[: last.start()] + " " * width + line[last.start():]
        out["last_word_repeated"] = line[: last.start()] + last.group() * (width // len(last.group()) + 1)
    if thorough:
        for n, w in enumerate(words):
            mid = (w.start() + w.end()) // 2
            out[f"gap_inside_word_{n}"] = line[:mid] + " " * width + line[mid:]
            out[f"word_{n}_repeated"] = line[: w.start()] + w.group() * (width // len(w.group()) + 1) + line[w.end():]
    return out


def stretched_inputs(target: Target, width: int = HUGE_BYTES, thorough: bool = False) -> list[tuple[str, str]]:
    """(label, text) pairs: a real seed with ONE line stretched to about ``width`` bytes, for every
    distinct line shape of every seed (digits and hex folded): a long blank run after it, inside
    it or before its last word, its first character or a word repeated (``thorough``: every word
    split by a run, every word repeated). A regex that backtracks over such a run (``(.+?)\\s*$``,
    a searched ``\\s*X$``, a lazy key before ``:``) is quadratic on these: minutes or hours for
    one line; a linear parser reads each in milliseconds."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for s_index, seed in enumerate(target.seeds):
        lines = strip_source_header(seed).split("\n")
        for i, line in enumerate(lines):
            first, _, rest = line.strip().partition(" ")   # one input per kind of line
            first = re.sub(r"[0-9a-fA-F]+", "0", first)
            shape = first + (re.sub(r"[0-9a-fA-F]+", "0", rest) if thorough else re.sub(r"\w+", "w", rest))
            if not line.strip() or shape in seen:
                continue
            seen.add(shape)
            for kind, big in _stretch_variants(line, width, thorough).items():
                text = "\n".join(lines[:i] + [big] + lines[i + 1:])
                out.append((f"seed {s_index} line {i + 1} {kind}: {line.strip()[:40]!r}", text))
    return out
