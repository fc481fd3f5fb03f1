"""Shared fixtures for nestbox's integration tests.

Every test gets its own temp dir, its own data and runtime dirs, a timeout
(pytest.ini), and a leak check: pytest is made a child subreaper, so any
process a test started (and any daemon those started) that is still alive
after the test is a leak; so is a new mount, and so is anything left in the
test's TMPDIR or runtime dir.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PR_SET_CHILD_SUBREAPER = 36


def _default_data_dir():
    if os.environ.get("NESTBOX_HOME"):
        return os.environ["NESTBOX_HOME"]
    if os.geteuid() == 0:
        return "/var/lib/nestbox"
    return os.path.expanduser("~/.local/share/nestbox")


NESTBOX_BIN = os.environ.get("NESTBOX_BIN", os.path.join(ROOT, "build", "nestbox"))
KERNELS_DIR = os.environ.get("NESTBOX_KERNELS", os.path.join(_default_data_dir(), "kernels"))

# Processes started by session-scoped fixtures (a registry, say): not leaks.
SESSION_PIDS = set()


def pytest_configure(config):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children():
    """PIDs whose parent is this pytest process, zombies reaped first."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    me = os.getpid()
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me and fields[0] != "Z":
            out[int(d)] = cmd
    return out


def mounts():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def leftovers(path):
    if not os.path.isdir(path):
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        found += [os.path.join(dirpath, n) for n in filenames + dirnames]
    return found


class Nestbox:
    """Runs the real nestbox binary with the test's own environment."""

    def __init__(self, tmp_path):
        self.bin = NESTBOX_BIN
        self.tmp = tmp_path
        self.home = tmp_path / "home"
        self.runtime = tmp_path / "run"
        self.tmpdir = tmp_path / "tmp"
        for p in (self.home, self.runtime, self.tmpdir):
            p.mkdir()
        self.env = dict(os.environ)
        self.env.update({
            "NESTBOX_HOME": str(self.home),
            "NESTBOX_RUNTIME_DIR": str(self.runtime),
            "NESTBOX_KERNELS": KERNELS_DIR,
            "TMPDIR": str(self.tmpdir),
        })

    def run(self, *args, check=False, timeout=120, **kw):
        """Run nestbox ARGS; returns CompletedProcess with text stdout/stderr."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        p = subprocess.run([self.bin, *map(str, args)], env=self.env,
                           timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"nestbox {' '.join(map(str, args))}: "
                                 f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def popen(self, *args, **kw):
        return subprocess.Popen([self.bin, *map(str, args)], env=self.env, **kw)


@pytest.fixture
def nb(tmp_path):
    """A Nestbox runner; fails the test if it leaks processes, mounts or files."""
    before_children = set(children())
    before_mounts = mounts()
    box = Nestbox(tmp_path)
    yield box

    deadline = time.time() + 10
    while True:
        leaked = {p: c for p, c in children().items()
                  if p not in before_children and p not in SESSION_PIDS}
        if not leaked or time.time() > deadline:
            break
        time.sleep(0.1)
    # Only mounts under this test's own directory: nestbox's TMPDIR, data and
    # runtime dirs and the test's mount points all live there, and a suite
    # running beside this one (another checkout) must not count as our leak
    # nor have its mounts taken down by our clean-up.
    mine = str(tmp_path) + "/"
    new_mounts = sorted(m for m in mounts() - before_mounts if m.startswith(mine))
    files = leftovers(box.tmpdir) + leftovers(box.runtime)
    # Clean up so one leak does not cascade into the next test's failure.
    for m in reversed(new_mounts):
        subprocess.run(["umount", "-l", m], capture_output=True)
    for p in leaked:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    problems = []
    if leaked:
        problems.append(f"leaked processes: {leaked}")
    if new_mounts:
        problems.append(f"leaked mounts: {new_mounts}")
    if files:
        problems.append(f"leaked files: {files[:20]}")
    assert not problems, "; ".join(problems)


@pytest.fixture(scope="session")
def kernel_dir():
    """The default guest kernel prepared by `make run`/`make check`."""
    d = os.path.join(KERNELS_DIR, "default")
    if not os.path.exists(os.path.join(d, "vmlinux")):
        pytest.fail(f"no default kernel in {d}: run `make kernel` first")
    return d


def have(cmd):
    return shutil.which(cmd) is not None
