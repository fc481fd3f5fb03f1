"""pjdfstest through nestfs: the same failures as the native filesystem under it.

Issue 13: with `nestbox fs serve DIR --allow-devices`, pjdfstest run as root in a
nestfs mount fails exactly what it fails natively (ext4 here), in every cache mode
nestbox uses by default (auto: `fs serve` and volumes; always: image roots); without
--allow-devices only the device-node cases are added. pjdfstest creates a block and a
char device in most of its type loops, and a refused mknod leaves every later step
of that iteration without its file, so "the device-node cases" are what a native run
fails when it, too, may not make device nodes: without CAP_MKNOD, and with
whiteouts (char 0:0, which need no capability) refused as the server refuses them
(pjdfstest_util.NODEV_SHIM). That run is the reference for the default server, and
the cascade is the same on both sides.

All runs of one test go at once (each is mostly waiting: its tests sleep to see
times move). 1 hop runs everywhere; 3 hops (a chain of serve/mount) when
NESTBOX_PJDFSTEST_CHAIN=1 (CI sets it). The suite is a tool for the tests, built from
its tarball (pjdfstest_util), and the test says so plainly when it is absent.
"""
import concurrent.futures
import os

import pytest

import pjdfstest_util as pjd
from conftest import NESTBOX_BIN, ROOT
from nestfs_util import Chain

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or os.geteuid() != 0,
                                reason="needs /dev/fuse and root")


@pytest.fixture(scope="module")
def suite():
    """The built suite, cached under the build dir by the tarball's hash."""
    path, why = pjd.tarball(ROOT)
    if why:
        pytest.skip(why)
    missing = pjd.missing_tools()
    if missing:
        pytest.skip(f"pjdfstest needs {', '.join(missing)} to build (scripts/deps.sh)")
    build = os.environ.get("NESTBOX_BUILD") or os.path.dirname(os.path.abspath(NESTBOX_BIN))
    return pjd.build(path, build)


def _run_all(nb, suite, tmp_path, hops, configs):
    """Run native (as it is, and refusing device nodes) and each nestfs config at once."""
    chains, jobs = [], {}
    try:
        for name, cache, devices in configs:
            src = tmp_path / f"{name}-src"
            src.mkdir()
            args = ["--cache", cache] + (["--allow-devices"] if devices else [])
            chain = Chain(nb, src, str(tmp_path / name), hops, serve_args=args)
            chains.append(chain)
            jobs[name] = (os.path.join(chain.top, "work"), False, devices)
        jobs["native"] = (str(tmp_path / "native"), False, True)
        jobs["native-nodev"] = (str(tmp_path / "native-nodev"), True, False)
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            futs = {n: ex.submit(pjd.run, suite, cwd, n, nodev=nodev)
                    for n, (cwd, nodev, _) in jobs.items()}
            results = {n: f.result() for n, f in futs.items()}
    finally:
        for c in chains:
            c.close()
    return results, {n: d for n, (_, _, d) in jobs.items()}


def _check(results, devices):
    report = [r.summary() for r in results.values()]
    problems = []
    for name, r in results.items():
        if name.startswith("native"):
            continue
        ref = results["native" if devices[name] else "native-nodev"]
        unlike = pjd.unlike_plans(r, ref)
        if unlike:
            report.append(f"{name}: not compared (planned unlike {ref.label}): "
                          + ", ".join(unlike))
        diff = pjd.compare(r, ref)
        if diff:
            problems.append(diff)
    print("\n".join(report))
    assert not problems, "\n".join(report + problems)


@pytest.mark.timeout(1200)
def test_pjdfstest_1hop(nb, suite, tmp_path):
    """1 hop, default cache mode and the image roots' mode, with and without devices."""
    results, devices = _run_all(nb, suite, tmp_path, 1, [
        ("auto-devices", "auto", True),
        ("always-devices", "always", True),
        ("auto", "auto", False),
    ])
    _check(results, devices)


@pytest.mark.timeout(2400)
@pytest.mark.skipif(os.environ.get("NESTBOX_PJDFSTEST_CHAIN") != "1",
                    reason="3 hops take long: set NESTBOX_PJDFSTEST_CHAIN=1 (CI does)")
def test_pjdfstest_3hops(nb, suite, tmp_path):
    """A chain of three serve/mount hops, each serving the mount of the one below."""
    results, devices = _run_all(nb, suite, tmp_path, 3, [
        ("auto-devices", "auto", True),
        ("always-devices", "always", True),
        ("auto", "auto", False),
    ])
    _check(results, devices)
