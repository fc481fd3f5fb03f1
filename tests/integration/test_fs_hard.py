"""nestfs under stress: faults (server or client killed), a hostile client
speaking raw frames, a 3-hop chain, and 16 threads through 3 hops."""
import errno
import fcntl
import hashlib
import os
import random
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest

from nestfs_util import Chain, Share, mounted, sandboxed, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0,
                                reason="needs /dev/fuse and root")


def nfds(pid):
    """Open fds of the server that `fs serve` PID runs (in its sandbox)."""
    inner = sandboxed(pid)
    return len(os.listdir(f"/proc/{inner}/fd")) if inner else 0


def test_server_killed_mount_fails_fast_and_unmounts(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x" * 10)
    (src / "d").mkdir()
    s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock")
    try:
        fd = os.open(os.path.join(s.mnt, "f"), os.O_RDONLY)
        dfd = os.open(os.path.join(s.mnt, "d"), os.O_RDONLY | os.O_DIRECTORY)
        # A pending operation: a blocking lock waiting in the server.
        import sys
        holder = subprocess.Popen([sys.executable, "-c",
                                   "import fcntl,sys; f=open(sys.argv[1],'r+');"
                                   "fcntl.lockf(f, fcntl.LOCK_EX); print('ok', flush=True);"
                                   "sys.stdin.read()", os.path.join(s.mnt, "f")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ok"
        waiter = subprocess.Popen([sys.executable, "-c",
                                   "import fcntl,sys\nf=open(sys.argv[1],'r+')\n"
                                   "try:\n fcntl.lockf(f, fcntl.LOCK_EX); print('locked')\n"
                                   "except OSError as e: print(e.errno)", os.path.join(s.mnt, "f")],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        assert waiter.poll() is None          # really pending
        t0 = time.time()
        s.serve.kill()
        s.serve.wait()
        out, _ = waiter.communicate(timeout=5)
        assert int(out.strip()) in (errno.ENOTCONN, errno.ECONNABORTED)
        with pytest.raises(OSError) as ei:
            os.pread(fd, 10, 0)
        assert ei.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as ei:
            os.listdir(dfd)
        assert ei.value.errno == errno.ENOTCONN
        assert time.time() - t0 < 1.0 + 0.5   # (the waiter's own exit counted)
        # The pump exits on its own, the mount is gone (detached).
        assert s.mount.wait(timeout=5) == 125
        assert not mounted(s.mnt)
        for x in (fd, dfd):
            try:
                os.close(x)      # the fd goes; the FLUSH on the way may fail ENOTCONN
            except OSError as e:
                assert e.errno == errno.ENOTCONN
        holder.stdin.close()
        holder.wait(timeout=5)
        holder.stdout.close()
    finally:
        s.close()


def test_client_killed_server_frees_connection(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"f{i}").write_text("x")
    s = Share(nb, src, tmp_path / "mnt", tmp_path / "s.sock")
    try:
        base = None
        # A second connection to compare with: its fds must all come back.
        wait_for(lambda: nfds(s.serve.pid) > 0)
        files = [open(os.path.join(s.mnt, f"f{i}")) for i in range(50)]
        os.listdir(s.mnt)
        base = nfds(s.serve.pid)
        assert base > 200                     # O_PATH inodes and open handles
        s.mount.kill()
        s.mount.wait()
        for f in files:
            try:
                f.close()
            except OSError:
                pass
        wait_for(lambda: nfds(s.serve.pid) < 20, timeout=5, what="server to free the connection")
        assert s.serve.poll() is None         # still serving others
        subprocess.run(["umount", "-l", s.mnt], check=True)
    finally:
        s.close()


# --- a hostile client speaking raw FUSE frames -------------------------------

LOOKUP, FORGET, GETATTR, OPEN, READ, MKNOD, INIT, OPENDIR, READDIR = 1, 2, 3, 14, 15, 8, 26, 27, 28
BATCH_FORGET, READLINK, FLUSH = 42, 5, 25


class Raw:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.u = 0

    def send(self, op, node, body=b"", length=None):
        self.u += 2
        ln = 40 + len(body) if length is None else length
        self.s.sendall(struct.pack("<IIQQIIIHH", ln, op, self.u, node, 0, 0, 0, 0, 0) + body)
        return self.u

    def recv(self):
        hdr = b""
        while len(hdr) < 16:
            c = self.s.recv(16 - len(hdr))
            if not c:
                raise EOFError
            hdr += c
        ln, err, uniq = struct.unpack("<IiQ", hdr)
        body = b""
        while len(body) < ln - 16:
            c = self.s.recv(ln - 16 - len(body))
            if not c:
                raise EOFError
            body += c
        return uniq, -err, body

    def call(self, op, node, body=b""):
        u = self.send(op, node, body)
        ru, err, b = self.recv()
        assert ru == u
        return err, b

    def init(self, minor=38):
        err, b = self.call(INIT, 0, struct.pack("<IIII", 7, minor, 65536, 0xffffffff) + b"\0" * 48)
        assert err == 0
        return b

    def lookup(self, node, name):
        err, b = self.call(LOOKUP, node, name + b"\0")
        return err, (struct.unpack("<Q", b[:8])[0] if not err else None), b


def test_hostile_client(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("secret-free data")
    (src / "d").mkdir()
    os.symlink("/etc", src / "etc")
    os.symlink("../../", src / "up")
    (tmp_path / "outside").write_text("must not be reachable")
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        # Before INIT: EIO.
        assert r.call(GETATTR, 1, b"\0" * 16)[0] == errno.EIO
        # INIT from an older client gets the short reply it expects.
        b = r.init(minor=22)
        assert len(b) == 24 and struct.unpack("<II", b[:8]) == (7, 22)
        # '..' at the root stays at the root.
        err, node, b = r.lookup(1, b"..")
        assert err == 0 and node == 1
        st_root = struct.unpack("<Q", b[40:48])[0]
        assert st_root == os.stat(src).st_ino
        # '/' in names, empty names, too long names.
        assert r.lookup(1, b"d/../../outside")[0] == errno.EINVAL
        assert r.lookup(1, b"")[0] == errno.EINVAL
        assert r.lookup(1, b"x" * 300)[0] == errno.ENAMETOOLONG
        # Symlinks are never followed by the server.
        err, lnode, _ = r.lookup(1, b"etc")
        assert err == 0
        assert r.lookup(lnode, b"passwd")[0] == errno.ENOTDIR
        err, unode, _ = r.lookup(1, b"up")
        assert r.lookup(unode, b"outside")[0] == errno.ENOTDIR
        assert r.call(OPEN, lnode, struct.pack("<II", 0, 0))[0] != 0
        # Forged node ids and handles.
        for forged in (0, 2, 7, 0xFFFFFFFF, (5 << 32) | 2, 1 << 63):
            if forged == 1:
                continue
            assert r.call(GETATTR, forged, b"\0" * 16)[0] == errno.ESTALE, hex(forged)
        err, fnode, _ = r.lookup(1, b"f")
        assert err == 0
        err, b = r.call(OPEN, fnode, struct.pack("<II", 0, 0))
        assert err == 0
        fh = struct.unpack("<Q", b[:8])[0]
        read = lambda fh_, size: r.call(READ, fnode, struct.pack("<QQIIQII", fh_, 0, size, 0, 0, 0, 0))
        assert read(fh ^ (1 << 32), 100)[0] == errno.EBADF
        assert read(fh + 1, 100)[0] == errno.EBADF
        # Huge counts are capped.
        err, data = read(fh, 0xFFFFFFFF)
        assert err == 0 and data == b"secret-free data"
        # Devices refused.
        assert r.call(MKNOD, 1, struct.pack("<IIII", stat.S_IFCHR | 0o600, os.makedev(1, 3), 0, 0)
                      + b"null\0")[0] == errno.EPERM
        # Huge FORGET counts: clamped; the root is never forgotten.
        r.send(FORGET, 1, struct.pack("<Q", 1 << 62))
        r.send(FORGET, fnode, struct.pack("<Q", 1 << 62))
        r.send(BATCH_FORGET, 0, struct.pack("<II", 0xFFFFFFFF, 0) + struct.pack("<QQ", fnode, 9))
        assert r.lookup(1, b"d")[0] == 0
        # The forgotten node is gone; its open handle still reads.
        assert r.call(GETATTR, fnode, b"\0" * 16)[0] == errno.ESTALE
        assert read(fh, 4)[1] == b"secr"
        # Unknown opcodes: ENOSYS.
        assert r.call(9999, 1)[0] == errno.ENOSYS
        # A second, well-behaved connection ...
        r2 = Raw(str(sock))
        r2.init()
        # ... survives the first one sending an unframeable length.
        r.send(GETATTR, 1, length=8)
        with pytest.raises((EOFError, ConnectionResetError)):
            r.recv()
        assert r2.lookup(1, b"f")[0] == 0
        # Oversized frames close that connection too.
        r3 = Raw(str(sock))
        r3.init()
        r3.send(GETATTR, 1, length=64 << 20)
        with pytest.raises((EOFError, ConnectionResetError)):
            r3.recv()
        assert r2.lookup(1, b"d")[0] == 0
        # Nothing outside was touched.
        assert (tmp_path / "outside").read_text() == "must not be reachable"
        for x in (r, r2, r3):
            x.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def _vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_unread_replies_stall_only_their_connection(nb, tmp_path):
    """A client that sends READs and stops reading: the server holds a bounded amount
    (NESTFS_MAX_QUEUED of replies; a short read only what it read), serves the other
    connections meanwhile, and the stalled one gets every answer once it reads."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(1 << 20))
    (src / "small").write_bytes(b"16 bytes of data")
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        # 200 1 MiB reads of a 1 MiB file (resident: the replies' bytes); then 8 such
        # reads that block the writer and 192 of a 16-byte file behind them (virtual: what
        # each short read allocated).
        for names, field in (([b"big"] * 200, "VmRSS"), ([b"big"] * 8 + [b"small"] * 192, "VmSize")):
            r = Raw(str(sock))
            r.init()
            files = {}
            for name in set(names):
                err, node, _ = r.lookup(1, name)
                assert err == 0
                err, b = r.call(OPEN, node, struct.pack("<II", 0, 0))
                assert err == 0
                files[name] = (node, struct.pack("<QQIIQII", struct.unpack("<Q", b[:8])[0],
                                                 0, 1 << 20, 0, 0, 0, 0))
            # Warm up: every worker has done 1 MiB reads (its malloc arena exists).
            for _ in range(32):
                r.send(READ, *files[b"big"])
            for _ in range(32):
                r.recv()
            base = _vm_kib(srv.pid, field)
            # One batch from a thread: once the server stops taking requests, the
            # rest wait in this socket and the sender blocks, as a stalled peer should.
            sent, frames = {}, b""
            for name in names:
                r.u += 2
                sent[r.u] = (src / name.decode()).read_bytes()
                node, body = files[name]
                frames += struct.pack("<IIQQIIIHH", 40 + len(body), READ, r.u, node,
                                      0, 0, 0, 0, 0) + body
            r.s.settimeout(60)
            sender = threading.Thread(target=r.s.sendall, args=(frames,))
            sender.start()
            time.sleep(1.5)
            grown = _vm_kib(srv.pid, field) - base
            assert grown < 64 << 10, f"{field} grew {grown} KiB with 200 READs unread"
            # Another connection is served meanwhile.
            r2 = Raw(str(sock))
            r2.init()
            assert r2.lookup(1, b"small")[0] == 0
            r2.s.close()
            # The stalled one gets every answer once it reads.
            for _ in range(len(sent)):
                u, err, body = r.recv()
                assert err == 0 and body == sent.pop(u)
            assert not sent
            sender.join(timeout=10)
            r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


RENAME2, GETLK, SETLK = 45, 31, 32


def _raw_open(r, name):
    err, node, _ = r.lookup(1, name)
    assert err == 0
    err, b = r.call(OPEN, node, struct.pack("<II", os.O_RDWR, 0))
    assert err == 0
    return node, struct.unpack("<Q", b[:8])[0]


def test_whiteout_refused_without_devices(nb, tmp_path):
    """RENAME_WHITEOUT leaves a char device 0:0 behind: a device node, refused by default."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        r.init()
        err, _ = r.call(RENAME2, 1, struct.pack("<QII", 1, 4, 0) + b"a\0b\0")  # RENAME_WHITEOUT
        assert err == errno.EPERM
        assert (src / "a").read_text() == "a" and not (src / "b").exists()
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_lock_owner_flood_refused_past_the_cap(nb, tmp_path):
    """Each POSIX lock owner costs the server an fd: a connection gets 1,024 of them, and
    GETLK for owners that hold nothing costs none that outlives it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x" * 4096)
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        r.init()
        node, fh = _raw_open(r, b"f")
        base = nfds(srv.pid)
        lk = lambda op, owner, start: r.call(op, node, struct.pack(
            "<QQQQIIII", fh, owner, start, start, fcntl.F_RDLCK, 0, 0, 0))
        for owner in range(1, 3001):
            assert lk(GETLK, owner, owner)[0] == 0
        assert nfds(srv.pid) - base < 16
        errs = [lk(SETLK, owner, owner)[0] for owner in range(1, 1101)]
        assert errs[:1024] == [0] * 1024
        assert set(errs[1024:]) == {errno.ENOLCK}
        assert nfds(srv.pid) - base < 1024 + 16
        # A close by an owner (FLUSH) gives its description back: new owners are served.
        for owner in range(1, 101):
            assert r.call(FLUSH, node, struct.pack("<QIIQ", fh, 0, 0, owner))[0] == 0
        assert [lk(SETLK, owner, owner)[0] for owner in range(5001, 5101)] == [0] * 100
        assert lk(SETLK, 6000, 6000)[0] == errno.ENOLCK
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


CREATE = 35


def test_create_of_an_existing_fifo_blocks_no_worker(nb, tmp_path):
    """CREATE of a name the host has made since (a FIFO here): refused as OPEN refuses
    it, without opening it (which would block the worker until a writer came); an
    existing regular file is opened as it is."""
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    (src / "reg").write_text("kept")
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        r.init()
        body = lambda flags, name: struct.pack("<IIII", flags, 0o644, 0, 0) + name + b"\0"
        sent = [r.send(CREATE, 1, body(os.O_WRONLY | os.O_CREAT, b"fifo")) for _ in range(9)]
        for _ in sent:                 # 9 > the 8 workers: none may be left stuck
            u, err, _ = r.recv()
            assert u in sent and err == errno.EACCES
        assert r.lookup(1, b"reg")[0] == 0
        err, b = r.call(CREATE, 1, body(os.O_RDWR | os.O_CREAT, b"reg"))
        assert err == 0
        assert struct.unpack("<Q", b[40:48])[0] == os.stat(src / "reg").st_ino
        assert (src / "reg").read_text() == "kept"
        assert r.call(CREATE, 1, body(os.O_RDWR | os.O_CREAT | os.O_EXCL, b"reg"))[0] == \
            errno.EEXIST
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_read_only_share_takes_no_host_locks(nb, tmp_path):
    """A read-only share offers no locks (the client's kernel keeps them to itself) and
    refuses lock requests sent anyway: no host file is locked through it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data")
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", "--read-only",
                   stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        flags = struct.unpack("<I", r.init()[12:16])[0]
        assert not flags & (1 << 1) and not flags & (1 << 10)   # POSIX_LOCKS, FLOCK_LOCKS
        err, node, _ = r.lookup(1, b"f")
        err, b = r.call(OPEN, node, struct.pack("<II", os.O_RDONLY, 0))
        assert err == 0
        fh = struct.unpack("<Q", b[:8])[0]
        for lk_flags in (0, 1):                                  # POSIX, FUSE_LK_FLOCK
            assert r.call(SETLK, node, struct.pack("<QQQQIIII", fh, 7, 0, 1 << 62,
                                                   fcntl.F_RDLCK, 0, lk_flags, 0))[0] == \
                errno.ENOSYS
        with open(src / "f", "r+") as f:                        # the host can lock it all
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_dotdot_stays_inside_the_export(nb, tmp_path):
    """LOOKUP ".." of a directory the host has moved out of the export finds nothing:
    its parent is outside. Inside, ".." is the parent, and at the root the root."""
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    sock = tmp_path / "s.sock"
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock))
        r = Raw(str(sock))
        r.init()
        err, a, _ = r.lookup(1, b"a")
        err, b, _ = r.lookup(a, b"b")
        assert err == 0
        assert r.lookup(b, b"..")[1] == a
        assert r.lookup(a, b"..")[1] == 1
        os.rename(src / "a" / "b", tmp_path / "b-out")
        assert r.lookup(b, b"..")[0] == errno.ENOENT
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)


# --- chains --------------------------------------------------------------------

def exercise(top, src):
    """A bit of everything at TOP, checked against SRC (the bottom directory)."""
    os.mkdir(os.path.join(top, "dir"))
    data = os.urandom(3 << 20)
    with open(os.path.join(top, "dir", "blob"), "wb") as f:
        f.write(data)
    with open(os.path.join(src, "dir", "blob"), "rb") as f:
        assert f.read() == data
    with open(os.path.join(top, "dir", "blob"), "rb") as f:
        assert f.read() == data
    os.symlink("blob", os.path.join(top, "dir", "sl"))
    assert os.readlink(os.path.join(src, "dir", "sl")) == "blob"
    os.link(os.path.join(top, "dir", "blob"), os.path.join(top, "hard"))
    assert os.stat(os.path.join(src, "hard")).st_nlink == 2
    os.rename(os.path.join(top, "hard"), os.path.join(top, "hard2"))
    os.chmod(os.path.join(top, "hard2"), 0o600)
    assert stat.S_IMODE(os.stat(os.path.join(src, "hard2")).st_mode) == 0o600
    os.truncate(os.path.join(top, "hard2"), 1000)
    assert os.stat(os.path.join(src, "dir", "blob")).st_size == 1000
    os.setxattr(os.path.join(top, "hard2"), "user.k", b"v")
    assert os.getxattr(os.path.join(src, "hard2"), "user.k") == b"v"
    for i in range(100):
        open(os.path.join(top, "dir", f"n{i}"), "w").close()
    assert sorted(os.listdir(os.path.join(top, "dir"))) == sorted(os.listdir(os.path.join(src, "dir")))
    import fcntl
    with open(os.path.join(top, "hard2"), "r+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with open(os.path.join(src, "hard2"), "r+") as g:
            with pytest.raises(BlockingIOError):
                fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB)
    for i in range(100):
        os.unlink(os.path.join(top, "dir", f"n{i}"))
    os.unlink(os.path.join(top, "dir", "sl"))
    os.unlink(os.path.join(top, "hard2"))
    os.unlink(os.path.join(top, "dir", "blob"))
    os.rmdir(os.path.join(top, "dir"))
    assert os.listdir(src) == []


def test_three_hop_chain(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    c = Chain(nb, src, str(tmp_path), 3)
    try:
        exercise(c.top, str(src))
    finally:
        c.close()


def test_sixteen_threads_three_hops(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    c = Chain(nb, src, str(tmp_path), 3)
    expect = {}
    lock = threading.Lock()
    errors = []

    def worker(t):
        rnd = random.Random(t)
        d = os.path.join(c.top, f"t{t}")
        os.mkdir(d)
        mine = {}
        try:
            for i in range(40):
                op = rnd.random()
                name = f"f{rnd.randrange(12)}"
                p = os.path.join(d, name)
                if op < 0.4:
                    data = rnd.randbytes(rnd.choice([1, 100, 4096, 70000, 300000]))
                    with open(p, "wb") as f:
                        f.write(data)
                    mine[name] = data
                elif op < 0.55 and name in mine:
                    extra = rnd.randbytes(5000)
                    with open(p, "ab") as f:
                        f.write(extra)
                    mine[name] += extra
                elif op < 0.7 and name in mine:
                    new = f"f{rnd.randrange(12)}"
                    os.rename(p, os.path.join(d, new))
                    mine[new] = mine.pop(name)
                elif op < 0.8 and name in mine:
                    os.unlink(p)
                    del mine[name]
                elif name in mine:
                    with open(p, "rb") as f:
                        assert f.read() == mine[name]
                os.stat(d)
                assert set(os.listdir(d)) == set(mine)
        except Exception as e:   # noqa: BLE001 - reported below with the thread
            errors.append((t, repr(e)))
        with lock:
            expect[t] = {k: hashlib.sha256(v).hexdigest() for k, v in mine.items()}

    try:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=200)
        assert not errors, errors
        # Data integrity at the bottom.
        for t, files in expect.items():
            d = os.path.join(src, f"t{t}")
            got = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
                   for n in os.listdir(d)}
            assert got == files, t
    finally:
        c.close()


def test_frames_cut_anywhere(nb, tmp_path):
    """A virtio-serial port delivers frames in arbitrary pieces: both ends must
    frame by the header's length, not by reads. A relay cuts every byte stream
    into pieces of 1 to 7 bytes."""
    import select
    src = tmp_path / "src"
    src.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    s_srv, s_relay1 = socket.socketpair()
    s_relay2, s_mnt = socket.socketpair()
    stop = threading.Event()

    def relay():
        rnd = random.Random(7)
        pairs = {s_relay1: s_relay2, s_relay2: s_relay1}
        while not stop.is_set():
            r, _, _ = select.select(list(pairs), [], [], 0.1)
            for a in r:
                data = a.recv(65536)
                if not data:
                    stop.set()
                    break
                while data:
                    n = rnd.randint(1, 7)
                    pairs[a].sendall(data[:n])
                    data = data[n:]
        for x in (s_relay1, s_relay2):
            x.close()

    t = threading.Thread(target=relay)
    t.start()
    srv = nb.popen("fs", "serve", src, "--listen", f"fd:{s_srv.fileno()}",
                   pass_fds=[s_srv.fileno()])
    mnt_p = nb.popen("fs", "mount", f"fd:{s_mnt.fileno()}", mnt, pass_fds=[s_mnt.fileno()])
    s_srv.close()
    s_mnt.close()
    try:
        wait_for(lambda: mounted(str(mnt)), what="mount through the relay")
        data = os.urandom(300000)
        (mnt / "f").write_bytes(data)
        assert (src / "f").read_bytes() == data
        assert (mnt / "f").read_bytes() == data
        os.mkdir(mnt / "d")
        assert sorted(os.listdir(mnt)) == ["d", "f"]
    finally:
        if mounted(str(mnt)):
            subprocess.run(["umount", str(mnt)])
        assert mnt_p.wait(timeout=10) == 0
        assert srv.wait(timeout=10) == 0
        stop.set()
        t.join(timeout=10)
