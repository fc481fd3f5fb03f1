"""nestbox run --kernel image: boot the kernel the image itself ships.

The fixture image carries the default kernel's bzImage at the bootc place,
/usr/lib/modules/<version>/vmlinuz, and only the modules nestbox-init needs,
compressed as .ko.xz and .ko.zst (as distributions ship them) with a
modules.dep naming those files. Each boot test empties NESTBOX_KERNELS, so no
default kernel exists: a run that booted anything but the image's kernel and
modules fails. Under TCG a bzImage boot is a few seconds, so boots are few."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ["sh", "cat", "cut", "uname", "echo", "true"]
# What nestbox-init loads (src/boot/boot.c all_modules), by module name.
NEEDED = ["virtio_mmio", "virtio_console", "fuse", "overlay", "virtio_rng", "virtio_net"]


def mod_name(path):
    return os.path.basename(path).split(".ko")[0].replace("-", "_")


def busybox_root(root):
    os.makedirs(root / "bin")
    os.chmod(root, 0o755)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for a in APPLETS:
        os.symlink("busybox", root / "bin" / a)


def ship_kernel(root, kernel_dir, version=None):
    """Put the default kernel's bzImage and the needed modules (compressed,
    alternately xz and zstd) under ROOT/usr/lib/modules/VERSION."""
    kver = open(os.path.join(kernel_dir, "version")).read().strip()
    src = os.path.join(kernel_dir, "lib", "modules", kver)
    deps = {}
    with open(os.path.join(src, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    by_name = {mod_name(m): m for m in deps}
    need = set()
    for n in NEEDED:
        if n in by_name:
            need.add(by_name[n])
            need.update(deps[by_name[n]])
    dst = root / "usr" / "lib" / "modules" / (version or kver)
    dst.mkdir(parents=True)
    shutil.copy(os.path.join(kernel_dir, "vmlinuz"), dst / "vmlinuz")
    named = {}
    for i, m in enumerate(sorted(need)):
        (dst / m).parent.mkdir(parents=True, exist_ok=True)
        tool, ext = (["xz", "-q", "-c"], ".xz") if i % 2 == 0 else (["zstd", "-q", "-c"], ".zst")
        with open(os.path.join(src, m), "rb") as fin, open(str(dst / m) + ext, "wb") as fout:
            subprocess.run(tool, stdin=fin, stdout=fout, check=True)
        named[m] = m + ext
    with open(dst / "modules.dep", "w") as f:
        for m in sorted(need):
            f.write(f"{named[m]}: {' '.join(named[d] for d in deps[m])}\n")
    shutil.copy(os.path.join(src, "modules.builtin"), dst / "modules.builtin")
    return kver, sorted(named.values())


@pytest.fixture(scope="session")
def kimage(tmp_path_factory, kernel_dir):
    """(root, version, module files): a busybox image that ships a kernel."""
    if not os.path.exists(os.path.join(kernel_dir, "vmlinuz")):
        pytest.fail(f"no vmlinuz in {kernel_dir}: run `make kernel`")
    root = tmp_path_factory.mktemp("kimage")
    busybox_root(root)
    kver, mods = ship_kernel(root, kernel_dir)
    return root, kver, mods


def no_default_kernel(nb):
    empty = nb.tmp / "no-kernels"
    empty.mkdir()
    nb.env["NESTBOX_KERNELS"] = str(empty)


def one_line_error(p):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_image_kernel_boots_with_its_compressed_modules(nb, kimage):
    root, kver, mods = kimage
    assert any(m.endswith(".ko.xz") for m in mods) and any(m.endswith(".ko.zst") for m in mods)
    no_default_kernel(nb)
    # Without --kernel image there is nothing to boot...
    msg = one_line_error(nb.run("run", "--rm", "--rootfs", root, "--", "true"))
    assert "no default kernel" in msg and "nestbox kernel prepare" in msg
    # ...with it, the image's own kernel and modules.
    p = nb.run("--debug", "run", "--rm", "--kernel", "image", "--rootfs", root, "--",
               "sh", "-c", "uname -r; cat /proc/cmdline; cut -d' ' -f1 /proc/modules",
               timeout=180)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0] == kver
    cmdline = out[1]
    assert "nestbox.depth=" in cmdline and "console=ttyS0" in cmdline
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert "tsc_early_khz=" in cmdline  # TCG: bzImage boots get it too
    loaded = set(out[2:])
    # the ones that were .ko.xz and .ko.zst in the image, decompressed on the host
    for m in ("fuse", "overlay", "virtio_console", "virtio_mmio", "virtio_net"):
        assert m in loaded, (m, loaded)
    kernel_line = [line for line in p.stderr.splitlines() if "kernel image" in line]
    assert kernel_line and f"{root}/usr/lib/modules/{kver}/vmlinuz" in kernel_line[0]
    assert "bzImage" in kernel_line[0]
    # booted through PVH: its vmlinux extracted on the host into the cache
    assert_pvh_extracted(nb, p.stderr, f"{root}/usr/lib/modules/{kver}/vmlinuz", kver)


def assert_pvh_extracted(nb, stderr, bzimage, kver):
    pvh = [line for line in stderr.splitlines() if "-> PVH vmlinux" in line]
    assert len(pvh) == 1, stderr
    assert f"bzImage {bzimage} -> PVH vmlinux {nb.home}/cache/kernels/{kver}-" in pvh[0]
    assert pvh[0].endswith("(extracted)"), pvh[0]
    assert "kernel: booting bzImage" not in stderr


def test_kernel_path_bzimage_boots_through_pvh(nb, kimage, kernel_dir):
    """--kernel PATH to a bzImage: its vmlinux extracted once, then from the cache."""
    root, kver, _ = kimage
    bz = os.path.realpath(os.path.join(kernel_dir, "vmlinuz"))
    for want in ("extracted", "cached"):
        p = nb.run("--debug", "run", "--rm", "--kernel", bz, "--rootfs", root, "--",
                   "uname", "-r", timeout=180)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == kver
        pvh = [line for line in p.stderr.splitlines() if "-> PVH vmlinux" in line]
        assert len(pvh) == 1 and f"bzImage {bz} -> PVH vmlinux {nb.home}/cache/kernels/" in pvh[0]
        assert pvh[0].endswith(f"({want})"), pvh[0]


def oci_layout(src, dst):
    """An OCI image layout (one uncompressed layer, tag 'latest') of the tree SRC."""
    blobs = dst / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        t.add(src, arcname=".")
    layer = raw.getvalue()
    cfg = {"architecture": "amd64", "os": "linux",
           "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
           "rootfs": {"type": "layers",
                      "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": dict(blob(json.dumps(cfg).encode()),
                          mediaType="application/vnd.oci.image.config.v1+json"),
           "layers": [dict(blob(layer), mediaType="application/vnd.oci.image.layer.v1.tar")]}
    m = blob(json.dumps(man).encode())
    (dst / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dst / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [dict(
        m, mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": "latest"})]}))


def test_stored_image_kernel(nb, kimage):
    """The image store's rootfs: the kernel is found inside the unpacked image."""
    root, kver, _ = kimage
    oci_layout(root, nb.tmp / "oci")
    no_default_kernel(nb)
    p = nb.run("--debug", "run", "--rm", "--kernel", "image", f"oci:{nb.tmp / 'oci'}", "--",
               "uname", "-r", timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == kver
    kernel_line = [line for line in p.stderr.splitlines() if "kernel image" in line]
    assert kernel_line and str(nb.home) in kernel_line[0], kernel_line
    assert any("-> PVH vmlinux" in line for line in p.stderr.splitlines()), p.stderr


def test_image_without_kernel(nb, tmp_path):
    root = tmp_path / "nokernel"
    busybox_root(root)
    (root / "usr" / "lib" / "modules" / "6.1.0-1-amd64").mkdir(parents=True)
    msg = one_line_error(nb.run("run", "--rm", "--kernel", "image", "--rootfs", root,
                                "--", "true"))
    assert str(root) in msg and "no kernel" in msg


def test_image_with_two_kernels(nb, kimage, tmp_path):
    root, kver, _ = kimage
    two = tmp_path / "two"
    busybox_root(two)
    mods = two / "usr" / "lib" / "modules"
    mods.mkdir(parents=True)
    for v in (kver, "9.9.9-other"):
        (mods / v).mkdir()
        shutil.copy(root / "usr" / "lib" / "modules" / kver / "vmlinuz", mods / v / "vmlinuz")
    msg = one_line_error(nb.run("run", "--rm", "--kernel", "image", "--rootfs", two,
                                "--", "true"))
    assert str(two) in msg and kver in msg and "9.9.9-other" in msg and "exactly one" in msg


def test_image_kernel_in_another_versions_dir(nb, kernel_dir, tmp_path):
    """Its modules would never load (uname -r names another directory): refused."""
    root = tmp_path / "renamed"
    busybox_root(root)
    kver, _ = ship_kernel(root, kernel_dir, version="6.0.0-renamed")
    msg = one_line_error(nb.run("run", "--rm", "--kernel", "image", "--rootfs", root,
                                "--", "true"))
    assert f"is kernel {kver}, not 6.0.0-renamed" in msg


def test_kernel_path_to_a_bzimage_file(nb, kimage, kernel_dir):
    """--kernel FILE with a bzImage: its version from the header, its modules
    beside it (lib/modules/VERSION), booted through the Linux boot protocol."""
    root, kver, _ = kimage
    vmlinuz = os.path.realpath(os.path.join(kernel_dir, "vmlinuz"))
    p = nb.run("--debug", "run", "--rm", "--kernel", vmlinuz, "--rootfs", root, "--",
               "uname", "-r", timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == kver
    line = [x for x in p.stderr.splitlines() if x.startswith(f"nestbox: kernel {vmlinuz}:")]
    assert line and "bzImage" in line[0], p.stderr


def test_kernel_path_not_a_kernel(nb, tmp_path):
    """--kernel FILE takes a vmlinux or a bzImage; anything else is refused in one line."""
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a kernel" * 100)
    msg = one_line_error(nb.run("run", "--rm", "--kernel", junk, "--rootfs", tmp_path,
                                "--", "true"))
    assert str(junk) in msg and "neither" in msg
