"""The driver script run for real by ``sh`` on this machine, with the perftest stand-in
(tests/bandwidth/perftest_standin.py, a labelled double) on loopback TCP."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from rdma_preflight.bandwidth import driver, names
from rdma_preflight.bandwidth.discover import parse_view
from rdma_preflight.bandwidth.failures import JobOutput, classify
from tests.bandwidth.doubles import install_standin


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """``<tmp>/bin/ib_write_bw``: the perftest stand-in (a double) with its plan."""
    return install_standin(tmp_path / "bin", {"default": 150.25, "sleep": 0.3, "log": str(tmp_path / "log.jsonl")})


def run(mode: str, workdir: Path, wait_s: int, jobs: list[str], nonce: str = "n0nce") -> driver.Frames:
    res = subprocess.run(driver.command(mode, str(workdir), nonce, wait_s, jobs), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return driver.parse_frames(res.stdout, nonce)


def jobs_for(exe: Path, ports: list[int], server_ip: str | None, role: str) -> list[str]:
    out = []
    for k, port in enumerate(ports, start=1):
        args = driver.PerftestArgs(str(exe), f"mlx5_{k - 1}", 1, 3, port, 2, 65536, 4)
        out.append(driver.job(f"{role}-rail{k}", port, args.argv(server_ip, 20)))
    return out


def free_ports(n: int) -> list[int]:
    base = random.randrange(20000, 40000, 10)
    return [base + i for i in range(n)]


def test_serve_run_collect_with_rails_in_parallel(standin: Path, tmp_path: Path) -> None:
    ports = free_ports(2)
    work = tmp_path / "round1"
    served = run("serve", work, 10, jobs_for(standin, ports, None, "s"))
    assert served.status == {"s-rail1": "ready", "s-rail2": "ready"}
    ran = run("run", work, 0, jobs_for(standin, ports, "127.0.0.1", "c"))
    collected = run("collect", work, 10, jobs_for(standin, ports, None, "s"))
    assert ran.rc == {"c-rail1": 0, "c-rail2": 0} and collected.rc == {"s-rail1": 0, "s-rail2": 0}
    for rail in ("rail1", "rail2"):
        got = classify(JobOutput(ran.output[f"c-{rail}"], 0), JobOutput(collected.output[f"s-{rail}"], 0), "ready")
        assert (got.gbps, got.failure, got.header["device"]) == (150.25, None, f"mlx5_{int(rail[-1]) - 1}")
    assert not work.exists()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    clients = sorted((e for e in log if e["role"] == "client"), key=lambda e: e["port"])
    assert [c["port"] for c in clients] == ports
    assert clients[0]["start"] < clients[1]["end"] and clients[1]["start"] < clients[0]["end"]   # overlapped


def test_collect_stops_a_server_nobody_connected_to(standin: Path, tmp_path: Path) -> None:
    ports = free_ports(1)
    work = tmp_path / "round2"
    assert run("serve", work, 10, jobs_for(standin, ports, None, "s")).status == {"s-rail1": "ready"}
    pid = int((work / "s-rail1.pid").read_text())
    collected = run("collect", work, 0, jobs_for(standin, ports, None, "s"))
    assert collected.rc["s-rail1"] in (124, 143)
    assert "Waiting for client to connect" in collected.output["s-rail1"]
    assert not os.path.exists(f"/proc/{pid}")


def test_a_server_that_cannot_start_is_dead_at_once(tmp_path: Path) -> None:
    job = driver.job("s-rail1", 18515, driver.PerftestArgs(str(tmp_path / "nope"), "mlx5_0", 1, 3, 18515, 2,
                                                           65536, 4).argv(None, 20))
    served = run("serve", tmp_path / "round3", 10, [job])
    assert served.status == {"s-rail1": "dead"}
    assert served.rc == {"s-rail1": 127}
    assert "No such file or directory" in served.output["s-rail1"]
    run("collect", tmp_path / "round3", 0, [job])


def test_a_client_without_a_server_reports_the_side_channel(standin: Path, tmp_path: Path) -> None:
    ran = run("run", tmp_path / "round4", 0, jobs_for(standin, free_ports(1), "127.0.0.1", "c"))
    assert ran.rc == {"c-rail1": 1}
    assert ran.output["c-rail1"].startswith("Couldn't connect to 127.0.0.1:")


@pytest.mark.parametrize("bad", ["mlx5_0; reboot", "$(id)", "a b", "`x`", "x|y", "*", "a\nb", ""])
def test_job_words_refuse_shell_syntax(bad: str) -> None:
    with pytest.raises(names.BadName):
        driver.job("s-rail1", 18515, ["timeout", "5", "ib_write_bw", "-d", bad])


def test_the_script_text_never_carries_values() -> None:
    argv = driver.command("serve", "/tmp/rpf-bw-ab12cd34-r1", "n0nce", 15, ["s-rail1 18515 timeout 5 x"])
    assert argv[:4] == ["sh", "-c", driver.DRIVER, "rpf-bw"]
    assert argv[4:] == ["serve", "/tmp/rpf-bw-ab12cd34-r1", "n0nce", "15", "s-rail1 18515 timeout 5 x"]


def test_frames_with_another_nonce_are_output_not_control() -> None:
    text = "@@rpf other ready s-rail1\n@@rpf n0nce begin c-rail1\n@@rpf other end c-rail1 0\nx\n@@rpf n0nce end c-rail1 3\n"
    frames = driver.parse_frames(text, "n0nce")
    assert frames.status == {}
    assert frames.output == {"c-rail1": "@@rpf other end c-rail1 0\nx\n"}
    assert frames.rc == {"c-rail1": 3}


def test_discover_runs_here_and_finds_no_rdma(tmp_path: Path) -> None:
    res = subprocess.run(driver.discover_command("n0nce", str(tmp_path / "ib_write_bw")), capture_output=True,
                         text=True, timeout=60)
    frames = driver.parse_frames(res.stdout, "n0nce")
    assert set(frames.sections) == {"ip", "rdma", "sysfs", "perftest", "end"}
    view = parse_view(frames.sections)
    assert str(view.addrs["lo"][0]) == "127.0.0.1/8"
    assert view.ports == {} and view.perftest_missing and view.perftest_version is None
