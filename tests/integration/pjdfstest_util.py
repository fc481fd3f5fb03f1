"""pjdfstest, the public POSIX filesystem conformance suite (github.com/pjd/pjdfstest,
BSD-2-Clause), as a tool for the tests: found, built once per tarball into the build
dir, run with prove, its TAP read back. Its code is never part of nestbox.

Where it comes from: $NESTBOX_PJDFSTEST, else ../shared/third_party/TARBALL next to
the checkout (/work/shared/third_party/README.md says how it is built and run).
"""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

TARBALL = "pjdfstest-85a8aea.tar.gz"
ENV = "NESTBOX_PJDFSTEST"
TOOLS = ("autoreconf", "automake", "libtoolize", "make", "cc", "perl", "prove")


def tarball(root):
    """The tarball's path, and None or why it cannot be used."""
    path = os.environ.get(ENV) or os.path.join(os.path.dirname(root), "shared",
                                               "third_party", TARBALL)
    if not os.path.isfile(path):
        return path, f"pjdfstest tarball {path} not found (set {ENV} to its path)"
    return path, None


def missing_tools():
    return [t for t in TOOLS if shutil.which(t) is None]


def build(path, cache_root):
    """Build pjdfstest from the tarball at PATH under CACHE_ROOT, once per tarball hash.

    Returns the suite's directory (the pjdfstest binary and tests/)."""
    with open(path, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(cache_root, f"pjdfstest-{key}")
    if os.access(os.path.join(out, "pjdfstest"), os.X_OK):
        return out
    os.makedirs(cache_root, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".pjdfstest-build-", dir=cache_root)
    try:
        subprocess.run(["tar", "-xzf", path, "-C", work], check=True, capture_output=True)
        tops = os.listdir(work)
        if len(tops) != 1:
            raise AssertionError(f"{path}: expected one top directory, found {tops}")
        src = os.path.join(work, tops[0])
        for cmd in (["autoreconf", "-ifs"], ["./configure"], ["make", "pjdfstest"]):
            p = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise AssertionError(f"pjdfstest build: {' '.join(cmd)}: exit "
                                     f"{p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        try:
            os.rename(src, out)
        except OSError:
            if not os.access(os.path.join(out, "pjdfstest"), os.X_OK):
                raise   # else another run finished the same build first
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# A native run's stand-in for a server that refuses device nodes. Dropping CAP_MKNOD
# (NODEV_WRAP) makes the kernel refuse char and block devices where the server does:
# after the path checks (ENAMETOOLONG, ENOTDIR, EEXIST, EACCES come first, from the
# kernel, on both sides). But a whiteout (char 0:0) needs no capability, and the
# server refuses it too; this LD_PRELOAD library makes pjdfstest's own mknod calls
# refuse it the same way: the real call runs (so its path checks answer first), and
# a whiteout it did make is taken away again with EPERM.
NODEV_WRAP = ("setpriv", "--bounding-set", "-mknod")
NODEV_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	int (*real)(int, const char *, mode_t, dev_t) =
		(int (*)(int, const char *, mode_t, dev_t))dlsym(RTLD_NEXT, "mknodat");
	int rc = real(dirfd, path, mode, dev);

	if (rc == 0 && S_ISCHR(mode) && dev == 0) {
		unlinkat(dirfd, path, 0);
		errno = EPERM;
		return -1;
	}
	return rc;
}

int mknod(const char *path, mode_t mode, dev_t dev)
{
	return mknodat(AT_FDCWD, path, mode, dev);
}
"""


def nodev_shim(suite):
    """The LD_PRELOAD library that refuses whiteouts (built next to the suite)."""
    so = os.path.join(suite, "nodev-shim.so")
    if not os.path.exists(so):
        c = so[:-3] + ".c"
        with open(c, "w") as f:
            f.write(NODEV_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", c, "-o", so + ".tmp", "-ldl"],
                       check=True, capture_output=True)
        os.rename(so + ".tmp", so)
    return so


class Result:
    """One run of the suite: what failed, per test file and test number."""

    def __init__(self, label, output, seconds):
        self.label, self.output, self.seconds = label, output, seconds
        self.files = {}        # "chmod/12.t" -> planned count
        self.results = 0       # test results seen
        self.failed = {}       # ("chmod/12.t", 3) -> the "not ok" line
        self._parse(output)

    def _parse(self, output):
        cur, seen = None, {}
        for line in output.splitlines():
            m = re.match(r"^(\S+/tests/(\S+\.t)) \.+ ?", line)
            if m:
                cur = m.group(2)
                self.files.setdefault(cur, 0)
                seen.setdefault(cur, set())
                continue
            if cur is None:
                continue
            m = re.match(r"^1\.\.(\d+)", line)
            if m:
                self.files[cur] = int(m.group(1))
                continue
            m = re.match(r"^(not )?ok (\d+)\b(.*)$", line)
            if not m:
                continue
            n = int(m.group(2))
            seen[cur].add(n)
            self.results += 1
            # As prove counts: a TODO that fails is no failure.
            if m.group(1) and "# TODO" not in m.group(3):
                self.failed[(cur, n)] = line[:300]
        for f, planned in self.files.items():
            for n in range(1, planned + 1):
                if n not in seen.get(f, ()):
                    self.failed.setdefault((f, n), f"test {n} of {f}: no result")
        if not self.files:
            raise AssertionError(f"{self.label}: prove gave no TAP:\n{output[-3000:]}")

    def summary(self):
        per = {}
        for f, _ in self.failed:
            per[f] = per.get(f, 0) + 1
        files = ", ".join(f"{f} x{n}" for f, n in sorted(per.items())) or "none"
        return (f"{self.label}: {len(self.failed)} of {self.results} failed "
                f"({len(self.files)} files, {self.seconds:.0f} s): {files}")


def run(suite, cwd, label, jobs=2, nodev=False, timeout=1200):
    """Run the whole suite as root with CWD (on the filesystem under test) as working dir.

    NODEV: refuse device nodes as a server without --allow-devices does."""
    os.makedirs(cwd, exist_ok=True)
    env = dict(os.environ)
    if nodev:
        env["LD_PRELOAD"] = nodev_shim(suite)
    start = time.time()
    p = subprocess.run([*(NODEV_WRAP if nodev else ()), "prove", "-r", f"-j{jobs}", "-v", os.path.join(suite, "tests")],
                       cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                       timeout=timeout)
    return Result(label, p.stdout + p.stderr, time.time() - start)


def unlike_plans(result, reference):
    """Test files the suite planned differently in the two runs: pjdfstest gates some
    cases on the filesystem's type (rename/22.t runs on EXT4, UFS and ZFS only)."""
    return sorted(f for f in set(result.files) | set(reference.files)
                  if result.files.get(f) != reference.files.get(f))


def compare(result, reference):
    """'' when RESULT failed exactly what REFERENCE failed, else what differs.

    Only files both runs planned alike are compared (unlike_plans())."""
    skip = set(unlike_plans(result, reference))
    mine = {k for k in result.failed if k[0] not in skip}
    ref = {k for k in reference.failed if k[0] not in skip}
    extra, gone = sorted(mine - ref), sorted(ref - mine)
    if not extra and not gone:
        return ""
    lines = [f"{result.label} differs from {reference.label}:"]
    lines += [f"  fails only here: {result.failed[k]}  [{k[0]}]" for k in extra[:25]]
    if len(extra) > 25:
        lines.append(f"  ... and {len(extra) - 25} more")
    lines += [f"  passes only here: {reference.failed[k]}  [{k[0]}]" for k in gone[:25]]
    if len(gone) > 25:
        lines.append(f"  ... and {len(gone) - 25} more")
    return "\n".join(lines)
