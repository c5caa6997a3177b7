"""Big runs render junit.xml in a forked child while the fleet reports are written (two
cores); the file must be byte-identical to the in-process one, and a failing child must not
lose it. The results document is SYNTHETIC (tests/fleet/conftest.py, hostile text included)."""

from __future__ import annotations

import os

from rdma_preflight.reports import junit, writer


def test_forked_junit_is_identical_to_the_in_process_one(doc, tmp_path, monkeypatch):
    plain, forked = tmp_path / "plain", tmp_path / "forked"
    writer.render_reports(doc, plain)
    monkeypatch.setattr(writer, "FORK_JUNIT_ABOVE", 0)
    seen = []
    start = writer._start_junit_child
    monkeypatch.setattr(writer, "_start_junit_child", lambda d, p: seen.append(start(d, p)) or seen[-1])
    writer.render_reports(doc, forked)
    assert seen and isinstance(seen[0], int)                  # the child path was taken
    assert (forked / "junit.xml").read_bytes() == (plain / "junit.xml").read_bytes()
    assert (forked / "fleet.json").read_bytes() == (plain / "fleet.json").read_bytes()


def test_a_failing_child_is_covered_by_the_parent(doc, tmp_path, monkeypatch):
    parent = os.getpid()
    real = junit.write

    def write(d, path):
        if os.getpid() != parent:
            raise RuntimeError("child broke")
        return real(d, path)
    monkeypatch.setattr(junit, "write", write)
    monkeypatch.setattr(writer, "FORK_JUNIT_ABOVE", 0)
    paths = writer.render_reports(doc, tmp_path / "out")
    assert (tmp_path / "out" / "junit.xml") in paths
    assert b"<testsuite" in (tmp_path / "out" / "junit.xml").read_bytes()


def test_no_fork_when_threads_are_running(doc, monkeypatch):
    import threading

    monkeypatch.setattr(writer, "FORK_JUNIT_ABOVE", 0)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert writer._start_junit_child(doc, "/nonexistent/junit.xml") is None
    finally:
        stop.set()
        t.join()
