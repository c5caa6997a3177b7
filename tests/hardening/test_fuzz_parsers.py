"""Every parser under fuzzing (issue 9, part 1): nothing escapes but ParseError, which names the
tool and a line of the input; no regex backtracks badly on huge or stretched input.

Seeds are the real recorded outputs in tests/fixtures/outputs (plus labelled hand-made JSON,
see fuzzlib.py). Hypothesis runs ``RPF_FUZZ_EXAMPLES`` (default 150) derandomized examples per
parser; ``python3 bench/bench_fuzz.py`` runs a longer campaign and records the figures.
"""

from __future__ import annotations

import random
import signal
from contextlib import contextmanager

import pytest
from hypothesis import given

from rdma_preflight.parsers.base import ParseError, strip_source_header
from tests.hardening.fuzzlib import (FUZZ_SETTINGS, HUGE_BYTES, MUTATIONS, TARGETS, Target, check_outcome,
                                     fuzzed_input, huge_inputs, mutate, stretched_inputs)

IDS = [t.name for t in TARGETS]
GUARD_SECONDS = 20          # stretched lines: linear parsers need milliseconds, quadratic ones minutes
HUGE_GUARD_SECONDS = 60     # 5 MB / 100k lines: a few seconds on a loaded machine, hours if quadratic
STRETCH_WIDTH = 64 * 1024   # quadratic backtracking over a 64 KiB run takes minutes


class _Hung(BaseException):
    """Raised by SIGALRM inside a parser; BaseException so no parser's ``except`` swallows it."""


@contextmanager
def wall_clock_guard(seconds: int, what: str):
    """Fail the test with ``what`` if the block runs longer than ``seconds`` (a hang detector,
    not a timing assertion: linear parsers finish these inputs in milliseconds)."""
    def on_alarm(signum, frame):
        raise _Hung()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    except _Hung:
        pytest.fail(f"{what}: still running after {seconds}s; a regex backtracks "
                    "(catastrophic or quadratic) on this input", pytrace=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _assert_contract(target: Target, data: str | bytes) -> None:
    problem = check_outcome(target, data)
    assert problem is None, f"{target.name}: {problem}\ninput: {data[:400]!r}"


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_every_seed_keeps_the_contract_and_most_parse(target):
    parsed = 0
    for seed in target.seeds:
        _assert_contract(target, seed)
        try:
            target.fn(seed)
            parsed += 1
        except ParseError:
            pass
    assert parsed >= 1, f"{target.name}: no seed parses, the fuzzing would start from nothing"


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_fuzzed_inputs_give_a_result_or_a_parse_error(target):
    """Hypothesis: seeds truncated, lines dropped/shuffled/duplicated, bytes flipped, new columns,
    fields and JSON members, CRLF, CR, NULs, invalid UTF-8, odd values; plus random text/bytes."""
    runs = []

    @FUZZ_SETTINGS
    @given(fuzzed_input(target.seeds))
    def one(data):
        runs.append(1)
        _assert_contract(target, data)

    with wall_clock_guard(max(120, FUZZ_SETTINGS.max_examples), f"{target.name} fuzz campaign"):
        one()
    assert len(runs) >= FUZZ_SETTINGS.max_examples


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_every_line_cut_dropped_and_duplicated(target):
    """Deterministic sweep: each seed cut after every line and inside it (as bytes, so inside a
    UTF-8 sequence too), each line dropped (CRLF form) and doubled, every mutation kind once."""
    for seed in target.seeds:
        lines = seed.splitlines(keepends=True)
        data = seed.encode()
        ends = [len("".join(lines[: i + 1]).encode()) for i in range(len(lines))]
        for i, end in enumerate(ends):
            start = ends[i - 1] if i else 0
            _assert_contract(target, data[:end])                                  # cut after the line
            _assert_contract(target, data[: (start + end) // 2])                  # cut inside it (bytes)
            _assert_contract(target, "".join(lines[:i] + lines[i + 1:]).replace("\n", "\r\n"))  # dropped
            _assert_contract(target, "".join(lines[:i + 1] + lines[i:]))          # doubled
        rnd = random.Random(9)
        for kind in MUTATIONS:
            _assert_contract(target, mutate(seed, kind, rnd))


@pytest.mark.parametrize("target", [t for t in TARGETS if t.name in (
    "ibdev2netdev.parse", "lsmod.parse", "lspci.parse_nn", "ibstat.parse", "rdma_link.parse", "mlxconfig.parse")],
    ids=lambda t: t.name)
def test_a_garbage_line_is_reported_at_its_line(target):
    """ParseError.line is the line of the input as given: source header counted, CRLF or LF."""
    seed = next(s for s in target.seeds if s.startswith("# source:"))
    body = strip_source_header(seed)
    header_lines = seed[: len(seed) - len(body)].count("\n")
    lines = body.split("\n")
    content = [i for i, line in enumerate(lines) if line.strip()]
    k = content[min(1, len(content) - 1)]
    garbage = "%%% ==> (( not output"
    bad = "\n".join(lines[:k] + [garbage] + lines[k + 1:])
    for eol in ("\n", "\r\n"):
        text = seed[: len(seed) - len(body)].replace("\n", eol) + bad.replace("\n", eol)
        with pytest.raises(ParseError) as err:
            target.fn(text)
        assert err.value.tool == target.tool
        assert err.value.line == header_lines + k + 1, (eol, err.value)
        assert garbage in str(err.value)


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_huge_inputs_finish(target):
    """5 MB inputs and 100k lines: seeds repeated, one 5 MB line, near-miss lines, blank/digit runs."""
    inputs = huge_inputs(target)
    assert max(len(v) for v in inputs.values()) == HUGE_BYTES
    assert max(v.count("\n") for v in inputs.values()) >= 99_999 or len(inputs["repeated_100k_lines"]) == HUGE_BYTES
    for label, data in inputs.items():
        with wall_clock_guard(HUGE_GUARD_SECONDS, f"{target.name} on the {label} input ({len(data)} bytes)"):
            _assert_contract(target, data)


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_no_backtracking_on_stretched_lines(target):
    """Every kind of line of every seed stretched by a 64 KiB blank run (after it, inside it,
    before its last word) or a repeated character/word: quadratic regexes take minutes here."""
    for label, data in stretched_inputs(target, STRETCH_WIDTH):
        with wall_clock_guard(GUARD_SECONDS, f"{target.name}, {label}"):
            _assert_contract(target, data)


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_one_5mb_stretched_line(target):
    """The brief's 5 MB case: the first seed line with a 5 MB blank run before its last word."""
    seed = strip_source_header(max(target.seeds, key=len))
    line = next(line for line in seed.split("\n") if line.strip())
    word = line.rstrip().rsplit(None, 1)
    big = (word[0] + " " * HUGE_BYTES + word[1]) if len(word) == 2 else line + " " * HUGE_BYTES + "x"
    data = seed.replace(line, big, 1)
    with wall_clock_guard(HUGE_GUARD_SECONDS, f"{target.name} on a 5 MB line"):
        _assert_contract(target, data)
