"""The default guest kernel that `make run`/`make check` prepare."""
import os
import shutil
import subprocess

import pytest


def debian_kernel_package():
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-") and line.endswith("-amd64"):
            return line.split()[1]
    return None


def test_default_kernel_is_current_debian_kernel(kernel_dir):
    pkg = debian_kernel_package()
    kver = open(os.path.join(kernel_dir, "version")).read().strip()
    if pkg:
        assert pkg == f"linux-image-{kver}"
    assert os.path.realpath(kernel_dir).endswith(kver)


def test_vmlinux_is_uncompressed_elf_for_pvh(kernel_dir):
    with open(os.path.join(kernel_dir, "vmlinux"), "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF"
    assert head[4] == 2  # 64-bit
    # PVH direct boot needs the Xen ELF note that carries the PVH entry point.
    notes = subprocess.run(["readelf", "-n", os.path.join(kernel_dir, "vmlinux")],
                           capture_output=True, text=True).stdout
    assert "Xen" in notes


def test_modules_resolved_with_depmod(kernel_dir):
    kver = open(os.path.join(kernel_dir, "version")).read().strip()
    mdir = os.path.join(kernel_dir, "lib", "modules", kver)
    dep = open(os.path.join(mdir, "modules.dep")).read()
    for mod in ("fuse.ko", "overlay.ko", "virtio_console.ko", "virtio-rng.ko", "virtio_mmio.ko"):
        assert f"/{mod}" in dep, mod


def nestbox(*args, env=None, timeout=120):
    from conftest import NESTBOX_BIN
    return subprocess.run([NESTBOX_BIN, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_125(p):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_prepare_is_idempotent_and_fast(kernel_dir):
    kdir = os.path.dirname(os.path.realpath(kernel_dir))
    vmlinux = os.path.join(kernel_dir, "vmlinux")
    before = os.stat(vmlinux).st_mtime_ns
    p = nestbox("kernel", "prepare", env=dict(os.environ, NESTBOX_KERNELS=kdir), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == os.path.basename(os.path.realpath(kernel_dir))
    assert os.stat(vmlinux).st_mtime_ns == before
    assert not [n for n in os.listdir(kdir) if n.startswith(".") and n != ".lock"]


def test_fresh_data_dir_names_the_command_that_fixes_it(nb, tmp_path):
    """A new NESTBOX_HOME has no kernel: run says so and names `nestbox kernel
    prepare`, which fetches Debian's kernel (apt; a few seconds), and then run
    boots it. list and remove manage what is there."""
    if not debian_kernel_package():
        pytest.skip("no apt package lists: linux-image-amd64 cannot be resolved")
    del nb.env["NESTBOX_KERNELS"]
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    kdir = nb.home / "kernels"
    msg = one_line_125(nb.run("run", "--rm", "--rootfs", root, "--", "/bin/busybox", "true"))
    assert f"no default kernel in {kdir}" in msg and "`nestbox kernel prepare`" in msg, msg
    p = nb.run("kernel", "prepare", timeout=600)
    assert p.returncode == 0, p.stderr
    ver = p.stdout.strip()
    assert debian_kernel_package() == f"linux-image-{ver}"
    assert os.readlink(kdir / "default") == ver
    assert not [n for n in os.listdir(kdir) if n.startswith(".") and n != ".lock"]
    p = nb.run("run", "--rm", "--rootfs", root, "--", "/bin/busybox", "uname", "-r",
               timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ver
    lines = nb.run("kernel", "list", check=True).stdout.splitlines()
    assert lines[0].split() == ["NAME", "DEFAULT", "BOOT"]
    assert lines[1].split()[:2] == [ver, "yes"] and "PVH" in lines[1]
    assert "remove it by that name" in one_line_125(nb.run("kernel", "remove", "default"))
    p = nb.run("kernel", "remove", ver)
    assert p.returncode == 0 and "was the default" in p.stderr, p.stderr
    assert sorted(os.listdir(kdir)) == [".lock"]
    assert nb.run("kernel", "list", check=True).stdout.splitlines()[1:] == []
    assert "not prepared" in one_line_125(nb.run("kernel", "remove", ver))


def test_prepare_refuses_what_is_no_kernel_package(nb, tmp_path):
    del nb.env["NESTBOX_KERNELS"]
    junk = tmp_path / "junk.deb"
    junk.write_bytes(os.urandom(4096))
    msg = one_line_125(nb.run("kernel", "prepare", junk))
    assert "junk.deb" in msg and "dpkg-deb" in msg, msg
    msg = one_line_125(nb.run("kernel", "prepare", "busybox-static"))
    assert "not a versioned Debian kernel package" in msg, msg
    for bad in ("../x", ".hidden", "a/b"):
        msg = one_line_125(nb.run("kernel", "remove", bad))
        assert "not a kernel name" in msg, msg
    assert not [n for n in os.listdir(nb.home / "kernels") if n != ".lock"]
