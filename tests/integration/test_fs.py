"""nestfs through the real binary: `nestbox fs serve` + `nestbox fs mount` on
the host's /dev/fuse, every operation checked against the backing directory."""
import errno
import os
import stat
import subprocess

import pytest

from nestfs_util import Chain, Share, mounted

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0,
                                reason="needs /dev/fuse and root")


@pytest.fixture
def share(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock")
    yield s
    s.close()


def test_mount_read_write(share):
    src, mnt = share.src, share.mnt
    with open(os.path.join(src, "hello.txt"), "w") as f:
        f.write("hello from the host\n")
    os.mkdir(os.path.join(src, "sub"))
    os.symlink("hello.txt", os.path.join(src, "link"))

    assert sorted(os.listdir(mnt)) == ["hello.txt", "link", "sub"]
    with open(os.path.join(mnt, "hello.txt")) as f:
        assert f.read() == "hello from the host\n"
    assert os.readlink(os.path.join(mnt, "link")) == "hello.txt"
    st_m, st_s = os.lstat(os.path.join(mnt, "hello.txt")), os.lstat(os.path.join(src, "hello.txt"))
    for a in ("st_mode", "st_size", "st_uid", "st_gid", "st_ino", "st_nlink", "st_mtime_ns"):
        assert getattr(st_m, a) == getattr(st_s, a), a

    # Writes land in the backing directory.
    with open(os.path.join(mnt, "sub", "new"), "wb") as f:
        f.write(b"x" * 100000)
    with open(os.path.join(src, "sub", "new"), "rb") as f:
        assert f.read() == b"x" * 100000
    os.rename(os.path.join(mnt, "sub", "new"), os.path.join(mnt, "moved"))
    assert os.path.exists(os.path.join(src, "moved"))
    assert not os.path.exists(os.path.join(src, "sub", "new"))
    os.mkdir(os.path.join(mnt, "d2"))
    assert os.path.isdir(os.path.join(src, "d2"))
    os.rmdir(os.path.join(mnt, "d2"))
    os.unlink(os.path.join(mnt, "moved"))
    assert sorted(os.listdir(src)) == ["hello.txt", "link", "sub"]

    # Errors come back as errors.
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt, "nope"))
    with pytest.raises(OSError) as ei:
        os.rmdir(os.path.join(mnt, "hello.txt"))
    assert ei.value.errno == errno.ENOTDIR

    # 8 MiB through the pump, both ways, byte for byte.
    data = os.urandom(8 << 20)
    with open(os.path.join(mnt, "big"), "wb") as f:
        f.write(data)
    with open(os.path.join(src, "big"), "rb") as f:
        assert f.read() == data
    with open(os.path.join(mnt, "big"), "rb") as f:
        assert f.read() == data

    sv = os.statvfs(mnt)
    sb = os.statvfs(src)
    assert (sv.f_bsize, sv.f_blocks, sv.f_namemax) == (sb.f_bsize, sb.f_blocks, sb.f_namemax)

    share.umount()
    assert share.mount.returncode == 0
    assert not mounted(mnt)
