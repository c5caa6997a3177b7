"""lsmod (full or grep'd) and /proc/modules: names, sizes, use counts, used_by."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.lsmod import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_spiderpool_nvidia_peermem():
    result = parse(fixture_text("lsmod", "spiderpool-nvidia-peermem-line"))
    (module,) = result.modules
    assert (module.name, module.size, module.use_count, module.used_by) == ("nvidia_peermem", 16384, 0, ())
    assert result.loaded("nvidia_peermem") and not result.loaded("gdrdrv")


def test_spiderpool_gdrdrv():
    module = parse(fixture_text("lsmod", "spiderpool-gdrdrv-line")).get("gdrdrv")
    assert (module.size, module.use_count) == (24576, 0)


def test_stelline_ib_core_mlx_compat():
    result = parse(fixture_text("lsmod", "stelline-ib-core-mlx-compat-mofed"))
    ib_core = result.get("ib_core")
    assert (ib_core.size, ib_core.use_count) == (524288, 8)
    assert ib_core.used_by == ("rdma_cm", "ib_ipoib", "iw_cm", "ib_umad", "rdma_ucm", "ib_uverbs", "mlx5_ib", "ib_cm")
    mlx_compat = result.get("mlx_compat")
    assert (mlx_compat.size, mlx_compat.use_count, len(mlx_compat.used_by)) == (20480, 14, 14)
    assert "mlx5_core" in mlx_compat.used_by and "mlxdevm" in mlx_compat.used_by


def test_stelline_nvidia_fs():
    result = parse(fixture_text("lsmod", "stelline-nvidia-fs-nvidia-peermem-user"))
    assert result.get("nvidia_fs").used_by == ()
    nvidia = result.get("nvidia")
    assert (nvidia.size, nvidia.use_count) == (11427840, 4)
    assert nvidia.used_by == ("nvidia_uvm", "nvidia_peermem", "nvidia_fs", "nvidia_modeset")


def test_header_and_proc_modules():
    # hand-made: lsmod header line, and /proc/modules lines with state, address, taint flags
    lsmod = parse("Module                  Size  Used by\nib_ipoib              139264  0\n")
    assert [m.name for m in lsmod.modules] == ["ib_ipoib"] and lsmod.proc_format is False
    proc = parse("ib_core 524288 8 rdma_cm,ib_ipoib, Live 0xffffffffc0a00000 (OE)\n"
                 "mlx5_core 2097152 1 mlx5_ib, Live 0xffffffffc0800000\n"
                 "nvidia_peermem 16384 0 - Live 0xffffffffc0700000 (POE)\n")
    ib_core, mlx5_core, peermem = proc.modules
    assert proc.proc_format is True
    assert (ib_core.used_by, ib_core.state, ib_core.address, ib_core.taints) == (
        ("rdma_cm", "ib_ipoib"), "Live", "0xffffffffc0a00000", "OE")
    assert (mlx5_core.used_by, mlx5_core.taints) == (("mlx5_ib",), None)
    assert (peermem.used_by, peermem.taints) == ((), "POE")


def test_empty_grep_means_not_loaded():
    assert parse("").modules == ()


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("ib_core\n", 1),
    ("ib_core 524288\n", 1),
    ("ib_core big 8\n", 1),
    ("ib_core 524288 8 rdma_cm\nib_core 524288 8 a b c d e\n", 2),
    ("ib/core 524288 8\n", 1),
    ("\nib_core 524288 8 rdma cm,x\n", 2),
    ("ib_core 524288 8 a, Live nowhere\n", 1),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("lsmod", line)
