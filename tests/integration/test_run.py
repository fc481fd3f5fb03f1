"""nestbox run: real QEMU (TCG here), the default kernel, a busybox rootfs.

Each VM boots in a couple of seconds under TCG; checks that a user would make
one at a time share a VM where that still asserts each of them."""
import fcntl
import hashlib
import json
import os
import re
import pty
import select
import shutil
import signal
import socket
import struct
import termios
import subprocess
import time
import urllib.request

import pytest

from conftest import have, leftovers

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ["sh", "echo", "cat", "ls", "true", "false", "sleep", "env", "id", "pwd",
           "nproc", "uname", "head", "dd", "wc", "kill", "touch", "mkdir", "grep",
           "httpd", "hostname", "test", "sha256sum", "stat", "printf", "rm", "stty"]


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory, kernel_dir):
    """A minimal image root: static busybox and its applets, passwd, group."""
    if not os.path.exists(BUSYBOX):
        pytest.fail("busybox-static is missing (bash scripts/deps.sh)")
    root = tmp_path_factory.mktemp("rootfs")
    os.chmod(root, 0o755)  # an image's / is world-readable; pytest's tmp dirs are not
    (root / "bin").mkdir()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for a in APPLETS:
        os.symlink("busybox", root / "bin" / a)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "notexec").write_text("#!/bin/sh\necho no\n")
    os.chmod(root / "notexec", 0o644)
    return root


def run(nb, rootfs, *args, **kw):
    """nestbox run --rm --rootfs ROOTFS [opts...] -- CMD..., split at '--'."""
    args = list(args)
    if "--" in args:
        i = args.index("--")
        opts, cmd = args[:i], args[i + 1:]
    else:
        opts, cmd = [], args
    return nb.run("run", "--rm", "--rootfs", rootfs, *opts, "--", *cmd, **kw)


@pytest.mark.parametrize("code", [0, 1, 42])
def test_exit_code_is_the_commands(nb, rootfs, code):
    p = run(nb, rootfs, "sh", "-c", f"exit {code}")
    assert p.returncode == code, p.stderr


def test_killed_command_gives_128_plus_signal(nb, rootfs):
    p = run(nb, rootfs, "sh", "-c", "kill -9 $$")
    assert p.returncode == 137, p.stderr


def test_not_found_127_not_executable_126(nb, rootfs):
    p = run(nb, rootfs, "no-such-command")
    assert p.returncode == 127
    assert "no-such-command" in p.stderr and "not found" in p.stderr
    p = run(nb, rootfs, "/notexec")
    assert p.returncode == 126
    assert "/notexec" in p.stderr


def test_one_vm_streams_env_workdir_user_resources(nb, rootfs, kernel_dir):
    """stdout and stderr apart; -e, -w, -u; --memory 1G, --cpus 2; uname -r;
    /etc/hostname, /etc/hosts, /etc/resolv.conf; all in one VM."""
    env_file = nb.tmp / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n\nOVERRIDE=file\n")
    script = ("echo to-stdout; echo to-stderr >&2; echo FOO=$FOO; echo FROM_FILE=$FROM_FILE; "
              "echo OVERRIDE=$OVERRIDE; echo PWD=$(pwd); echo ID=$(id -u):$(id -g); "
              "echo NPROC=$(nproc); grep MemTotal /proc/meminfo; echo KERNEL=$(uname -r); "
              "echo HOSTNAME=$(cat /etc/hostname); grep -c myvm /etc/hosts; cat /etc/resolv.conf")
    p = run(nb, rootfs, "-e", "FOO=bar baz", "--env-file", env_file, "-e", "OVERRIDE=flag",
            "-w", "/work/dir", "-u", "65534:65534", "--memory", "1G", "--cpus", "2",
            "--name", "myvm", "--", "sh", "-c", script)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert "to-stderr" not in p.stdout
    assert p.stderr.strip().splitlines()[-1] == "to-stderr"
    assert out[0] == "to-stdout"
    assert "FOO=bar baz" in out
    assert "FROM_FILE=yes" in out
    assert "OVERRIDE=flag" in out
    assert "PWD=/work/dir" in out
    assert "ID=65534:65534" in out
    assert "NPROC=2" in out
    mem_kb = int(next(line for line in out if line.startswith("MemTotal")).split()[1])
    assert abs(mem_kb - 1024 * 1024) <= 0.1 * 1024 * 1024, mem_kb
    kver = open(os.path.join(kernel_dir, "version")).read().strip()
    assert f"KERNEL={kver}" in out
    assert "HOSTNAME=myvm" in out
    assert "nameserver 10.0.2.3" in out


