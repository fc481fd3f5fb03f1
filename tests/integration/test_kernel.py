"""The default guest kernel that `make run`/`make check` prepare."""
import os
import subprocess

from conftest import ROOT


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


def test_prepare_is_idempotent_and_fast(kernel_dir, tmp_path):
    data = os.path.dirname(os.path.dirname(os.path.realpath(kernel_dir)))
    vmlinux = os.path.join(kernel_dir, "vmlinux")
    before = os.stat(vmlinux).st_mtime_ns
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "prepare-kernel.sh"), data],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert os.stat(vmlinux).st_mtime_ns == before
    assert not [n for n in os.listdir(os.path.join(data, "kernels")) if n.startswith(".")]


def test_extract_vmlinux_rejects_non_kernel(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(4096))
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "extract-vmlinux.sh"), str(junk)],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert "no ELF kernel found" in p.stderr
