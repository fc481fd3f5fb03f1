#!/usr/bin/python3
"""Run every test of nestbox and print one closing line for all of them.

Unit tests are the cmocka binaries that meson registers (`meson test` runs
them too); here each runs with TAP output so that every case counts. The
source checks (scripts/check-*.py in CHECKS: the layout of docs/HACKING.md,
comments on functions and struct members) count as one unit test each.
Integration tests are pytest's, driving the built binary. The last line is
"N passed, N failed, N skipped"; the exit status is non-zero on any failure
or when no test ran at all.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_units(build):
    """Run each registered unit test with TAP output; return (pass, fail, skip)."""
    out = subprocess.run(["meson", "introspect", build, "--tests"],
                         check=True, capture_output=True, text=True).stdout
    passed = failed = skipped = 0
    for t in json.loads(out):
        env = dict(os.environ)
        env.update(t.get("env") or {})
        env["CMOCKA_MESSAGE_OUTPUT"] = "TAP"
        try:
            p = subprocess.run(t["cmd"], env=env, capture_output=True, text=True,
                               timeout=t.get("timeout") or 120,
                               cwd=t.get("workdir") or build)
        except subprocess.TimeoutExpired:
            print(f"unit {t['name']}: TIMEOUT")
            failed += 1
            continue
        ok = re.findall(r"^ok \d+", p.stdout, re.M)
        skip = re.findall(r"^ok \d+.*# SKIP", p.stdout, re.M)
        bad = re.findall(r"^not ok \d+.*$", p.stdout, re.M)
        passed += len(ok) - len(skip)
        skipped += len(skip)
        failed += len(bad)
        if p.returncode != 0 and not bad:
            failed += 1
            bad.append(f"exit status {p.returncode}")
        status = "FAIL" if bad else "ok"
        print(f"unit {t['name']}: {status} ({len(ok)} cases)")
        if bad:
            sys.stdout.write(p.stdout + p.stderr)
    return passed, failed, skipped


# The source checks run with the unit tests: each is one test, failed by a
# non-zero exit, with its output shown then.
CHECKS = [["check-layout.py"], ["check-comments.py", "--all"]]


def run_checks():
    """Run each script of CHECKS over the tree; return (pass, fail, 0)."""
    passed = failed = 0
    for c in CHECKS:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", c[0])] + c[1:],
                           capture_output=True, text=True, timeout=120)
        last = (p.stdout.strip().splitlines() or [""])[-1]
        if p.returncode == 0:
            passed += 1
            print(f"check {c[0]}: ok ({last})")
        else:
            failed += 1
            print(f"check {c[0]}: FAIL")
            sys.stdout.write(p.stdout + p.stderr)
    return passed, failed, 0


def run_fuzzers(build, seconds):
    """Run each libFuzzer target of a -Dfuzz=true build briefly; return (pass, fail, 0).

    Seeds come from tests/fuzz/corpus/NAME when it exists; what a run finds
    goes to a scratch corpus, never into the tree. A crash, leak or sanitizer
    report makes the fuzzer exit non-zero: that is one failed test."""
    import shutil
    import tempfile
    fdir = os.path.join(build, "tests", "fuzz")
    names = sorted(n for n in os.listdir(fdir) if n.startswith("fuzz_")
                   and os.path.isfile(os.path.join(fdir, n))
                   and os.access(os.path.join(fdir, n), os.X_OK)) if os.path.isdir(fdir) else []
    passed = failed = 0
    for n in names:
        with tempfile.TemporaryDirectory(prefix="nestbox-fuzz-") as scratch:
            corpus = os.path.join(scratch, "corpus")
            seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", n[len("fuzz_"):])
            if os.path.isdir(seeds):
                shutil.copytree(seeds, corpus)
            else:
                os.mkdir(corpus)
            # -timeout: an input that hangs is a failure with its artifact, not a
            # stuck suite; the outer timeout only guards against libFuzzer itself.
            try:
                p = subprocess.run([os.path.join(fdir, n), f"-max_total_time={seconds}",
                                    "-timeout=20", "-rss_limit_mb=2048",
                                    f"-artifact_prefix={scratch}/", corpus],
                                   capture_output=True, text=True, timeout=seconds + 120)
            except subprocess.TimeoutExpired as ex:
                p = subprocess.CompletedProcess(ex.cmd, -1, "", (ex.stderr or b"").decode(
                    errors="replace") + f"\n{n}: no end after {seconds + 120} s")
        if p.returncode == 0:
            passed += 1
            print(f"fuzz {n}: ok ({seconds} s)")
        else:
            failed += 1
            print(f"fuzz {n}: FAIL (exit {p.returncode})")
            sys.stdout.write(p.stderr[-4000:])
    return passed, failed, 0


def run_pytest(build, extra):
    """Run the integration suite; return (pass, fail, skip) from its JUnit XML."""
    xml = os.path.join(build, "pytest-junit.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    env = dict(os.environ)
    env["NESTBOX_BIN"] = os.path.abspath(os.path.join(build, "nestbox"))
    env["NESTBOX_BUILD"] = os.path.abspath(build)
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    cmd = [sys.executable, "-m", "pytest", os.path.join(ROOT, "tests", "integration"),
           "-p", "no:cacheprovider", "-rfEs", f"--junitxml={xml}"] + extra
    rc = subprocess.run(cmd, env=env, cwd=ROOT).returncode
    if not os.path.exists(xml):
        return 0, 1, 0
    passed = failed = skipped = 0
    root = ET.parse(xml).getroot()
    for suite in root.iter("testsuite"):
        tests = int(suite.get("tests", 0))
        f = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        s = int(suite.get("skipped", 0))
        passed += tests - f - s
        failed += f
        skipped += s
    if rc not in (0, 5) and failed == 0:
        failed = 1
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--fuzz", metavar="BUILD", help="also run the libFuzzer targets of BUILD")
    ap.add_argument("--fuzz-seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "15")))
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    up, uf, us = run_units(a.build)
    cp, cf, _ = run_checks()
    up, uf = up + cp, uf + cf
    ip = iff = isk = 0
    if a.fuzz:
        fp, ff, _ = run_fuzzers(a.fuzz, a.fuzz_seconds)
        up, uf = up + fp, uf + ff
    if not a.unit_only:
        ip, iff, isk = run_pytest(a.build, a.pytest_args)
    p, f, s = up + ip, uf + iff, us + isk
    print(f"unit: {up} passed, {uf} failed, {us} skipped; "
          f"integration: {ip} passed, {iff} failed, {isk} skipped")
    print(f"{p} passed, {f} failed, {s} skipped")
    return 1 if f or p == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
