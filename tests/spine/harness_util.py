"""Run the real harness (pytest checks/ in a subprocess) and read its reports back."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def results(self) -> dict:
        return json.loads((self.report_dir / "results.json").read_text())

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.report_dir / "junit.xml").getroot()

    def records(self, check: str | None = None, node: str | None = None) -> list[dict]:
        return [r for r in self.results["results"]
                if (check is None or r["check"] == check) and (node is None or r["node"] == node)]


def run_checks(report_dir: Path, *args: str, timeout: float = 300) -> Run:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "checks"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
           "-q", "--report-dir", str(report_dir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, report_dir)


def two_rail_profile(tmp: Path, rails: int = 2, extra: str = "") -> Path:
    """A RoCE shared-subnet profile whose rails are found by netdev name (hand-made test profile)."""
    lines = ["name: test-two-rails", f"extends: {ROOT / 'profiles' / 'roce-sriov-shared-subnet.yaml'}",
             f"expected_rails: {rails}", "rails:"]
    for i in range(1, 9):
        if i <= rails:
            lines.append(f"  rail{i}: {{nic: {{netdev: ens{i}f0np0}}}}")
    text = "\n".join(lines) + "\n" + extra
    p = tmp / "profile.yaml"
    p.write_text(text)
    # rails beyond `rails` are dropped by writing a profile without them
    import yaml
    from rdma_preflight.profile import load_profile

    loaded = load_profile(p)
    if rails < 8:
        data = loaded.profile.model_dump(mode="json")
        data["rails"] = {k: v for k, v in data["rails"].items() if int(k[4:]) <= rails}
        data.pop("nodes", None)
        p.write_text(yaml.safe_dump(data, sort_keys=False) + extra)
    return p
