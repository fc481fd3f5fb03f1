"""nestbox inside nestbox: the nested rootfs (make-nested-rootfs.sh) holds
nestbox, QEMU and a kernel; a VM booted from it runs nestbox again.

A depth-2 boot is TCG inside TCG: about 70 s on an idle machine here, where a
depth-1 boot takes 3 s. So there is exactly one depth-2 test and it checks
everything a second level needs at once; the rest stay at depth 1.
"""
import json
import os
import subprocess

import pytest

from conftest import NESTBOX_BIN, ROOT

SCRIPT = os.path.join(ROOT, "tests", "integration", "make-nested-rootfs.sh")


@pytest.fixture(scope="module")
def nested_rootfs(kernel_dir):
    """The nested rootfs, kept next to the nestbox binary it was built from."""
    out = os.path.join(os.path.dirname(os.path.abspath(NESTBOX_BIN)), "nested-rootfs")
    p = subprocess.run([SCRIPT, out, NESTBOX_BIN, kernel_dir], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out


def test_doctor_inside_a_nestbox_guest(nb, nested_rootfs):
    """A depth-1 guest knows its depth and takes the TSC its parent measured."""
    p = nb.run("run", "--rm", "--rootfs", nested_rootfs, "--", "nestbox", "doctor", "--json",
               check=True)
    d = json.loads(p.stdout)
    assert d["depth"] == 1
    assert d["hypervisor"]["platform"] == "nestbox guest"
    assert d["tsc"]["source"] == "kernel command line"
    assert d["tsc"]["khz"] > 0
    assert d["qemu"]["found"] is True
    assert d["decision"]["accel"] == "tcg" or d["kvm"]["probe"] == "ran"


def test_transport_falls_back_to_virtio_serial(nb, nested_rootfs):
    """No /dev/vhost-vsock here: virtio-serial, and asking for vsock anyway
    falls back to it instead of failing."""
    p = nb.run("--debug", "run", "--rm", "--rootfs", nested_rootfs, "--", "echo", "ok",
               check=True)
    assert p.stdout == "ok\n"
    assert "nestbox: transport: virtio-serial (no /dev/vhost-vsock that opens" in p.stderr
    if os.path.exists("/dev/vhost-vsock"):
        pytest.skip("this host has /dev/vhost-vsock")
    nb.env["NESTBOX_TRANSPORT"] = "vsock"
    p = nb.run("--debug", "run", "--rm", "--rootfs", nested_rootfs, "--", "echo", "ok",
               check=True)
    assert p.stdout == "ok\n"
    assert "transport: vsock unusable (open /dev/vhost-vsock: No such file" in p.stderr
    assert "transport: virtio-serial (vhost-vsock could not be set up)" in p.stderr


@pytest.mark.timeout(1200)
def test_nestbox_in_nestbox(nb, nested_rootfs):
    """Level 2: the inner command's output, its exit code through both
    levels, the depth the inner VM was given, and the vhost-vsock transport
    (level 1 loads vhost_vsock, so /dev/vhost-vsock opens there) carrying
    control, the root and a volume."""
    inner = ("cat /proc/cmdline; head -1 /hostetc/passwd; echo level-2-says-hello; "
             "echo to-stderr >&2; exit 42")
    outer = ("modprobe vhost_vsock && nestbox --debug run --rm -v /etc:/hostetc:ro --rootfs / "
             f"-- sh -c '{inner}'")
    p = nb.run("run", "--rm", "--memory", "1G", "--rootfs", nested_rootfs, "--", "sh", "-c",
               outer, timeout=1100)
    assert p.returncode == 42, p.stderr
    lines = p.stdout.splitlines()
    assert "nestbox.depth=2" in lines[0].split()
    assert lines[1:] == ["root:x:0:0:root:/root:/bin/sh", "level-2-says-hello"]
    err = p.stderr.splitlines()
    assert "to-stderr" in err
    assert any(line.startswith("nestbox: transport: vsock (guest cid ") for line in err), \
        p.stderr
    # control, the root and the volume each came over their own connection
    assert sum("connected (nestfs)" in line for line in err) == 2, p.stderr
    assert sum("connected (control)" in line for line in err) == 1, p.stderr
