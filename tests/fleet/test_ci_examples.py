"""examples/ci: the pipeline files parse, and their shell steps behave: the summary is published,
the baseline is used when there is one, and the job's exit code follows the suite's (0/1/2/3)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.fleet.synth import ROOT, write_fleet

CI = ROOT / "examples" / "ci"
STUB = """#!/bin/sh
# stand-in for rdma-preflight: records its arguments, writes reports, exits $STUB_RC
echo "$@" >> "$STUB_LOG"
while [ $# -gt 0 ]; do [ "$1" = --report-dir ] && dir="$2"; shift; done
mkdir -p "$dir"
printf '## rdma-preflight: stub summary rc=%s\\n' "$STUB_RC" > "$dir/fleet.md"
echo '<testsuites/>' > "$dir/junit.xml"
echo '{"schema": "rdma-preflight/results"}' > "$dir/results.json"
exit "$STUB_RC"
"""


def gha_steps() -> dict[str, dict]:
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    return {s.get("name", s.get("uses")): s for s in wf["jobs"]["preflight"]["steps"]}


@pytest.fixture
def stub(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "rdma-preflight").write_text(STUB)
    (bindir / "rdma-preflight").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
               STUB_LOG=str(tmp_path / "stub.log"), REPORT_DIR="reports/ci", RPF_ARGS="")
    return env


def run_gha_step(step: dict, cwd: Path, env: dict, outputs: dict) -> subprocess.CompletedProcess:
    script = step["run"]
    for k, v in outputs.items():
        script = script.replace("${{ steps.run.outputs.%s }}" % k, v)
    assert "${{" not in script, script
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_github_workflow_structure():
    wf = yaml.safe_load((CI / "github-actions.yml").read_text())
    on = wf[True]                                           # YAML 1.1 reads the key `on` as True
    assert "schedule" in on and "workflow_dispatch" in on
    steps = gha_steps()
    uses = {s["uses"].split("@")[0] for s in steps.values() if "uses" in s}
    assert {"actions/checkout", "actions/setup-python", "mikepenz/action-junit-report", "actions/upload-artifact",
            "actions/cache/restore", "actions/cache/save"} <= uses
    assert steps["Publish JUnit"]["with"]["report_paths"] == "reports/ci/junit.xml"
    for name in ("Job summary", "Publish JUnit", "Upload reports", "Fail on fail or error"):
        assert steps[name]["if"].startswith("always()"), name
    assert "GITHUB_STEP_SUMMARY" in steps["Job summary"]["run"]


@pytest.mark.parametrize("rc", [0, 1, 2, 3])
def test_github_steps_publish_summary_and_fail_with_the_suite(tmp_path, stub, rc):
    steps = gha_steps()
    out, summary = tmp_path / "gh_output", tmp_path / "summary.md"
    env = dict(stub, STUB_RC=str(rc), GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary))
    work = tmp_path / "work"
    (work / "baseline").mkdir(parents=True)
    if rc == 1:
        (work / "baseline" / "results.json").write_text("{}")
    r = run_gha_step(steps["Run the checks"], work, env, {})
    assert r.returncode == 0, r.stderr                      # the run step never fails the job itself
    outputs = dict(line.split("=", 1) for line in out.read_text().split())
    assert outputs == {"rc": str(rc)}
    args = Path(env["STUB_LOG"]).read_text().split()
    assert args[:3] == ["run", "--report-dir", "reports/ci"]
    assert ("--baseline" in args) == (rc == 1) and (args[-1] == "baseline/results.json") == (rc == 1)
    assert run_gha_step(steps["Job summary"], work, env, outputs).returncode == 0
    assert summary.read_text() == f"## rdma-preflight: stub summary rc={rc}\n"
    assert run_gha_step(steps["Keep this run as the next baseline"], work, env, outputs).returncode == 0
    assert (work / "baseline" / "results.json").read_text() == '{"schema": "rdma-preflight/results"}\n'
    final = run_gha_step(steps["Fail on fail or error"], work, env, outputs)
    assert final.returncode == rc
    if rc:
        assert "::error::" in final.stdout


@pytest.mark.slow
def test_github_step_with_the_real_suite(tmp_path):
    """The run and summary steps with the installed CLI over 2 SYNTHETIC snapshot nodes."""
    nodes = write_fleet(tmp_path / "fleet", 2)
    steps = gha_steps()
    out, summary = tmp_path / "gh_output", tmp_path / "summary.md"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", REPORT_DIR="reports/ci",
               RPF_ARGS=f"--nodes-file {nodes} --check net.rail_count", GITHUB_OUTPUT=str(out),
               GITHUB_STEP_SUMMARY=str(summary))
    work = tmp_path / "work"
    work.mkdir()
    assert run_gha_step(steps["Run the checks"], work, env, {}).returncode == 0
    outputs = dict(line.split("=", 1) for line in out.read_text().split())
    assert outputs == {"rc": "0"}
    run_gha_step(steps["Job summary"], work, env, outputs)
    assert summary.read_text().startswith("## rdma-preflight: PASS — 0 of 2 nodes failing or unreachable\n")
    assert (work / "reports" / "ci" / "junit.xml").exists()
    assert run_gha_step(steps["Fail on fail or error"], work, env, outputs).returncode == 0


class _Artifacts(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).seen.append((self.path, self.headers.get("JOB-TOKEN")))
        body = b'{"schema": "rdma-preflight/results", "previous": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def gitlab_script() -> str:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["rdma-preflight"]
    assert job["artifacts"]["reports"]["junit"] == "reports/ci/junit.xml" and job["artifacts"]["when"] == "always"
    assert job["image"] == "python:3.11-slim"
    return "\n".join(job["script"])


@pytest.mark.parametrize("rc,with_baseline", [(0, False), (1, True), (2, False), (3, True)])
def test_gitlab_script(tmp_path, stub, rc, with_baseline):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Artifacts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Artifacts.seen = []
    try:
        port = server.server_address[1] if with_baseline else 9      # port 9: nothing listens
        env = dict(stub, STUB_RC=str(rc), CI_API_V4_URL=f"http://127.0.0.1:{port}/api/v4", CI_PROJECT_ID="42",
                   CI_COMMIT_REF_NAME="main", CI_JOB_NAME="rdma-preflight", CI_JOB_TOKEN="tok123")
        work = tmp_path / "work"
        work.mkdir()
        r = subprocess.run(["sh", "-e", "-c", gitlab_script()], cwd=work, env=env, capture_output=True, text=True,
                           timeout=120)
    finally:
        server.shutdown()
    assert r.returncode == rc, r.stdout + r.stderr
    assert f"## rdma-preflight: stub summary rc={rc}" in r.stdout
    args = Path(env["STUB_LOG"]).read_text().split()
    if with_baseline:
        assert _Artifacts.seen == [("/api/v4/projects/42/jobs/artifacts/main/raw/reports/ci/results.json"
                                    "?job=rdma-preflight", "tok123")]
        assert args[-2:] == ["--baseline", "baseline/results.json"]
        assert (work / "baseline" / "results.json").read_text().endswith('"previous": true}')
    else:
        assert "--baseline" not in args and "no baseline" in r.stdout


def test_dockerfile():
    """No Docker here: the Dockerfile's instructions are checked as text (base, install, entrypoint)."""
    lines, buf = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        buf += raw.rstrip("\\").strip() + " "
        if not raw.endswith("\\"):
            lines.append(buf.strip())
            buf = ""
    instr = [(ln.split(" ", 1)[0], ln.split(" ", 1)[1]) for ln in lines]
    assert instr[0] == ("FROM", "python:3.11-slim")
    runs = [arg for op, arg in instr if op == "RUN"]
    assert any(r.startswith("pip install . ") for r in runs) and any("command -v nsenter" in r for r in runs)
    for op, arg in instr:
        if op == "COPY" and arg != ". .":
            for src in arg.split()[:-1]:
                assert list(ROOT.glob(src)) or src.endswith("*"), src
    assert ("ENTRYPOINT", '["rdma-preflight"]') in instr
    assert ("ENV", "PYTHONPATH=/opt/rdma-preflight") in instr
