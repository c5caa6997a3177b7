"""The terse terminal summary: one line per node, then what to look at."""

from __future__ import annotations

from collections import Counter

from ..checks.result import terminal_safe


def summary_lines(state) -> list[str]:
    lines = ["", "rdma-preflight summary"
             + (" (bundled example fleet; use --nodes local for this machine)" if state.used_example else "")]
    by_node = state.store.by_node()
    width = max([len(n) for n in state.nodes] + [4])
    for name, st in state.nodes.items():
        c = Counter(r.outcome for r in by_node.get(name, []))
        prof = st.profile.name if st.profile else "?"
        if st.error:
            lines.append(terminal_safe(f"  {name:<{width}}  ERROR  {st.error}"))   # issue 9: host text
            continue
        verdict = "FAIL" if c["fail"] else "WARN" if c["warn"] else "PASS"
        parts = [f"{c[o]} {o}" for o in ("pass", "fail", "warn", "waived", "remediated", "skip", "error") if c[o]]
        lines.append(terminal_safe(f"  {name:<{width}}  {verdict:<5}  {', '.join(parts) or 'no checks run'}  [{prof}]"))
    fails = [r for r in state.store.records if r.outcome == "fail"]
    if fails:
        top = Counter(r.check for r in fails).most_common(5)
        lines.append("  failing checks: " + ", ".join(f"{c} x{n}" for c, n in top))
    lines.extend(terminal_safe("  " + n) for n in state.notes)
    return lines
