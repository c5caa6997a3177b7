"""The pytest plugin: options, fact gathering, parametrisation, outcomes, reports, exit codes.

Loaded by the repository's top-level conftest.py. It only acts on test functions made by
``rdma_preflight.harness.binding.bind`` (the files under ``checks/``); the project's own
tests are untouched.

Exit codes: 0 all passed (warnings allowed), 1 a check failed, 2 usage or profile error,
3 a node was unreachable or unreadable and nothing failed.
"""

from __future__ import annotations

import contextlib
import os
import sys

import pytest

from .evaluate import evaluate_subject
from ..timeouts import DEFAULTS, Timeouts, TimeoutsError
from .session import Options, RunState, UsageError

# --bandwidth, --bandwidth-strategy, ... (the fleet-level bw.write measurement)
pytest_plugins = ["rdma_preflight.bandwidth.pytest_hooks"]

STATE_KEY = pytest.StashKey[RunState]()
TIMEOUTS_KEY = pytest.StashKey[Timeouts]()
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def pytest_addoption(parser):
    g = parser.getgroup("rdma-preflight", "rdma-preflight node checks")
    g.addoption("--profile", help="profile YAML (the expected design)")
    g.addoption("--nodes", action="append", default=[],
                help="node target(s): local, ssh://[user@]host[:port], paramiko://..., "
                     "ansible://PATTERN?inventory=FILE, kube://NODE, netns://NAME, snapshot://PATH; "
                     "repeatable, comma lists")
    g.addoption("--nodes-file", help="YAML nodes file (per-node or per-glob profiles)")
    g.addoption("--remediate", choices=["off", "plan", "apply"], default="off",
                help="off (default): report only; plan: print the fix actions; apply: journal, fix, re-check")
    g.addoption("--report-dir", help="write JSON, JUnit (one testsuite per node) and summary reports here")
    g.addoption("--check", dest="rpf_select", action="append", default=[],
                help="run only these check ids (globs, e.g. net.* or rdma.netns_mode)")
    g.addoption("--skip-check", dest="rpf_deselect", action="append", default=[],
                help="deselect these check ids (globs)")
    # --ssh-config and --ssh-identity-file come from pytest-testinfra's plugin (same meaning).
    g.addoption("--concurrency", type=int, default=16, help="nodes collected at once (default 16)")
    g.addoption("--collect-timeout", type=float, default=None,
                help=f"seconds per node for collection (default {DEFAULTS.collect:g}; = --timeout collect=S)")
    g.addoption("--connect-timeout", type=float, default=None,
                help=f"seconds to connect to a node (default {DEFAULTS.connect:g}; = --timeout connect=S)")
    names = ["--timeout", "--rpf-timeout"] if not _option_taken(parser, "--timeout") else ["--rpf-timeout"]
    g.addoption(*names, dest="rpf_timeouts", action="append", default=[], metavar="NAME=SECONDS",
                help="set one timeout (repeatable); names: " + ", ".join(Timeouts.names())
                     + " (README: Timeouts). --rpf-timeout is the same when another plugin owns --timeout")
    g.addoption("--ssh-accept-new-host-keys", action="store_true", default=False,
                help="ssh/paramiko: trust a node's host key on first use and add it to known_hosts "
                     "(a changed key is still refused)")
    g.addoption("--kubeconfig", help="kubeconfig for kube:// targets and k8s.* checks")
    g.addoption("--kube-namespace", default="rdma-preflight", help="namespace for probe pods (default rdma-preflight)")
    g.addoption("--kube-image", default=None, help="probe pod image (needs sh and nsenter; default busybox)")
    g.addoption("--waivers", help="waiver file (YAML): accepted failures with owner, reason, expiry")
    g.addoption("--baseline", help="previous results.json: report what changed")
    g.addoption("--yes", action="store_true", default=False, help="confirm --remediate apply on many nodes")
    g.addoption("--journal-dir", help="where remediation journals go (default: <report-dir>/journal)")
    g.addoption("--acceptance", action="store_true", default=False, help="write an acceptance record per node")
    g.addoption("--granularity", choices=["auto", "rail", "node", "fleet"], default="auto",
                help="rail: one test item per rail; node: one item per check and node with the rails "
                     "inside; fleet: one item per check over all nodes (thousands of nodes); every "
                     "node and rail keeps its own record in the reports; auto: rail up to 64 nodes, "
                     "node up to 500, fleet above")


def _option_taken(parser, name: str) -> bool:
    """True when another plugin (e.g. pytest-timeout) already registered ``name``."""
    groups = list(getattr(parser, "_groups", [])) + [getattr(parser, "_anonymous", None)]
    return any(name in opt.names() for grp in groups if grp is not None for opt in grp.options)


def run_timeouts(config) -> Timeouts:
    """The run's Timeouts from --timeout/--connect-timeout/--collect-timeout (validated once, at
    configure: a bad value ends the run with exit code 2 and a one-line error)."""
    if TIMEOUTS_KEY not in config.stash:
        g = config.getoption
        config.stash[TIMEOUTS_KEY] = Timeouts.from_options(g("rpf_timeouts", None) or [],
                                                           connect=g("connect_timeout", None),
                                                           collect=g("collect_timeout", None))
    return config.stash[TIMEOUTS_KEY]


def pytest_configure(config):
    try:
        run_timeouts(config)
    except TimeoutsError as exc:
        pytest.exit(f"rdma-preflight: error: {exc}", returncode=EXIT_USAGE)


