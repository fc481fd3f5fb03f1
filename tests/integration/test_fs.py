"""nestfs through the real binary: `nestbox fs serve` + `nestbox fs mount` on
the host's /dev/fuse, every operation checked against the backing directory."""
import ctypes
import errno
import os
import stat
import subprocess
import time

import pytest

from nestfs_util import Chain, Share, mounted

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0,
                                reason="needs /dev/fuse and root")


class ChainShare:
    """The Share interface over a chain: src at the bottom, mnt at the top."""

    def __init__(self, nb, src, base, hops):
        self.chain = Chain(nb, src, base, hops)
        self.src, self.mnt = str(src), self.chain.top
        self.mount = self.chain.shares[-1].mount

    def umount(self):
        self.chain.shares[-1].umount()

    def close(self):
        self.chain.close()


@pytest.fixture(params=[1, 3], ids=["1hop", "3hops"])
def share(nb, tmp_path, request):
    """Every operation test runs on one hop and through a chain of three."""
    src = tmp_path / "src"
    src.mkdir()
    if request.param == 1:
        s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock")
    else:
        s = ChainShare(nb, src, str(tmp_path), request.param)
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


def _same_stat(a, b, fields=("st_mode", "st_size", "st_uid", "st_gid", "st_ino", "st_nlink",
                             "st_mtime_ns", "st_rdev")):
    for f in fields:
        assert getattr(a, f) == getattr(b, f), f


