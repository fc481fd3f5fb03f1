"""A guest is not host root in a volume: by default the host sees a -v volume
nosuid and nodev (set-id bits dropped, security.*/trusted.* xattrs and device
nodes refused); `-v ...:suid,dev` and `fs serve` without --nosuid keep full
semantics. Raw frames as a hostile root client would send them, then a VM."""
import errno
import os
import signal
import stat
import struct
import subprocess
import time

import pytest

from nestfs_util import sandboxed, wait_for
from test_fs_hard import Raw
from test_run import rootfs, run  # noqa: F401 (the session fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

SETATTR, MKNOD, MKDIR, SETXATTR, REMOVEXATTR, CREATE = 4, 8, 9, 21, 24, 35
FATTR_MODE = 1
# vfs_cap_data, revision 2, effective: cap_setuid=ep
CAP_SETUID = struct.pack("<IIIII", 0x02000001, 1 << 7, 0, 0, 0)


def entry_node(b):
    return struct.unpack("<Q", b[:8])[0]


def serve(nb, src, sock, *args):
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}", *args,
                   stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(sock))
    return srv


def hostile_root(r):
    """What a guest root tries; returns each operation's errno by name."""
    got = {}
    err, b = r.call(CREATE, 1, struct.pack("<IIII", os.O_WRONLY | os.O_CREAT, 0o104755, 0, 0)
                    + b"suid\0")
    got["create"] = err
    err, b = r.call(MKNOD, 1, struct.pack("<IIII", stat.S_IFREG | 0o6755, 0, 0, 0) + b"sgid\0")
    got["mknod"] = err
    err, b = r.call(MKDIR, 1, struct.pack("<II", 0o6755, 0) + b"dir\0")
    got["mkdir"] = err
    _, node, _ = r.lookup(1, b"plain")
    sa = struct.pack("<IIQQQQQQIIIIIIII", FATTR_MODE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                     0o104755, 0, 0, 0, 0)
    got["chmod"] = r.call(SETATTR, node, sa)[0]
    xa = lambda name, val: struct.pack("<II", len(val), 0) + name + b"\0" + val
    got["security"] = r.call(SETXATTR, node, xa(b"security.capability", CAP_SETUID))[0]
    got["trusted"] = r.call(SETXATTR, node, xa(b"trusted.nestbox", b"x"))[0]
    got["user"] = r.call(SETXATTR, node, xa(b"user.nestbox", b"x"))[0]
    _, knode, _ = r.lookup(1, b"kept")
    got["rm_security"] = r.call(REMOVEXATTR, knode, b"security.capability\0")[0]
    got["chardev"] = r.call(MKNOD, 1, struct.pack("<IIII", stat.S_IFCHR | 0o600,
                                                  os.makedev(1, 3), 0, 0) + b"null\0")[0]
    got["whiteout"] = r.call(MKNOD, 1, struct.pack("<IIII", stat.S_IFCHR, 0, 0, 0)
                             + b"wh\0")[0]
    return got


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.mark.parametrize("policy", ["nosuid", "full"])
def test_raw_root_client_cannot_make_host_privilege(nb, tmp_path, policy):
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain").write_text("x")
    (src / "kept").write_text("x")
    os.setxattr(src / "kept", "security.capability", CAP_SETUID)
    sock = tmp_path / "s.sock"
    srv = serve(nb, src, sock, *(["--nosuid"] if policy == "nosuid" else []))
    try:
        r = Raw(str(sock))
        r.init()
        got = hostile_root(r)
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    assert got["create"] == got["mknod"] == got["mkdir"] == got["chmod"] == 0, got
    assert got["user"] == 0
    assert got["chardev"] == got["whiteout"] == errno.EPERM   # no --allow-devices either way
    assert not (src / "null").exists() and not (src / "wh").exists()
    if policy == "nosuid":
        assert mode(src / "suid") == 0o755
        assert mode(src / "sgid") == 0o755
        assert mode(src / "dir") == 0o755           # mkdir(2) takes no set-id bits anyway
        assert mode(src / "plain") == 0o755
        assert got["security"] == got["trusted"] == got["rm_security"] == errno.EPERM
        assert "security.capability" not in os.listxattr(src / "plain")
        assert "trusted.nestbox" not in os.listxattr(src / "plain")
        assert os.getxattr(src / "kept", "security.capability") == CAP_SETUID
    else:
        assert mode(src / "suid") == 0o4755
        assert mode(src / "sgid") == 0o6755
        assert mode(src / "dir") == 0o755
        assert mode(src / "plain") == 0o4755
        assert got["security"] == got["rm_security"] == 0
        # trusted.* (and security.* but capability) need CAP_SYS_ADMIN, which
        # no sandboxed server keeps.
        assert got["trusted"] == errno.EPERM
        assert os.getxattr(src / "plain", "security.capability") == CAP_SETUID
        assert "security.capability" not in os.listxattr(src / "kept")