def test_50mib_binary_output_intact(nb, rootfs):
    vol = nb.tmp / "big"
    vol.mkdir()
    data = os.urandom(50 * 1024 * 1024)
    (vol / "blob").write_bytes(data)
    p = run(nb, rootfs, "-v", f"{vol}:/big:ro", "--", "cat", "/big/blob",
            text=False, timeout=240)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == len(data)
    assert hashlib.sha256(p.stdout).digest() == hashlib.sha256(data).digest()


def test_stdin_with_i_is_piped_through_and_ends(nb, rootfs):
    data = bytes(range(256)) * 4096 + b"\x00end"
    p = run(nb, rootfs, "-i", "--", "sha256sum", input=data, text=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    # A regular file as stdin (cannot be polled), larger than any buffer.
    big = nb.tmp / "stdin.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    with open(big, "rb") as f:
        p = run(nb, rootfs, "-i", "--", "sha256sum", stdin=f, text=False, timeout=240)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0].decode() == hashlib.sha256(big.read_bytes()).hexdigest()
    # Without -i the command reads an empty stdin instead of waiting.
    p = run(nb, rootfs, "cat", input="ignored")
    assert p.returncode == 0 and p.stdout == ""


def test_writes_to_root_vanish_with_the_vm(nb, rootfs):
    before = sorted(os.listdir(rootfs))
    p = run(nb, rootfs, "sh", "-c", "echo x > /written && rm /bin/true && test -e /written")
    assert p.returncode == 0, p.stderr
    p = run(nb, rootfs, "sh", "-c", "test ! -e /written && test -e /bin/true")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(rootfs)) == before


def test_volumes_rw_shows_on_host_ro_fails_with_erofs(nb, rootfs):
    rw = nb.tmp / "rw"
    ro = nb.tmp / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "keep").write_text("original\n")
    p = run(nb, rootfs, "-v", f"{rw}:/rw", "-v", f"{ro}:/ro:ro", "--", "sh", "-c",
            "echo from-guest > /rw/new && cat /ro/keep && "
            "if echo changed > /ro/keep; then echo WROTE; fi; touch /ro/other; exit 0")
    assert p.returncode == 0, p.stderr
    assert (rw / "new").read_text() == "from-guest\n"
    assert "original" in p.stdout and "WROTE" not in p.stdout
    assert "Read-only file system" in p.stderr
    assert (ro / "keep").read_text() == "original\n"
    assert not (ro / "other").exists()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_oci(tmp_path_factory):
    """The demo image (scripts/make-demo.sh) as an OCI layout."""
    from conftest import ROOT
    out = tmp_path_factory.mktemp("demo") / "oci"
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "make-demo.sh"), str(out)],
                   check=True, capture_output=True, timeout=120)
    return out