def test_setattr_every_bit(share):
    src, mnt = share.src, share.mnt
    m, s = os.path.join(mnt, "f"), os.path.join(src, "f")
    with open(m, "w") as f:
        f.write("0123456789")
    os.chmod(m, 0o640)
    assert stat.S_IMODE(os.stat(s).st_mode) == 0o640
    os.chown(m, 1234, 5678)
    assert (os.stat(s).st_uid, os.stat(s).st_gid) == (1234, 5678)
    os.chown(m, -1, 42)
    assert (os.stat(s).st_uid, os.stat(s).st_gid) == (1234, 42)
    os.truncate(m, 4)                       # path-based truncate
    assert os.stat(s).st_size == 4
    with open(m, "r+") as f:                # fh-based truncate
        os.ftruncate(f.fileno(), 2)
        assert os.fstat(f.fileno()).st_size == 2
    assert os.stat(s).st_size == 2
    os.utime(m, ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(s)
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    os.utime(m, None)                       # *_NOW
    assert abs(os.stat(s).st_mtime - __import__("time").time()) < 5
    with open(m, "r+") as f:
        os.utime(f.fileno(), ns=(5_000_000_000, 6_000_000_000))
    assert os.stat(s).st_mtime_ns == 6_000_000_000
    _same_stat(os.stat(m), os.stat(s))


def test_names_links_nodes(share):
    src, mnt = share.src, share.mnt
    os.symlink("target/../x", os.path.join(mnt, "sl"))
    assert os.readlink(os.path.join(src, "sl")) == "target/../x"
    assert os.readlink(os.path.join(mnt, "sl")) == "target/../x"
    with open(os.path.join(mnt, "a"), "w") as f:
        f.write("a")
    os.link(os.path.join(mnt, "a"), os.path.join(mnt, "hard"))
    assert os.stat(os.path.join(src, "a")).st_nlink == 2
    assert os.stat(os.path.join(mnt, "hard")).st_ino == os.stat(os.path.join(src, "a")).st_ino
    os.mkfifo(os.path.join(mnt, "fifo"), 0o600)
    assert stat.S_ISFIFO(os.stat(os.path.join(src, "fifo")).st_mode)
    os.mknod(os.path.join(mnt, "sock"), 0o600 | stat.S_IFSOCK)
    assert stat.S_ISSOCK(os.stat(os.path.join(src, "sock")).st_mode)
    with pytest.raises(PermissionError):     # no --allow-devices
        os.mknod(os.path.join(mnt, "null"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    assert not os.path.exists(os.path.join(src, "null"))
    for n in ("sl", "a", "hard", "fifo", "sock"):
        _same_stat(os.lstat(os.path.join(mnt, n)), os.lstat(os.path.join(src, n)))

    # rename2: NOREPLACE and EXCHANGE.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100

    def renameat2(a, b, flags):
        if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    with open(os.path.join(mnt, "b"), "w") as f:
        f.write("b")
    with pytest.raises(FileExistsError):
        renameat2(os.path.join(mnt, "a"), os.path.join(mnt, "b"), 1)   # RENAME_NOREPLACE
    renameat2(os.path.join(mnt, "a"), os.path.join(mnt, "b"), 2)       # RENAME_EXCHANGE
    assert open(os.path.join(src, "a")).read() == "b"
    assert open(os.path.join(src, "b")).read() == "a"


def _with_umask(mask, fn):
    old = os.umask(mask)
    try:
        return fn()
    finally:
        os.umask(old)


def test_creations_take_the_requesters_umask(share):
    """The mode a creator asks for, less its own umask: not the server's (022)."""
    src, mnt = share.src, share.mnt

    def make(mask):
        d = os.path.join(mnt, f"u{mask:o}")
        _with_umask(mask, lambda: os.mkdir(d, 0o777))
        _with_umask(mask, lambda: os.close(os.open(os.path.join(d, "f"),
                                                   os.O_CREAT | os.O_WRONLY, 0o4777)))
        _with_umask(mask, lambda: os.mkfifo(os.path.join(d, "p"), 0o666))
        _with_umask(mask, lambda: os.mknod(os.path.join(d, "n"), 0o666 | stat.S_IFREG))
        return os.path.join(src, f"u{mask:o}")

    for mask, want in ((0, {"": 0o777, "f": 0o4777, "p": 0o666, "n": 0o666}),
                       (0o027, {"": 0o750, "f": 0o4750, "p": 0o640, "n": 0o640})):
        d = make(mask)
        got = {n: stat.S_IMODE(os.lstat(os.path.join(d, n)).st_mode) for n in want}
        assert got == want, {n: oct(m) for n, m in got.items()}


def test_symlink_times_set_on_the_link(share):
    """utimensat(AT_SYMLINK_NOFOLLOW) changes the link's times, not its target's."""
    src, mnt = share.src, share.mnt
    open(os.path.join(mnt, "t"), "w").close()
    os.symlink("t", os.path.join(mnt, "l"))
    os.utime(os.path.join(mnt, "l"), ns=(1_960_000_000 * 10**9, 1_970_000_000 * 10**9),
             follow_symlinks=False)
    st = os.lstat(os.path.join(src, "l"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_960_000_000 * 10**9, 1_970_000_000 * 10**9)
    assert os.stat(os.path.join(src, "t")).st_mtime_ns != 1_970_000_000 * 10**9


def test_readdir_1000_and_plus(share):
    src, mnt = share.src, share.mnt
    os.mkdir(os.path.join(src, "many"))
    names = {f"entry-{i:04d}-" + "x" * (i % 50) for i in range(1000)}
    for n in names:
        open(os.path.join(src, "many", n), "w").close()
    assert set(os.listdir(os.path.join(mnt, "many"))) == names
    # scandir uses the types; stat of each goes through READDIRPLUS' entries.
    with os.scandir(os.path.join(mnt, "many")) as it:
        got = {e.name: e.inode() for e in it}
    assert got == {n: os.stat(os.path.join(src, "many", n)).st_ino for n in names}
    for n in list(names)[:20]:
        os.unlink(os.path.join(mnt, "many", n))
    assert set(os.listdir(os.path.join(src, "many"))) == set(list(names)[20:])
    fd = os.open(os.path.join(mnt, "many"), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)                              # fsyncdir
    os.close(fd)


def test_statfs_access_fsync(share):
    src, mnt = share.src, share.mnt
    p = os.path.join(mnt, "f")
    with open(p, "w") as f:
        f.write("x")
        f.flush()
        os.fsync(f.fileno())
        os.fdatasync(f.fileno())
    os.chmod(os.path.join(src, "f"), 0o600)
    assert os.access(p, os.R_OK | os.W_OK)
    assert not os.access(p, os.X_OK)
    sv, sb = os.statvfs(mnt), os.statvfs(src)
    assert (sv.f_bsize, sv.f_frsize, sv.f_blocks, sv.f_files) == \
           (sb.f_bsize, sb.f_frsize, sb.f_blocks, sb.f_files)


def test_xattrs(share):
    src, mnt = share.src, share.mnt
    p, s = os.path.join(mnt, "f"), os.path.join(src, "f")
    open(p, "w").close()
    os.setxattr(p, "user.color", b"blue")
    assert os.getxattr(s, "user.color") == b"blue"
    os.setxattr(s, "user.size", b"x" * 3000)
    assert os.getxattr(p, "user.size") == b"x" * 3000
    assert set(os.listxattr(p)) == set(os.listxattr(s)) >= {"user.color", "user.size"}
    with pytest.raises(FileExistsError):
        os.setxattr(p, "user.color", b"red", os.XATTR_CREATE)
    os.removexattr(p, "user.color")
    assert "user.color" not in os.listxattr(s)
    with pytest.raises(OSError) as ei:
        os.getxattr(p, "user.nothing")
    assert ei.value.errno == errno.ENODATA
    # A symlink and a FIFO take no xattrs here: an empty list, as the size
    # probe (listxattr with no buffer) and as the list.
    os.symlink("f", os.path.join(mnt, "ln"))
    os.mkfifo(os.path.join(mnt, "fifo"))
    libc = ctypes.CDLL(None, use_errno=True)
    for name in ("ln", "fifo"):
        path = os.path.join(mnt, name)
        assert libc.llistxattr(path.encode(), None, 0) == 0, os.strerror(ctypes.get_errno())
        assert os.listxattr(path, follow_symlinks=False) == []


def test_fallocate_lseek_copy_file_range(share):
    src, mnt = share.src, share.mnt
    p = os.path.join(mnt, "sparse")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, 1 << 20)
        assert os.stat(os.path.join(src, "sparse")).st_size == 1 << 20
        os.pwrite(fd, b"D" * 4096, 8 << 20)
        os.pwrite(fd, b"E" * 4096, 16 << 20)
        sfd = os.open(os.path.join(src, "sparse"), os.O_RDONLY)
        # What the backing filesystem says about data and holes, the mount says.
        for off in (0, 4096, 1 << 20, 8 << 20, (8 << 20) + 4096, 12 << 20, 16 << 20):
            for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                assert os.lseek(fd, off, whence) == os.lseek(sfd, off, whence), (off, whence)
        assert os.lseek(fd, 12 << 20, os.SEEK_DATA) == 16 << 20
        os.close(sfd)
        # punch a hole (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.fallocate(fd, 3, ctypes.c_long(0), ctypes.c_long(65536)) == 0
        assert os.pread(fd, 16, 0) == b"\0" * 16
        # copy_file_range inside the mount
        out = os.open(os.path.join(mnt, "copy"), os.O_RDWR | os.O_CREAT, 0o644)
        n = os.copy_file_range(fd, out, 4096, 8 << 20, 0)
        assert n == 4096
        assert os.pread(out, 4096, 0) == b"D" * 4096
        os.close(out)
        with open(os.path.join(src, "copy"), "rb") as f:
            assert f.read() == b"D" * 4096
    finally:
        os.close(fd)


LOCKER = r"""
import fcntl, os, sys, time
f = open(sys.argv[1], "r+")
if sys.argv[2] == "posix":
    fcntl.lockf(f, fcntl.LOCK_EX)
else:
    fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def _locker(path, kind):
    import sys
    p = subprocess.Popen([sys.executable, "-c", LOCKER, path, kind], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def _release(p):
    p.stdin.close()
    p.wait(timeout=10)
    p.stdout.close()


def _lock_frees(path, how, timeout=5.0):
    """Take and drop an exclusive lock on PATH (host side), retrying until TIMEOUT.

    A lock held through FUSE goes away when the kernel tells the server: for
    flock at RELEASE, which the kernel sends in the background after the last
    close, and through 3 hops each hop adds its own. So "released when the
    holder exited" means "free within a moment", not "free at once"."""
    import fcntl
    deadline = time.time() + timeout
    with open(path, "r+") as f:
        while True:
            try:
                if how == "flock":
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                else:
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.lockf(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)


def test_posix_locks_enforced_on_host(share):
    import fcntl
    src, mnt = share.src, share.mnt
    with open(os.path.join(src, "f"), "w") as f:
        f.write("x" * 100)
    holder = _locker(os.path.join(mnt, "f"), "posix")
    try:
        # Another process through the mount: conflict.
        with open(os.path.join(mnt, "f"), "r+") as f:
            with pytest.raises(BlockingIOError):
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # A process on the host, on the backing file: conflict too (OFD locks are real).
        with open(os.path.join(src, "f"), "r+") as f:
            with pytest.raises(BlockingIOError):
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # F_GETLK sees it
            import struct
            arg = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
            res = fcntl.fcntl(f, fcntl.F_GETLK, arg)
            assert struct.unpack("hhqqi", res)[0] == fcntl.F_WRLCK
    finally:
        _release(holder)
    # Released when the holder exited (close releases POSIX locks).
    _lock_frees(os.path.join(src, "f"), "posix")


def test_flock_enforced_and_blocking_lock_interrupted(share):
    import fcntl
    import signal
    src, mnt = share.src, share.mnt
    open(os.path.join(src, "f"), "w").close()
    holder = _locker(os.path.join(mnt, "f"), "flock")
    try:
        with open(os.path.join(src, "f")) as f:
            with pytest.raises(BlockingIOError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        _release(holder)
    _lock_frees(os.path.join(src, "f"), "flock")

    # A blocking POSIX lock through the mount, interrupted by a signal:
    # the kernel sends FUSE_INTERRUPT, the server's waiting worker gives up.
    holder = _locker(os.path.join(mnt, "f"), "posix")
    try:
        class Alarm(Exception):
            pass

        def on_alarm(*_):
            raise Alarm()
        old = signal.signal(signal.SIGALRM, on_alarm)
        try:
            with open(os.path.join(mnt, "f"), "r+") as f:
                signal.setitimer(signal.ITIMER_REAL, 0.3)
                with pytest.raises(Alarm):
                    fcntl.lockf(f, fcntl.LOCK_EX)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    finally:
        _release(holder)
    # And the mount still works, the lock is free.
    with open(os.path.join(mnt, "f"), "r+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_read_only_export(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data")
    s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock", serve_args=("--read-only",))
    try:
        m = s.mnt
        assert open(os.path.join(m, "f")).read() == "data"
        for fn in (lambda: open(os.path.join(m, "f"), "w"),
                   lambda: open(os.path.join(m, "new"), "w"),
                   lambda: os.mkdir(os.path.join(m, "d")),
                   lambda: os.unlink(os.path.join(m, "f")),
                   lambda: os.rename(os.path.join(m, "f"), os.path.join(m, "g")),
                   lambda: os.chmod(os.path.join(m, "f"), 0o777),
                   lambda: os.symlink("x", os.path.join(m, "l")),
                   lambda: os.setxattr(os.path.join(m, "f"), "user.a", b"1")):
            with pytest.raises(OSError) as ei:
                fn()
            assert ei.value.errno == errno.EROFS
        assert sorted(os.listdir(src)) == ["f"]
        assert (src / "f").read_text() == "data"
    finally:
        s.close()


def test_cli_errors_are_one_line_and_leave_nothing(nb, tmp_path):
    p = nb.run("fs", "serve", tmp_path / "missing", "--listen", f"unix:{tmp_path}/s.sock")
    assert p.returncode == 125
    assert p.stderr.count("\n") == 1 and "missing" in p.stderr
    assert not os.path.exists(tmp_path / "s.sock")
    p = nb.run("fs", "serve", tmp_path, "--listen", "tcp:1234")
    assert p.returncode == 125 and "tcp:1234" in p.stderr
    p = nb.run("fs", "serve", tmp_path, "--listen", f"unix:{tmp_path}/s.sock", "--cache", "sometimes")
    assert p.returncode == 125 and "sometimes" in p.stderr
    (tmp_path / "mnt").mkdir()
    p = nb.run("fs", "mount", f"unix:{tmp_path}/nobody.sock", tmp_path / "mnt")
    assert p.returncode == 125 and "nobody.sock" in p.stderr
    assert p.stderr.count("\n") == 1
    p = nb.run("fs", "mount", "vsock:x", tmp_path / "mnt")
    assert p.returncode == 125
    p = nb.run("fs", "frobnicate")
    assert p.returncode == 125
    assert not mounted(tmp_path / "mnt")


def test_fd_endpoints_and_daemon(nb, tmp_path):
    """serve fd:N on one connected stream, mount fd:N --daemon; umount ends both."""
    import socket
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("over a socketpair")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    a, b = socket.socketpair()
    srv = nb.popen("fs", "serve", src, "--listen", f"fd:{a.fileno()}", "--cache", "always",
                   pass_fds=[a.fileno()])
    a.close()
    p = nb.run("fs", "mount", f"fd:{b.fileno()}", mnt, "--daemon", "--readers", "2",
               "-o", "nodev,nosuid", pass_fds=[b.fileno()])
    b.close()
    try:
        assert p.returncode == 0, p.stderr
        assert mounted(mnt)
        assert (mnt / "f").read_text() == "over a socketpair"
        with open("/proc/self/mountinfo") as f:
            line = [l for l in f if l.split()[4] == str(mnt)][0]
        assert "nodev" in line and "nosuid" in line and "fuse.nestfs" in line
    finally:
        subprocess.run(["umount", mnt], check=False)
    # The daemon saw the unmount and closed the stream; the server's one
    # connection ended, so it exits by itself.
    assert srv.wait(timeout=10) == 0
    assert not mounted(mnt)


def test_cache_never_sees_host_changes_at_once(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("one")
    s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock", serve_args=("--cache", "never"))
    try:
        f = os.path.join(s.mnt, "f")
        assert open(f).read() == "one"
        (src / "f").write_text("two!")
        assert open(f).read() == "two!"
        os.unlink(src / "f")
        assert not os.path.exists(f)
        (src / "g").write_text("new")
        assert os.listdir(s.mnt) == ["g"]
    finally:
        s.close()
