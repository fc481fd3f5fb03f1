"""Helpers for the nestfs tests: start `nestbox fs serve` + `nestbox fs mount`
and take them down again, leaving no mount and no process behind."""
import os
import subprocess
import time


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sandboxed(pid):
    """The process that really serves for `fs serve` PID: its sandboxed child
    (the outer process only waits), once there is one."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except FileNotFoundError:
        return None
    return int(kids[0]) if kids else None


class Share:
    """DIR served over a unix socket and mounted at MNT by the real binary."""

    def __init__(self, nb, src, mnt, sock, serve_args=(), mount_args=()):
        self.nb, self.src, self.mnt, self.sock = nb, str(src), str(mnt), str(sock)
        os.makedirs(self.mnt, exist_ok=True)
        self.serve = self.mount = self.serve_log = self.mount_log = None
        try:
            self._start(nb, serve_args, mount_args)
        except BaseException:
            self.close()
            raise

    def _start(self, nb, serve_args, mount_args):
        # Logs go to files next to the socket: a pipe nobody reads could fill up.
        self.serve_log = open(self.sock + ".serve.log", "w+")
        self.mount_log = open(self.sock + ".mount.log", "w+")
        self.serve = nb.popen("fs", "serve", self.src, "--listen", f"unix:{self.sock}",
                              *serve_args, stderr=self.serve_log)
        wait_for(lambda: os.path.exists(self.sock) or self.serve.poll() is not None,
                 what="server socket")
        assert self.serve.poll() is None, self.log("serve")
        self.mount = nb.popen("fs", "mount", f"unix:{self.sock}", self.mnt, *mount_args,
                              stderr=self.mount_log)
        wait_for(lambda: mounted(self.mnt) or self.mount.poll() is not None, what="mount")
        assert self.mount.poll() is None, self.log("mount")

    def log(self, which):
        with open(self.sock + f".{which}.log") as f:
            return f.read()

    def umount(self):
        if mounted(self.mnt):
            subprocess.run(["umount", self.mnt], check=True)
        self.mount.wait(timeout=10)

    def close(self):
        if self.mount is not None and self.mount.poll() is None:
            if mounted(self.mnt):
                r = subprocess.run(["umount", self.mnt], capture_output=True)
                if r.returncode != 0:
                    subprocess.run(["umount", "-l", self.mnt], capture_output=True)
            try:
                self.mount.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.mount.kill()
                self.mount.wait()
        if mounted(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        if self.serve is not None and self.serve.poll() is None:
            self.serve.terminate()
            try:
                self.serve.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        for f in (self.serve_log, self.mount_log):
            if f:
                f.close()
        # Under the sanitizer build a report in either log fails the test.
        for which in ("serve", "mount"):
            path = self.sock + f".{which}.log"
            if os.path.exists(path):
                text = self.log(which)
                assert "Sanitizer" not in text and "runtime error" not in text, text


class Chain:
    """HOPS nestfs mounts stacked: DIR -> m1 -> m2 -> ... (each served from the last)."""

    def __init__(self, nb, src, base, hops, serve_args=(), mount_args=()):
        self.shares = []
        try:
            cur = str(src)
            for i in range(hops):
                s = Share(nb, cur, os.path.join(base, f"m{i + 1}"),
                          os.path.join(base, f"s{i + 1}.sock"), serve_args, mount_args)
                self.shares.append(s)
                cur = s.mnt
        except BaseException:
            self.close()
            raise
        self.top = cur

    def close(self):
        for s in reversed(self.shares):
            s.close()
