"""What a guest sends that nestbox itself stores or prints: the output and
console logs are capped (run --log-size), the oldest output dropped first and
`logs` saying so; the guest's own strings in nestbox's messages (a failed
exec's, the console tail) have their control characters escaped, while the
command's stdout and stderr stay byte-exact."""
import glob
import os

import pytest

from test_run import rootfs  # noqa: F401  (fixture)

MIB = 1 << 20


def one_line_125(p):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def log_bytes(nb, name):
    """Bytes the VM's output.log and console.log (with their older halves) hold."""
    files = glob.glob(str(nb.runtime / "vms" / "*" / f"{name}*"))
    assert files, os.listdir(nb.runtime / "vms")
    return sum(os.path.getsize(f) for f in files)


def flood(nb, rootfs, name, mib, *opts):  # noqa: F811
    """A detached VM printing @mib MiB of zeros, then END; waited for."""
    p = nb.run("run", "-d", "--name", name, *opts, "--rootfs", rootfs, "--",
               "/bin/sh", "-c", f"dd if=/dev/zero bs=1M count={mib} 2>/dev/null; echo END",
               timeout=180)
    assert p.returncode == 0, p.stderr
    w = nb.run("wait", name, timeout=600)
    assert w.returncode == 0 and w.stdout.strip() == "0", (w.stdout, w.stderr)


def test_a_gib_of_output_stays_within_the_log_cap(nb, rootfs):  # noqa: F811
    flood(nb, rootfs, "flood", 1024, "--log-size", "2M")
    try:
        assert log_bytes(nb, "output.log") <= 2 * MIB
        p = nb.run("logs", "flood", capture_output=True, text=False)
        assert p.returncode == 0, p.stderr
        # the newest output, whole: zeros, then END
        assert p.stdout.endswith(b"\0" * 4096 + b"END\n")
        assert MIB // 2 < len(p.stdout) <= 2 * MIB
        note = p.stderr.decode()
        assert "bytes of output were dropped" in note and "--log-size" in note, note
        dropped = int(note.split("the oldest ")[1].split()[0])
        assert dropped + len(p.stdout) == 1024 * MIB + 4
    finally:
        nb.run("rm", "-f", "flood", timeout=120)


def test_the_default_log_cap(nb, rootfs):  # noqa: F811
    flood(nb, rootfs, "chatty", 48)
    try:
        assert log_bytes(nb, "output.log") <= 16 * MIB
        p = nb.run("logs", "chatty", capture_output=True, text=False)
        assert p.stdout.endswith(b"\0END\n") and b"dropped" in p.stderr
    finally:
        nb.run("rm", "-f", "chatty", timeout=120)


def test_log_size_is_checked(nb, rootfs):  # noqa: F811
    for bad, word in (("0", "at least 1M"), ("512k", "at least 1M"), ("-1", "sign"),
                      ("lots", "lots"), ("18014398509481985G", "too large")):
        msg = one_line_125(nb.run("run", "--rm", "--log-size", bad, "--rootfs", rootfs,
                                  "--", "true"))
        assert "--log-size" in msg and word in msg, msg


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rnestbox: fake"
SHOWN = "\\e]0;pwned\\a\\e[2J\\rnestbox: fake"


@pytest.mark.parametrize("detach", [False, True])
def test_guest_strings_in_messages_are_escaped(nb, rootfs, detach):  # noqa: F811
    mode = ["-d"] if detach else ["--rm"]
    # the guest's exec failure names the command it was given
    p = nb.run("run", *mode, "--rootfs", rootfs, "--", "/no" + HOSTILE)
    assert p.returncode == 127, (p.returncode, p.stderr)
    assert "\x1b" not in p.stderr and "\r" not in p.stderr, repr(p.stderr)
    assert f"/no{SHOWN}" in p.stderr, repr(p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1, repr(p.stderr)
    # and so does its failure to find a user (-u splits at ':')
    p = nb.run("run", *mode, "--rootfs", rootfs, "-u", "bob\x1b[2J\x9b1m", "--", "true")
    assert p.returncode != 0 and "\x1b" not in p.stderr, repr(p.stderr)
    assert "bob\\e[2J\\u009b1m" in p.stderr, repr(p.stderr)


def test_the_commands_own_output_stays_byte_exact(nb, rootfs):  # noqa: F811
    p = nb.run("run", "--rm", "--rootfs", rootfs, "--", "printf", "a\\033[2Jb\\r\\n",
               capture_output=True, text=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"a\x1b[2Jb\r\n"
