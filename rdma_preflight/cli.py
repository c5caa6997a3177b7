"""The ``rdma-preflight`` command: run, collect, checks, profile validate/show, rollback, ...

``run`` wraps ``pytest checks/`` with defaults and always writes reports; everything it does
can also be done with plain pytest (see README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from . import __version__

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKS_DIR = REPO_ROOT / "checks"
EXIT_USAGE = 2


def _die(msg: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"rdma-preflight: error: {msg}\n")
    return code


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    if not CHECKS_DIR.is_dir():
        return _die(f"checks folder not found at {CHECKS_DIR} (run from a checkout: pip install -e .)")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report_dir = Path(args.report_dir) if args.report_dir else REPO_ROOT / "reports" / stamp
    pargs = [str(CHECKS_DIR), "--rootdir", str(REPO_ROOT), "-p", "no:cacheprovider",
             "--report-dir", str(report_dir), "-q", "-rfE", "--no-header", "--tb=no"]
    for n in args.nodes or []:
        pargs += ["--nodes", n]
    for opt in ("profile", "nodes_file", "waivers", "baseline", "kubeconfig", "journal_dir", "ssh_config",
                "ssh_identity_file", "kube_namespace", "kube_image", "granularity"):
        v = getattr(args, opt, None)
        if v:
            pargs += ["--" + opt.replace("_", "-"), str(v)]
    try:
        _timeouts(args)
    except ValueError as exc:
        return _die(str(exc))
    pargs += ["--remediate", args.remediate, "--concurrency", str(args.concurrency)]
    for opt in ("collect_timeout", "connect_timeout"):
        if getattr(args, opt) is not None:
            pargs += ["--" + opt.replace("_", "-"), str(getattr(args, opt))]
    for item in args.timeout or []:
        pargs += ["--rpf-timeout", item]        # the plugin's name for --timeout, whatever other plugins own
    if args.ssh_accept_new_host_keys:
        pargs.append("--ssh-accept-new-host-keys")
    for c in args.check or []:
        pargs += ["--check", c]
    for c in args.skip_check or []:
        pargs += ["--skip-check", c]
    if args.yes:
        pargs.append("--yes")
    if args.acceptance:
        pargs.append("--acceptance")
    pargs += extra
    rc = int(pytest.main(pargs))
    if not args.report_dir:
        latest = REPO_ROOT / "reports" / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(report_dir.name)
        except OSError:
            pass
    if report_dir.exists():
        print(f"rdma-preflight: reports in {report_dir}/ (results.json, junit.xml"
              + (", fleet.html, fleet.md" if (report_dir / "fleet.html").exists() else "") + ")")
    if rc == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    if rc == pytest.ExitCode.INTERRUPTED:
        return 130
    if rc == pytest.ExitCode.NO_TESTS_COLLECTED:
        return _die("no checks selected (check --check/--skip-check patterns)")
    return rc


def _timeouts(args: argparse.Namespace):
    """The Timeouts of run/collect (raises TimeoutsError, a ValueError, with a one-line message)."""
    from .timeouts import Timeouts

    return Timeouts.from_options(args.timeout or [], connect=args.connect_timeout, collect=args.collect_timeout)


def cmd_collect(args: argparse.Namespace) -> int:
    from .collect.gather import collect_snapshot
    from .harness.progress import Progress
    from .targets.base import TargetError
    from .targets.resolve import NodesError, load_nodes_file, make_target, nodes_from_args
    from .collect.snapshot import write_tar
    import concurrent.futures

    try:
        specs = (load_nodes_file(args.nodes_file) if args.nodes_file else []) + nodes_from_args(args.nodes or [])
    except NodesError as exc:
        return _die(str(exc))
    if not specs:
        return _die("give --nodes or --nodes-file")
    try:
        timeouts = _timeouts(args)
    except ValueError as exc:
        return _die(str(exc))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress("collecting", len(specs))
    failures = {}

    def one(spec):
        try:
            kube = ({"kubeconfig": args.kubeconfig, "namespace": args.kube_namespace,
                     **({"image": args.kube_image} if args.kube_image else {})}
                    if spec.target.scheme == "kube" else None)
            t = make_target(spec, args.ssh_config, args.ssh_identity_file, kube_options=kube, timeouts=timeouts,
                            accept_new_host_keys=args.ssh_accept_new_host_keys)
            try:
                snap = collect_snapshot(t, None, "mlxconfig" if args.mlxconfig else "")
            finally:
                t.close()                 # a kube:// probe pod is deleted, a paramiko session closed
            snap.node = spec.name
            d = snap.save(out / spec.name)
            if args.tar:
                write_tar(d, out / f"{spec.name}.tar.gz")
            return spec.name, None
        except (TargetError, NodesError) as exc:
            return spec.name, str(exc)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.concurrency)) as pool:
        for name, err in pool.map(one, specs):
            progress.step(f"{name} {'ERROR' if err else 'ok'}")
            if err:
                failures[name] = err
    progress.done()
    for name, err in failures.items():
        sys.stderr.write(f"  {name}: {err}\n")
    print(f"rdma-preflight: {len(specs) - len(failures)} snapshot(s) in {out}/, {len(failures)} failed")
    return 3 if failures else 0


def cmd_checks(args: argparse.Namespace) -> int:
    from .checks.catalogue import catalogue, markdown_table

    cat = catalogue()
    if args.doc:
        from .checks.catalogue import render_doc

        sys.stdout.write(render_doc())
    elif args.json:
        print(json.dumps(cat, indent=1))
    elif args.markdown:
        print(markdown_table(cat))
    else:
        w = max(len(c["id"]) for c in cat)
        for c in cat:
            rem = {"apply": "fix", "plan-only": "plan"}.get(c["remediation"], "-")
            print(f"{c['id']:<{w}}  {c['scope']:<4}  {rem:<4}  {c['severity']:<4}  {c['designs']:<28}  {c['title']}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from .profile import ProfileError, load_profile

    if args.action == "validate":
        rc = 0
        for f in args.files:
            try:
                p = load_profile(f)
                print(f"{f}: ok ({p.profile.name}: {p.profile.design.fabric}/{p.profile.design.scheme}/"
                      f"{p.profile.design.addressing}, {len(p.profile.rails)} rails, "
                      f"{len(p.profile.nodes)} node override(s))")
            except ProfileError as exc:
                for line in exc.problems:
                    sys.stderr.write(line + "\n")
                rc = EXIT_USAGE
        return rc
    import yaml

    try:
        p = load_profile(args.files[0])
        prof = p.for_node(args.node, dict(kv.split("=", 1) for kv in args.label or [])) if args.node else p.profile
    except ProfileError as exc:
        for line in exc.problems:
            sys.stderr.write(line + "\n")
        return EXIT_USAGE
    except ValueError:
        return _die("--label takes KEY=VALUE")
    print(yaml.safe_dump(prof.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .remediation.journal import JournalError, rollback_file

    try:
        lines = rollback_file(args.journal, ssh_config=args.ssh_config, dry_run=args.dry_run)
    except JournalError as exc:
        return _die(str(exc))
    for line in lines:
        print(line)
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    """Delete leftover probe and bandwidth pods by label."""
    from kubernetes import client, config

    from .targets.kube import cleanup_probe_pods

    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=args.kubeconfig, client_configuration=cfg)
    except Exception as exc:
        return _die(f"cannot load kubeconfig: {exc}")
    api = client.ApiClient(cfg)
    gone = cleanup_probe_pods(api, args.namespace)
    try:
        from .bandwidth.cleanup import cleanup as bw_cleanup

        gone += list(bw_cleanup(api, args.namespace) or [])
    except ImportError:
        pass
    print(f"rdma-preflight: deleted {len(gone)} pod(s) in {args.namespace}" + (": " + ", ".join(gone) if gone else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render every report offline from a saved results.json (rdma_preflight.reports.offline)."""
    from .reports.offline import ReportError, render, summary_lines

    try:
        r = render(args.results, args.out, baseline=args.baseline, waivers=args.waivers, acceptance=args.acceptance)
    except ReportError as exc:
        return _die(str(exc))
    for line in summary_lines(args.results, args.out, r):
        print(line)
    return r.exit_code if args.exit_code and isinstance(r.exit_code, int) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rdma-preflight", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"rdma-preflight {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common_nodes(sp):
        sp.add_argument("--nodes", action="append", help="target(s); repeatable, comma lists")
        sp.add_argument("--nodes-file", help="YAML nodes file")
        sp.add_argument("--ssh-config", help="ssh_config for ssh:// targets")
        sp.add_argument("--ssh-identity-file", help="private key for ssh:// targets")
        sp.add_argument("--kubeconfig", help="kubeconfig for kube:// targets")
        sp.add_argument("--kube-namespace", default="rdma-preflight")
        sp.add_argument("--kube-image")
        sp.add_argument("--concurrency", type=int, default=16)
        sp.add_argument("--collect-timeout", type=float, help="seconds per node for collection (= --timeout collect=S)")
        sp.add_argument("--connect-timeout", type=float, help="seconds to connect to a node (= --timeout connect=S)")
        sp.add_argument("--timeout", action="append", metavar="NAME=SECONDS",
                        help="set one timeout, repeatable (README: Timeouts; python3 -m rdma_preflight.timeouts)")
        sp.add_argument("--ssh-accept-new-host-keys", action="store_true",
                        help="trust a node's host key on first use and add it to known_hosts")

    r = sub.add_parser("run", help="run the checks and write reports (default: the bundled example fleet)")
    common_nodes(r)
    r.add_argument("--profile", help="profile YAML for nodes that have none in the nodes file")
    r.add_argument("--report-dir", help="default: reports/<timestamp> (+ reports/latest)")
    r.add_argument("--remediate", choices=["off", "plan", "apply"], default="off")
    r.add_argument("--check", action="append", help="only these check ids (globs)")
    r.add_argument("--skip-check", action="append", help="not these check ids (globs)")
    r.add_argument("--waivers")
    r.add_argument("--baseline")
    r.add_argument("--journal-dir")
    r.add_argument("--yes", action="store_true", help="confirm --remediate apply on more than 5 nodes")
    r.add_argument("--acceptance", action="store_true", help="write an acceptance record per node")
    r.add_argument("--granularity", choices=["auto", "rail", "node", "fleet"], default="auto",
                   help="pytest items: per rail, per node, or per check over the fleet (default auto)")

    c = sub.add_parser("collect", help="collect one snapshot per node into a directory")
    common_nodes(c)
    c.add_argument("--out", required=True)
    c.add_argument("--tar", action="store_true", help="also pack each snapshot as NODE.tar.gz")
    c.add_argument("--mlxconfig", action="store_true", help="also read firmware config (slow)")

    k = sub.add_parser("checks", help="print the check catalogue (generated from the code)")
    k.add_argument("--json", action="store_true")
    k.add_argument("--markdown", action="store_true")
    k.add_argument("--doc", action="store_true", help="the full docs/checks.md page")

    pr = sub.add_parser("profile", help="validate or show profiles")
    pr.add_argument("action", choices=["validate", "show"])
    pr.add_argument("files", nargs="+")
    pr.add_argument("--node", help="show: the effective profile for this node name")
    pr.add_argument("--label", action="append", help="show: node label KEY=VALUE (repeatable)")

    rb = sub.add_parser("rollback", help="restore the state a remediation journal recorded")
    rb.add_argument("journal")
    rb.add_argument("--ssh-config")
    rb.add_argument("--dry-run", action="store_true")
    cl = sub.add_parser("cleanup", help="delete leftover rdma-preflight pods (probe, bandwidth) by label")
    cl.add_argument("--kubeconfig")
    cl.add_argument("--namespace", default="rdma-preflight")

    rp = sub.add_parser(
        "report", help="render every report offline from a saved results.json",
        description="Render every report offline from a saved results.json (docs/results-schema.md): "
                    "results.json, junit.xml (one testsuite per node), fleet.html, fleet.md, fleet.json, "
                    "fleet.csv, the Prometheus textfile rdma_preflight.prom and, with --acceptance, the "
                    "acceptance records -- the same renderers a run uses. A partial results.json (interrupted "
                    "run) renders and the reports say it is partial. Node facts (fleet drift, firmware in the "
                    "acceptance record) come from the run's snapshot:// targets when still readable. "
                    "Exit code 0 when written (with --exit-code: the run's), 2 if an input is unreadable "
                    "or invalid.")
    rp.add_argument("results", metavar="RESULTS.json", help="results.json of a previous run")
    rp.add_argument("--out", required=True, metavar="DIR", help="write the reports here")
    rp.add_argument("--baseline", metavar="PREVIOUS.json",
                    help="an older results.json: newly failing, fixed, still failing, nodes added and gone")
    rp.add_argument("--waivers", metavar="FILE",
                    help="re-apply this waiver file as of today (replaces the run's waivers; expired ones "
                         "fail again; summary and exit code recomputed)")
    rp.add_argument("--acceptance", action="store_true", help="also write an acceptance record per node")
    rp.add_argument("--exit-code", action="store_true",
                    help="exit with the run's exit code (0/1/3, after re-applied waivers) instead of 0")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else 0
    try:
        if args.cmd == "run":
            return cmd_run(args, extra)
        if args.cmd == "collect":
            return cmd_collect(args)
        if args.cmd == "checks":
            return cmd_checks(args)
        if args.cmd == "profile":
            return cmd_profile(args)
        if args.cmd == "rollback":
            return cmd_rollback(args)
        if args.cmd == "cleanup":
            return cmd_cleanup(args)
        if args.cmd == "report":
            return cmd_report(args)
    except KeyboardInterrupt:
        sys.stderr.write("rdma-preflight: interrupted\n")
        return 130
    return _die(f"unknown command {args.cmd}")


if __name__ == "__main__":
    sys.exit(main())