def test_image_config_and_publish_reach_the_demo_httpd(nb, demo_oci):
    """oci:DIR:TAG through the image store: its entrypoint runs a given command;
    with none, its Cmd serves httpd, which -p reaches from the host; SIGINT of
    the CLI then ends it all."""
    p = nb.run("run", "--rm", f"oci:{demo_oci}:latest", "--", "echo", "hello", timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello\n"
    port = free_port()
    proc = nb.popen("run", "--rm", "-p", f"{port}:80", f"oci:{demo_oci}:latest",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    body = None
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            break
        except OSError:
            time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=30)
    assert body, proc.stderr.read()
    assert rc == 130


def test_sigterm_of_the_cli_kills_the_vm(nb, rootfs):
    proc = nb.popen("run", "--rm", "--rootfs", rootfs, "--", "sh", "-c", "echo up; sleep 300",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    proc.terminate()
    assert proc.wait(timeout=30) == 143


def test_tty_ctrl_c_reaches_the_command(nb, rootfs):
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        os.execve(nb.bin, [nb.bin, "run", "--rm", "-it", "--rootfs", str(rootfs), "--",
                           "sh", "-c", "test -t 0 && echo is-a-tty; stty size; exec sleep 300"],
                  nb.env)
    out = b""
    deadline = time.time() + 90
    while b"is-a-tty" not in out and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    assert b"is-a-tty" in out, out
    while b"33 111" not in out and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            out += os.read(fd, 4096)
    assert b"33 111" in out, out  # the terminal's size, seen by the command
    time.sleep(0.5)
    os.write(fd, b"\x03")
    deadline = time.time() + 30
    while time.time() < deadline:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                pass
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"Ctrl-C did not end the command: {out!r}")
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, out


CLOCK = "/sys/devices/system/clocksource/clocksource0/current_clocksource"


def test_four_runs_in_parallel(nb, rootfs):
    """Four VMs on a loaded host each finish, and each guest's clock stays on
    the TSC: without tsc=reliable the kernel's clocksource watchdog, itself
    delayed by the load, took the TSC for unstable and fell back to jiffies
    (4 ms clock resolution) about 2 s into the boot."""
    accel = json.loads(nb.run("doctor", "--json", check=True).stdout)["decision"]["accel"]
    script = f"echo run-$0; sleep 3; dmesg | grep -c 'Marking TSC unstable'; cat {CLOCK}"
    procs = [nb.popen("run", "--rm", "--rootfs", rootfs, "--", "sh", "-c", script, str(i),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(4)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        lines = out.decode().split()
        assert lines[0] == f"run-{i}"
        if accel == "tcg":
            assert lines[1:] == ["0", "tsc"], out


def test_bad_input_is_one_line_and_125(nb, rootfs):
    cases = [
        (["run", "--rm", "--rootfs", nb.tmp / "missing", "--", "true"], "missing"),
        (["run", "--rm", "--rootfs", rootfs, "-p", "99999:80", "--", "true"], "99999"),
        (["run", "--rm", "--rootfs", rootfs, "-v", f"{nb.tmp}/nope:/x", "--", "true"], "nope"),
        (["run", "--rm", "--rootfs", rootfs, "--memory", "lots", "--", "true"], "lots"),
        (["run", "--rm", "--rootfs", rootfs, "--kernel", nb.tmp / "nokernel", "--", "true"],
         "nokernel"),
        (["run", "--rm", "--rootfs", rootfs], "command"),
        (["run", "--rm", "--name", "bad/name", "--rootfs", rootfs, "--", "true"], "bad/name"),
        (["run", "--rm", *[a for i in range(32) for a in ("-v", f"{rootfs}:/v{i}")],
          "--rootfs", rootfs, "--", "true"], "at most 31 volumes"),
    ]
    for args, word in cases:
        p = nb.run(*args)
        assert p.returncode == 125, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert word in p.stderr, p.stderr


@pytest.mark.parametrize("mode", [["--rm"], [], ["-d"]])
def test_bad_publish_and_memory_refused_before_anything_boots(nb, rootfs, mode):
    """Each value QEMU would have been handed unchecked gets 125 and one line
    naming the option and the reason; QEMU (a stand-in that leaves a mark)
    never starts, and no record is left (ps -a is empty)."""
    mark = nb.tmp / "qemu-started"
    fake = nb.tmp / "qemu-system-x86_64"
    fake.write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    fake.chmod(0o755)
    nb.env["NESTBOX_QEMU"] = str(fake)
    cases = [
        (["-p", "127.0.0.1,restrict=on:8080:80"], "--publish", "is not an IPv4 or IPv6 address"),
        (["-p", "8080:80:90"], "--publish", "'8080' is not an IPv4 or IPv6 address"),
        (["-p", "[::1]:8080:80"], "--publish", "IPv4 host addresses only"),
        (["-p", "1:2/sctp"], "--publish", "protocol"),
        (["--memory", "-1"], "--memory", "sign"),
        (["--memory", "18014398509481985G"], "--memory", "too large"),
        (["--memory", "1G1"], "--memory", "unknown unit"),
        (["--cpus", "-1"], "--cpus", "expected a number"),
        (["--boot-timeout", "nan"], "--boot-timeout", "expected a duration"),
    ]
    for opts, opt, reason in cases:
        p = nb.run("run", *mode, *opts, "--rootfs", rootfs, "--", "true")
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 125, (opts, p.stderr)
        assert len(lines) == 1, p.stderr
        assert opt in lines[0] and opts[1] in lines[0] and reason in lines[0], lines[0]
        assert not mark.exists(), (opts, "QEMU was started")
    assert json.loads(nb.run("ps", "-a", "--format", "json", check=True).stdout) == []


def test_boot_timeout_fails_125_with_console_lines(nb, rootfs):
    p = run(nb, rootfs, "--boot-timeout", "300ms", "--", "true")
    assert p.returncode == 125
    assert "boot timed out" in p.stderr


def test_detached_exec_ps_logs_stop_wait_rm(nb, rootfs):
    p = nb.run("run", "-d", "--name", "bg", "-e", "FROM_RUN=1", "-w", "/srv", "--rootfs",
               rootfs, "--", "sh", "-c", "echo started; echo to-err >&2; exec sleep 300",
               check=True)
    vm_id = p.stdout.strip()
    assert len(vm_id) == 12 and int(vm_id, 16) >= 0
    # The name is taken while the VM exists.
    again = nb.run("run", "-d", "--name", "bg", "--rootfs", rootfs, "--", "true")
    assert again.returncode == 125 and "already in use" in again.stderr
    ps = json.loads(nb.run("ps", "--format", "json", check=True).stdout)
    assert [(v["Id"], v["Names"], v["State"]) for v in ps] == [(vm_id, ["bg"], "running")]
    p = nb.run("exec", "bg", "sh", "-c", "echo in-exec $(cat /etc/hostname); exit 3")
    assert p.returncode == 3 and p.stdout == "in-exec bg\n", p.stderr
    # exec inherits the main command's environment and workdir, -e adds to it.
    p = nb.run("exec", "-e", "X=2", "bg", "sh", "-c", "echo $FROM_RUN $X $(pwd)")
    assert p.stdout == "1 2 /srv\n", p.stderr
    p = nb.run("exec", "-i", "bg", "cat", input="through exec\n")
    assert p.returncode == 0 and p.stdout == "through exec\n"
    assert nb.run("exec", "bg", "no-such-cmd").returncode == 127
    p = nb.run("rm", "bg")
    assert p.returncode == 125 and "running" in p.stderr
    logs = nb.run("logs", "bg", check=True)
    assert "started" in logs.stdout and "to-err" in logs.stderr
    nb.run("stop", "-t", "5", "bg", check=True)
    assert json.loads(nb.run("ps", "--format", "json", check=True).stdout) == []
    ps = json.loads(nb.run("ps", "-a", "--format", "json", check=True).stdout)
    assert ps[0]["State"] == "exited" and ps[0]["ExitCode"] == 143
    assert nb.run("wait", "bg", check=True).stdout.strip() == "143"
    p = nb.run("exec", "bg", "true")
    assert p.returncode == 125 and "not running" in p.stderr
    nb.run("rm", "bg", check=True)
    assert json.loads(nb.run("ps", "-a", "--format", "json", check=True).stdout) == []


def test_detached_wait_rm_and_rm_f(nb, rootfs):
    b = nb.run("run", "-d", "--name", "forever", "--rootfs", rootfs, "--", "sleep", "300",
               check=True).stdout.strip()
    a = nb.run("run", "-d", "--rm", "--rootfs", rootfs, "--", "sh", "-c", "sleep 3; exit 7",
               check=True).stdout.strip()
    assert nb.run("wait", a, check=True).stdout.strip() == "7"
    nb.run("rm", "-f", "forever", check=True)
    deadline = time.time() + 10
    while time.time() < deadline and json.loads(nb.run("ps", "-a", "--format", "json").stdout):
        time.sleep(0.2)
    assert json.loads(nb.run("ps", "-a", "--format", "json").stdout) == []
    assert b
    p = nb.run("run", "-d", "--rootfs", rootfs, "--", "no-such-command")
    assert p.returncode == 127 and "no-such-command" in p.stderr


def qemu_children_of(pid):
    """PIDs of QEMU processes whose parent is @pid."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid and "qemu-system" in exe:
            found.append(int(d))
    return found


def test_sigkill_of_the_cli_takes_qemu_along(nb, rootfs):
    proc = nb.popen("run", "--rm", "--rootfs", rootfs, "--", "sh", "-c", "echo up; sleep 300",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    qemus = qemu_children_of(proc.pid)
    assert len(qemus) == 1
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{qemus[0]}/exe"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{qemus[0]}/exe")


def test_killed_qemu_fails_125(nb, rootfs):
    proc = nb.popen("run", "--rm", "--rootfs", rootfs, "--", "sh", "-c", "echo up; sleep 300",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    for q in qemu_children_of(proc.pid):
        os.kill(q, signal.SIGKILL)
    assert proc.wait(timeout=30) == 125
    assert b"the VM stopped before the command finished" in proc.stderr.read()


def records(nb):
    return json.loads(nb.run("ps", "-a", "--format", "json", check=True).stdout)


def test_foreground_without_rm_leaves_a_container(nb, rootfs):
    """podman's semantics: ps -a, logs (streams apart, in order, binary), wait,
    name conflicts, rm; --rm leaves nothing."""
    script = ("echo o1; sleep 0.3; echo e1 >&2; sleep 0.3; echo o2; printf '\\000\\377' >&2; "
              "exit 3")
    tcp, udp = free_port(), free_port()
    p = nb.run("run", "--name", "fg", "-p", f"{tcp}:80", "-p", f"0.0.0.0:{udp}:53/udp",
               "--rootfs", rootfs, "--", "sh", "-c", script, text=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"o1\no2\n"
    ps = records(nb)
    assert len(ps) == 1
    r = ps[0]
    assert (r["Names"], r["State"], r["ExitCode"], r["Exited"]) == (["fg"], "exited", 3, True)
    assert r["Ports"] == f"127.0.0.1:{tcp}->80/tcp, 0.0.0.0:{udp}->53/udp"
    assert r["Status"].startswith("Exited (3)") and r["Detached"] is False
    assert json.loads(nb.run("ps", "--format", "json", check=True).stdout) == []
    table = nb.run("ps", "-a", check=True).stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    assert r["Id"] in table[1] and "Exited (3)" in table[1] and table[1].endswith("fg")
    # logs: each stream to its own fd, binary-safe; merged, in the original order.
    logs = nb.run("logs", "fg", text=False, check=True)
    assert logs.stdout == b"o1\no2\n"
    assert logs.stderr == b"e1\n\x00\xff"
    merged = nb.run("logs", "fg", text=False, stderr=subprocess.STDOUT, capture_output=False,
                    stdout=subprocess.PIPE, check=True)
    assert merged.stdout == b"o1\ne1\no2\n\x00\xff"
    assert nb.run("wait", "fg", check=True).stdout == "3\n"
    # The name is taken until rm, in the foreground, with --rm and with -d.
    for extra in ([], ["--rm"], ["-d"]):
        again = nb.run("run", *extra, "--name", "fg", "--rootfs", rootfs, "--", "true")
        assert again.returncode == 125, (extra, again.stderr)
        assert "already in use" in again.stderr and r["Id"] in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
    assert nb.run("rm", "fg", check=True).stdout == "fg\n"
    assert records(nb) == []
    assert leftovers(nb.runtime) == []
    # Unnamed: a generated adjective_name; --rm: no record at all.
    p = nb.run("run", "--rootfs", rootfs, "--", "true", check=True)
    (r,) = records(nb)
    assert re.fullmatch(r"[a-z]+_[a-z]+[0-9]*", r["Names"][0]), r
    assert r["ExitCode"] == 0
    nb.run("rm", r["Id"], check=True)
    nb.run("run", "--rm", "--rootfs", rootfs, "--", "true", check=True)
    assert records(nb) == []
    assert leftovers(nb.runtime) == []


def test_foreground_stop_wait_exec_and_a_killed_cli(nb, rootfs):
    """A running foreground VM: ps says Up, exec works, wait blocks until stop
    ends it with 143; a SIGKILLed CLI takes its VM along and its record says
    exited, code unknown."""
    stopped = nb.popen("run", "--name", "fgstop", "--rootfs", rootfs, "--", "sh", "-c",
                       "echo up; exec sleep 300", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    killed = nb.popen("run", "--name", "fgkill", "--rootfs", rootfs, "--", "sh", "-c",
                      "echo up; exec sleep 300", stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    assert stopped.stdout.readline() == b"up\n"
    assert killed.stdout.readline() == b"up\n"
    running = {r["Names"][0]: r for r in json.loads(nb.run("ps", "--format", "json").stdout)}
    assert {n: r["State"] for n, r in running.items()} == {"fgstop": "running",
                                                          "fgkill": "running"}
    assert running["fgstop"]["Pid"] == stopped.pid
    # exec reaches it as it reaches a -d VM; its output is not the VM's log.
    p = nb.run("exec", "fgstop", "sh", "-c", "echo in-fg $(cat /etc/hostname); exit 4")
    assert (p.returncode, p.stdout) == (4, "in-fg fgstop\n"), p.stderr
    p = nb.run("exec", "-i", "fgstop", "cat", input="through exec\n")
    assert (p.returncode, p.stdout) == (0, "through exec\n"), p.stderr
    assert nb.run("logs", "fgstop", check=True).stdout == "up\n"
    assert nb.run("rm", "fgstop").returncode == 125
    waiter = nb.popen("wait", "fgstop", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    assert waiter.poll() is None
    nb.run("stop", "-t", "10", "fgstop", check=True)
    assert stopped.wait(timeout=30) == 143
    assert waiter.communicate(timeout=30)[0] == b"143\n"
    qemus = qemu_children_of(killed.pid)
    assert len(qemus) == 1
    killed.kill()
    killed.wait(timeout=10)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{qemus[0]}/exe"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{qemus[0]}/exe")
    after = {r["Names"][0]: r for r in records(nb)}
    assert (after["fgstop"]["State"], after["fgstop"]["ExitCode"]) == ("exited", 143)
    assert (after["fgkill"]["State"], after["fgkill"]["ExitCode"]) == ("exited", -1)
    assert after["fgkill"]["Status"] == "Exited (unknown)"
    assert "fgkill" in nb.run("ps", "-a").stdout and "fgkill" not in nb.run("ps").stdout
    assert nb.run("logs", "fgkill", check=True).stdout == "up\n"
    nb.run("rm", "fgstop", "fgkill", check=True)
    assert records(nb) == []


def test_detached_logs_keep_streams_apart_and_follow(nb, rootfs):
    nb.run("run", "-d", "--name", "dlog", "--rootfs", rootfs, "--", "sh", "-c",
           "echo out; echo err >&2; sleep 2; echo late; printf '\\000\\001' >&2", check=True)
    # -f replays what is there, then follows until the VM is gone.
    logs = nb.run("logs", "-f", "dlog", text=False, check=True, timeout=60)
    assert logs.stdout == b"out\nlate\n"
    assert logs.stderr == b"err\n\x00\x01"
    assert nb.run("wait", "dlog", check=True).stdout == "0\n"
    logs = nb.run("logs", "dlog", text=False, check=True)
    assert (logs.stdout, logs.stderr) == (b"out\nlate\n", b"err\n\x00\x01")
    nb.run("rm", "dlog", check=True)
    assert leftovers(nb.runtime) == []


def test_foreground_record_of_a_vm_that_died_or_never_booted(nb, rootfs):
    """A VM killed under its running command keeps its record, exited 125; a
    run that failed before its command started (boot timeout) leaves none."""
    proc = nb.popen("run", "--name", "died", "--rootfs", rootfs, "--", "sh", "-c",
                    "echo up; sleep 300", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"up\n"
    for q in qemu_children_of(proc.pid):
        os.kill(q, signal.SIGKILL)
    assert proc.wait(timeout=30) == 125
    (r,) = records(nb)
    assert (r["Names"], r["State"], r["ExitCode"]) == (["died"], "exited", 125)
    assert nb.run("logs", "died", check=True).stdout == "up\n"
    nb.run("rm", "died", check=True)
    p = nb.run("run", "--name", "noboot", "--boot-timeout", "300ms", "--rootfs", rootfs, "--",
               "true")
    assert p.returncode == 125 and "boot timed out" in p.stderr
    assert records(nb) == []
    assert leftovers(nb.runtime) == []