def test_chown_by_guest_root_clears_set_id_as_the_kernel_does(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    os.chmod(src / "f", 0o6755)
    sock = tmp_path / "s.sock"
    srv = serve(nb, src, sock)
    try:
        r = Raw(str(sock))
        r.init()
        _, node, _ = r.lookup(1, b"f")
        sa = struct.pack("<IIQQQQQQIIIIIIII", 2 | 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                         0, 0, 1000, 1000, 0)
        assert r.call(SETATTR, node, sa)[0] == 0
        r.s.close()
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    st = os.lstat(src / "f")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == 0o755


GUEST = ("cd /v && touch f && chmod 4755 f && mkdir d && chmod 6755 d && "
         "busybox mknod n c 1 3; busybox mknod p p; busybox stat -c '%a %n' f d; echo done")


def test_volume_is_nosuid_nodev_unless_its_options_say(nb, rootfs):  # noqa: F811
    vol = nb.tmp / "vol"
    lifted = nb.tmp / "lifted"
    vol.mkdir()
    lifted.mkdir()
    p = run(nb, rootfs, "-v", f"{vol}:/v", "--", "sh", "-c", GUEST)
    assert p.returncode == 0, p.stderr
    assert "done" in p.stdout
    assert {"755 f", "2755 d"} <= set(p.stdout.splitlines())       # the guest sees it too
    assert mode(vol / "f") == 0o755                                 # no setuid file on the host
    assert mode(vol / "d") == 0o2755
    assert not (vol / "n").exists()                                 # mknod c: refused
    assert "Operation not permitted" in p.stderr
    assert stat.S_ISFIFO(os.lstat(vol / "p").st_mode)               # FIFOs are not devices
    p = run(nb, rootfs, "-v", f"{lifted}:/v:rw,suid,dev", "--", "sh", "-c", GUEST)
    assert p.returncode == 0, p.stderr
    assert {"4755 f", "6755 d"} <= set(p.stdout.splitlines())
    assert mode(lifted / "f") == 0o4755
    assert mode(lifted / "d") == 0o6755
    assert stat.S_ISCHR(os.lstat(lifted / "n").st_mode)
    assert os.lstat(lifted / "n").st_rdev == os.makedev(1, 3)


def test_bad_volume_option_is_one_line_and_125(nb, rootfs):  # noqa: F811
    p = run(nb, rootfs, "-v", f"{nb.tmp}:/v:suid,exec", "--", "true")
    assert p.returncode == 125
    assert p.stderr.count("\n") == 1 and "unknown option 'exec'" in p.stderr


# --- listeners -------------------------------------------------------------------

PEER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(struct.pack("<IIQQIIIHH", 104, 26, 2, 0, 0, 0, 0, 0, 0)
              + struct.pack("<IIII", 7, 38, 65536, 0) + b"\0" * 48)
    print("answered" if s.recv(16) else "closed")
except (ConnectionResetError, BrokenPipeError):
    print("closed")
"""


def test_unix_listener_is_0600_and_checks_the_peer(nb, tmp_path):
    import sys
    import tempfile
    src = tmp_path / "src"
    src.mkdir()
    pub = tempfile.TemporaryDirectory(dir="/tmp")   # pytest's own dirs are 0700
    os.chmod(pub.name, 0o755)
    sock = os.path.join(pub.name, "s.sock")
    srv = nb.popen("fs", "serve", src, "--listen", f"unix:{sock}",
                   stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.umask(0))
    try:
        wait_for(lambda: os.path.exists(sock))
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600   # not the umask's 0777
        os.chmod(sock, 0o666)                  # the mode is not what keeps others out
        peer = lambda **kw: subprocess.run([sys.executable, "-c", PEER, str(sock)],
                                           capture_output=True, text=True, timeout=10,
                                           **kw)
        q = peer(user=65534, group=65534, extra_groups=[])
        assert q.stdout.strip() == "closed", q.stderr
        assert peer().stdout.strip() == "answered"            # root (the server's own uid) still served
    finally:
        srv.terminate()
        _, err = srv.communicate(timeout=10)
        pub.cleanup()
    assert "refused pid" in err and "uid 65534" in err


# --- the sandbox ------------------------------------------------------------------

CAP = {"chown": 0, "dac_override": 1, "fowner": 3, "fsetid": 4, "setgid": 6, "setuid": 7,
       "mknod": 27, "sys_admin": 21, "setfcap": 31, "net_admin": 12, "sys_ptrace": 19,
       "sys_chroot": 18, "dac_read_search": 2}


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def check_sandbox(pid, exported, want_caps, ro=False):
    """What a user checks of the process that serves EXPORTED: it sees only
    that directory, holds only WANT_CAPS, runs under seccomp, has no network."""
    st = status_of(pid)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    eff = int(st["CapEff"], 16)
    assert eff == sum(1 << CAP[c] for c in want_caps), hex(eff)
    assert int(st["CapBnd"], 16) == eff and int(st["CapInh"], 16) == 0
    with open(f"/proc/{pid}/mountinfo") as f:
        mounts = [line.split() for line in f]
    points = sorted(m[4] for m in mounts)
    assert points == ["/", "/export", "/proc"], points
    export = next(m for m in mounts if m[4] == "/export")
    assert export[3] == os.path.realpath(exported)     # the host directory, nothing else
    assert ("ro" in export[5].split(",")) == ro
    root = next(m for m in mounts if m[4] == "/")
    assert root[root.index("-") + 1] == "tmpfs" and "ro" in root[5].split(",")
    with open(f"/proc/{pid}/net/dev") as f:
        ifaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    assert ifaces == ["lo"]
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.listdir(f"/proc/{pid}/root/proc").count(str(1)) == 1    # it is pid 1 there
    assert sorted(d for d in os.listdir(f"/proc/{pid}/root/proc") if d.isdigit()) == ["1"]


@pytest.mark.parametrize("mode", ["rw", "ro", "devices"])
def test_fs_serve_runs_sandboxed(nb, tmp_path, mode):
    src = tmp_path / "src"
    src.mkdir()
    sock = tmp_path / "s.sock"
    args = {"rw": [], "ro": ["--read-only"], "devices": ["--allow-devices", "--nosuid"]}[mode]
    srv = serve(nb, src, sock, *args)
    try:
        wait_for(lambda: sandboxed(srv.pid))
        inner = sandboxed(srv.pid)
        base = ["chown", "dac_override", "fowner", "fsetid", "setgid", "setuid"]
        want = {"rw": base + ["setfcap"], "ro": ["dac_override"], "devices": base + ["mknod"]}
        wait_for(lambda: status_of(inner)["Seccomp"] == "2")
        check_sandbox(inner, src, want[mode], ro=mode == "ro")
        r = Raw(str(sock))                    # and it serves
        r.init()
        assert r.lookup(1, b"..")[0] == 0
        r.s.close()
    finally:
        srv.terminate()
        assert srv.wait(timeout=10) == 0
    assert not sock.exists()                  # the outer process removed it


def test_fs_serve_server_killed_exits_with_its_signal(nb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sock = tmp_path / "s.sock"
    srv = serve(nb, src, sock)
    wait_for(lambda: sandboxed(srv.pid))
    os.kill(sandboxed(srv.pid), 9)
    assert srv.wait(timeout=10) == 128 + 9
    assert not sock.exists()


def servers_of(pid):
    """{exported dir: the sandboxed process serving it} for the run PID."""
    out = {}
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = f.read().split()
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except FileNotFoundError:
            continue
        if argv[1:3] == [b"fs", b"serve"] and sandboxed(k):
            out[argv[-1].decode()] = sandboxed(k)
    return out


def test_run_serves_each_share_from_its_own_sandbox_and_fails_when_one_dies(nb, rootfs):  # noqa: F811
    vol = nb.tmp / "vol"
    vol.mkdir()
    p = nb.popen("run", "--rm", "--rootfs", rootfs, "-v", f"{vol}:/v", "--", "sh", "-c",
                 "echo up > /v/up; sleep 60", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True)
    try:
        wait_for(lambda: (vol / "up").exists(), timeout=60, what="the guest to write")
        srv = servers_of(p.pid)
        assert len(srv) == 2 and str(vol) in srv      # the root and the volume
        root = next(d for d in srv if d != str(vol))
        for inner in srv.values():
            wait_for(lambda: status_of(inner)["Seccomp"] == "2")
        # the image root: read-only, so DAC_OVERRIDE alone; a volume: no MKNOD, no SETFCAP
        check_sandbox(srv[root], root, ["dac_override"], ro=True)
        check_sandbox(srv[str(vol)], vol,
                      ["chown", "dac_override", "fowner", "fsetid", "setgid", "setuid"])
        # Two servers, two processes, neither the CLI.
        assert len(set(srv.values())) == 2 and p.pid not in srv.values()
        t0 = time.time()
        os.kill(srv[str(vol)], signal.SIGKILL)      # as if a guest had crashed it
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 125, err
    assert time.time() - t0 < 20
    assert f"the nestfs server for {vol} " in err