def _options(config) -> Options:
    g = config.getoption
    return Options(profile=g("profile"), nodes=list(g("nodes") or []), nodes_file=g("nodes_file"),
                   remediate=g("remediate"), report_dir=g("report_dir"), select=list(g("rpf_select") or []),
                   deselect=list(g("rpf_deselect") or []), ssh_config=g("ssh_config", None),
                   ssh_identity=g("ssh_identity_file", None), concurrency=max(1, g("concurrency")),
                   timeouts=run_timeouts(config), ssh_accept_new_host_keys=g("ssh_accept_new_host_keys"),
                   kubeconfig=g("kubeconfig"), waivers=g("waivers"), baseline=g("baseline"),
                   yes=g("yes"), journal_dir=g("journal_dir"), acceptance=g("acceptance"),
                   granularity=g("granularity"), kube_namespace=g("kube_namespace"),
                   kube_image=g("kube_image"))


@contextlib.contextmanager
def _uncaptured(config):
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def get_state(config) -> RunState:
    if STATE_KEY not in config.stash:
        state = RunState(_options(config))
        config.stash[STATE_KEY] = state       # stashed first: an interrupt still gets its report
        _install_sigterm()
        if state.opts.report_dir:
            _stream_reports(state)
        with _uncaptured(config):
            try:
                state.resolve_nodes()
                from .waivers import attach_waivers
                attach_waivers(state)
                if state.used_example:
                    sys.stderr.write("rdma-preflight: no --nodes given: running the bundled example fleet "
                                     "(examples/fleet.yaml, recorded snapshots); use --nodes local to check "
                                     "this machine\n")
                state.gather()
            except UsageError as exc:
                state.usage_error = str(exc)
                sys.stderr.write(f"rdma-preflight: error: {exc}\n")
                pytest.exit(str(exc).splitlines()[0] if str(exc) else "usage error", returncode=EXIT_USAGE)
    return config.stash[STATE_KEY]


def _install_sigterm() -> None:
    """SIGTERM (a CI job cancelled, a pod evicted) behaves like Ctrl-C: children are killed
    and a valid report marked partial is written."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:      # a forked helper (e.g. a library's) inherits this handler
            os._exit(128 + signum)
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        pass


STREAM_COST_SHARE = 0.1   # streamed rewrites may take at most ~10% of the run's time


def _stream_reports(state: RunState, every: float = 2.0) -> None:
    """Keep a valid results.json (marked partial) on disk while the run goes on.

    The file is rewritten whole (readers always see one valid document), at most every
    ``every`` seconds and never more often than ten times its last write took: at 1,000
    nodes a rewrite costs seconds, and a fixed 2 s period spent 70% of the run rewriting it."""
    import time
    from pathlib import Path

    from ..reports import results_json

    d = Path(state.opts.report_dir)
    last = [0.0, every]       # when the last rewrite ended, the wait before the next one

    def listener(_record) -> None:
        now = time.monotonic()
        if now - last[0] >= last[1]:
            d.mkdir(parents=True, exist_ok=True)
            results_json.write(state, d / "results.json", partial=True)
            end = time.monotonic()
            last[0], last[1] = end, max(every, (end - now) / STREAM_COST_SHARE)

    state.store.listeners.append(listener)


def pytest_generate_tests(metafunc):
    check_id = getattr(metafunc.function, "_rpf_check", None)
    if check_id is None:
        return
    state = get_state(metafunc.config)
    spec = state.registry[check_id]
    subjects = state.subjects(spec)
    metafunc.parametrize("rpf_result", subjects, ids=[s.id for s in subjects], indirect=True)


def pytest_collection_modifyitems(session, config, items):
    if STATE_KEY not in config.stash:
        return
    state = config.stash[STATE_KEY]
    keep, drop = [], []
    for item in items:
        cid = getattr(getattr(item, "function", None), "_rpf_check", None)
        (keep if cid is None or state.selected(cid) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def rpf_result(request):
    """Evaluate the check for this item during setup (errors here are JUnit <error>)."""
    state = request.config.stash[STATE_KEY]
    records, outcome, message = evaluate_subject(state, request.param)
    for record in records:
        state.store.add(record)
    if outcome == "error":
        pytest.fail(message, pytrace=False)
    if outcome == "skip":
        pytest.skip(message)
    return outcome, message


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if STATE_KEY not in config.stash:
        return
    from ..reports.terminal import summary_lines

    state = config.stash[STATE_KEY]
    for line in summary_lines(state):
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if STATE_KEY not in config.stash:
        return
    state = config.stash[STATE_KEY]
    import time

    state.finished = time.time()
    state.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if state.opts.report_dir and not getattr(state, "usage_error", None):
        from ..reports.writer import write_reports

        paths = write_reports(state, state.opts.report_dir)
        state.notes.append("reports: " + ", ".join(str(p) for p in paths))
    if getattr(state, "usage_error", None):
        return
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = exit_code(state)


def exit_code(state: RunState) -> int:
    return exit_code_of({r.outcome for r in state.store.records}, any(st.error for st in state.nodes.values()))


def exit_code_of(outcomes, node_error: bool) -> int:
    """The run's exit code from its record outcomes and whether a node was unreachable/unreadable
    (also used by ``rdma-preflight report`` when waivers are re-applied to a saved run)."""
    outcomes = set(outcomes)
    if "fail" in outcomes:
        return EXIT_FAIL
    if "error" in outcomes or node_error:
        return EXIT_UNREACHABLE
    return EXIT_OK
