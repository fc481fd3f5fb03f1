"""nestbox run --system and nestbox ssh: a bootable Debian 12 image boots its
own kernel and systemd, and is reached over ssh.

The image is built from Debian's packages by tests/make-system-image.sh
(systemd-sysv, openssh-server, Debian's kernel at /usr/lib/modules/V/vmlinuz)
and cached in $NESTBOX_TEST_CACHE (default /var/tmp/nestbox-test-cache),
keyed by the script and the package versions, so only the first run builds
it. It is imported once per session into a store the tests share (each test
keeps its own runtime dir, so records, processes and files are still checked
per test). Variants are the same layer plus one layer of whiteouts.

Each boot of systemd under TCG takes tens of seconds, so each test boots
once and checks everything that boot can show."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import io
import time

import pytest

from conftest import ROOT

CACHE = os.environ.get("NESTBOX_TEST_CACHE", "/var/tmp/nestbox-test-cache")
SCRIPT = os.path.join(ROOT, "tests", "make-system-image.sh")
BOOT = 900  # seconds a test may take: a boot under TCG on a loaded machine

pytestmark = [
    pytest.mark.skipif(shutil.which("mmdebstrap") is None,
                       reason="needs mmdebstrap (scripts/deps.sh installs it)"),
    pytest.mark.timeout(BOOT),
]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def whiteout_layer(paths):
    """A gzip'd tar layer of OCI whiteouts for PATHS (relative paths)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for p in paths:
            d = os.path.dirname(p)
            while d and d not in dirs:
                dirs.add(d)
                d = os.path.dirname(d)
        for d in sorted(dirs):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        for p in paths:
            ti = tarfile.TarInfo(os.path.join(os.path.dirname(p), ".wh." + os.path.basename(p)))
            t.addfile(ti, io.BytesIO(b""))
    return raw.getvalue()


def variant(base, out, tag, paths):
    """An OCI layout at OUT: BASE's image plus a layer deleting PATHS."""
    with open(os.path.join(base, "index.json")) as f:
        mdesc = json.load(f)["manifests"][0]
    blobs = os.path.join(base, "blobs", "sha256")
    with open(os.path.join(blobs, mdesc["digest"].split(":")[1])) as f:
        man = json.load(f)
    with open(os.path.join(blobs, man["config"]["digest"].split(":")[1])) as f:
        cfg = json.load(f)
    ob = os.path.join(out, "blobs", "sha256")
    os.makedirs(ob)
    for d in [l["digest"] for l in man["layers"]]:
        os.link(os.path.join(blobs, d.split(":")[1]), os.path.join(ob, d.split(":")[1]))

    def put(data):
        with open(os.path.join(ob, sha(data)), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + sha(data), "size": len(data)}

    tar = whiteout_layer(paths)
    cfg["rootfs"]["diff_ids"].append("sha256:" + sha(tar))
    import gzip
    layer = put(gzip.compress(tar, mtime=0))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    c = put(json.dumps(cfg).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    m = put(json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": c, "layers": man["layers"] + [layer]}).encode())
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    m["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [m]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


@pytest.fixture(scope="session")
def sysimage(tmp_path_factory):
    """(store dir, kernel version): the system image and its variants imported
    as localhost/system:{latest,nosshd,sshd-off,nokernel}."""
    out = os.path.join(CACHE, "system-image")
    t0 = time.time()
    p = subprocess.run(["bash", SCRIPT, out], capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, f"make-system-image.sh failed:\n{p.stderr[-3000:]}"
    print(f"system image ready in {time.time() - t0:.1f} s")
    kver = open(os.path.join(out, ".kernel")).read().strip()
    home = tmp_path_factory.mktemp("syshome")
    env = dict(os.environ, NESTBOX_HOME=str(home))
    bin_ = os.environ.get("NESTBOX_BIN", os.path.join(ROOT, "build", "nestbox"))

    def imp(layout, tag):
        r = subprocess.run([bin_, "import", f"oci:{layout}:{tag}"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr

    imp(out, "latest")
    work = tmp_path_factory.mktemp("variants")
    variants = {
        "nosshd": ["usr/sbin/sshd"],
        "sshd-off": ["etc/systemd/system/multi-user.target.wants/ssh.service",
                     "etc/systemd/system/sshd.service"],
        "nokernel": [f"usr/lib/modules/{kver}/vmlinuz"],
    }
    for tag, paths in variants.items():
        d = work / tag
        variant(out, str(d), tag, paths)
        r = subprocess.run([bin_, "import", f"oci:{d}:{tag}"], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    return str(home), kver


def refs(home):
    r = subprocess.run([os.environ.get("NESTBOX_BIN", os.path.join(ROOT, "build", "nestbox")),
                        "images", "--format", "json"],
                       env=dict(os.environ, NESTBOX_HOME=home), capture_output=True, text=True)
    return r.stdout


@pytest.fixture
def snb(nb, sysimage):
    """The nb runner, on the session's store that holds the system images."""
    home, kver = sysimage
    nb.env["NESTBOX_HOME"] = home
    nb.kver = kver
    return nb


def image(snb, tag):
    """The reference `import` gave the variant TAG."""
    out = refs(snb.env["NESTBOX_HOME"])
    names = re.findall(r'"(localhost/[^"]+:' + re.escape(tag) + ')"', out)
    assert names, f"no image with tag {tag} in {out}"
    return names[0]


def timed(snb, *args, **kw):
    t0 = time.time()
    p = snb.run(*args, timeout=kw.pop("timeout", BOOT - 60), **kw)
    p.wall = time.time() - t0
    print(f"nestbox {' '.join(map(str, args))[:80]}: {p.wall:.1f} s")
    return p


def records(snb):
    vms = os.path.join(snb.runtime, "vms")
    return os.listdir(vms) if os.path.isdir(vms) else []


def test_run_command_output_exit_kernel_resources_volumes(snb, tmp_path):
    """One boot: output and exit code come back, uname -r is the image's
    kernel, --memory/--cpus are seen, -v and -v :ro work, systemd is running
    with no failed unit, the journal stays off the root; nothing is left."""
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "keep").write_text("original\n")
    script = (
        "echo out-line; echo err-line >&2; echo KERNEL=$(uname -r); echo CPUS=$(nproc); "
        "echo MEM=$(awk '/MemTotal/ {print $2}' /proc/meminfo); "
        "echo from-guest > /mnt/rw/new; echo RO=$(cat /mnt/ro/keep); "
        "if echo x 2>/dev/null > /mnt/ro/keep; then echo ro-writable; fi; "
        "echo STATE=$(systemctl is-system-running --wait); "
        "echo FAILED=$(systemctl --failed --no-legend --plain | tr '\\n' ' '); "
        "echo FLUSH=$(systemctl is-enabled systemd-journal-flush.service); "
        "echo ROOT=$(findmnt -n -o FSTYPE /); "
        "echo PERSISTENT=$(ls /var/log/journal 2>/dev/null | wc -l); "
        "exit 42")
    p = timed(snb, "run", "--system", "--rm", "--memory", "768M", "--cpus", "2",
              "-v", f"{rw}:/mnt/rw", "-v", f"{ro}:/mnt/ro:ro",
              image(snb, "latest"), "--", "sh", "-c", script)
    assert p.returncode == 42, p.stderr
    assert p.stdout.startswith("out-line\n")
    assert "err-line" in p.stderr
    v = dict(line.split("=", 1) for line in p.stdout.split("\n") if "=" in line)
    assert v["KERNEL"] == snb.kver
    assert v["CPUS"] == "2"
    assert 600_000 < int(v["MEM"]) <= 768 * 1024
    assert v["RO"] == "original"
    assert "ro-writable" not in p.stdout
    assert (rw / "new").read_text() == "from-guest\n"
    assert (ro / "keep").read_text() == "original\n"
    assert v["STATE"] in ("running", "degraded"), p.stdout
    for unit in ("journal", "ssh", "random", "tmpfiles", "credential"):
        assert unit not in v["FAILED"], f"a unit nestbox is responsible for failed: {v}"
    assert v["FLUSH"] == "masked"
    assert v["ROOT"] == "overlay"
    assert v["PERSISTENT"] == "0"
    assert records(snb) == []


def test_detached_ssh_ps_logs_stop(snb):
    """-d returns once sshd answers and prints the name; ps shows the SSH
    address; nestbox ssh returns the command's code; the journal reaches
    logs; stop powers systemd off cleanly."""
    p = timed(snb, "run", "--system", "-d", "--name", "sysd", image(snb, "latest"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "sysd"
    ps = snb.run("ps", check=True).stdout
    m = re.search(r"127\.0\.0\.1:(\d+)->22/tcp", ps)
    assert m and "sysd" in ps, ps
    r = snb.run("ssh", "sysd", "--", "sh", "-c", "logger -t nbtest journal-line-$((6*7)); "
                "exit 7", timeout=120)
    assert r.returncode == 7, r.stderr
    deadline = time.time() + 60
    while "journal-line-42" not in snb.run("logs", "sysd").stdout:
        assert time.time() < deadline, "the journal never reached logs"
        time.sleep(1)
    # exec has no agent to reach in a system VM: refused at once, not a hang
    r = snb.run("exec", "sysd", "--", "true", timeout=60)
    assert r.returncode == 125 and "nestbox ssh" in r.stderr, r.stderr
    r = snb.run("ssh", "sysd", "--", "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=True)
    state = os.path.join(snb.runtime, "vms", records(snb)[0])
    pinned = open(os.path.join(state, "ssh", "known_hosts")).read().split()[1:3]
    assert r.stdout.split()[:2] == pinned
    assert os.stat(os.path.join(state, "ssh", "id_ed25519")).st_mode & 0o777 == 0o600
    # systemd's poweroff under TCG on a loaded host can take longer than
    # stop's default 10 s (after which the VM is killed): give it time, so
    # that the clean path is what this checks.
    t0 = time.time()
    snb.run("stop", "-t", "120", "sysd", check=True, timeout=200)
    print(f"stop: {time.time() - t0:.1f} s")
    assert time.time() - t0 < 120
    ps = snb.run("ps", "-a", check=True).stdout
    assert re.search(r"sysd", ps) and "Exited (0)" in ps, ps
    assert "reboot: Power down" in open(os.path.join(state, "console.log")).read()
    snb.run("rm", "sysd", check=True)


@pytest.mark.parametrize("path", ["smbios", "cmdline"])
def test_each_credential_path_alone(snb, path):
    """The client key reaches root's authorized_keys by SMBIOS type 11 alone
    (q35) and by the kernel command line alone (microvm)."""
    snb.env["NESTBOX_SYSTEM_CREDENTIALS"] = path
    p = timed(snb, "run", "--system", "--rm", image(snb, "latest"), "--", "sh", "-c",
              "cat /proc/cmdline; ls /sys/firmware/dmi/entries 2>/dev/null | grep -c '^11-';"
              " ls /run/credentials/@system")
    assert p.returncode == 0, p.stderr
    cmdline, smbios = p.stdout.split("\n")[:2]
    assert "ssh.authorized_keys.root" in p.stdout
    if path == "smbios":
        assert "set_credential" not in cmdline
        assert int(smbios) >= 1
    else:
        assert "systemd.set_credential=" in cmdline
        assert smbios == "0"


def test_sshd_disabled_fails_within_boot_timeout(snb):
    """An image whose sshd never starts: exit 125 within --boot-timeout, one
    message naming the last phase with the console tail; nothing left."""
    t0 = time.time()
    p = timed(snb, "run", "--system", "--rm", "--boot-timeout", "75s",
              image(snb, "sshd-off"), "--", "true")
    wall = time.time() - t0
    assert p.returncode == 125
    assert "boot timed out after 75 s" in p.stderr
    assert "last phase systemd" in p.stderr
    assert "console tail" in p.stderr and "systemd" in p.stderr.split("console tail")[1]
    assert wall < 75 + 30
    assert records(snb) == []


def test_refused_before_boot(snb):
    """No sshd, no kernel: refused at once with the path looked for."""
    for tag, what in (("nosshd", "/usr/sbin/sshd"), ("nokernel", "/usr/lib/modules")):
        p = snb.run("run", "--system", "--rm", image(snb, tag), "--", "true", timeout=120)
        assert p.returncode == 125, p.stderr
        assert what in p.stderr
        assert len(p.stderr.strip().split("\n")) == 1, p.stderr
    assert records(snb) == []


def test_sigkill_of_the_cli_leaves_nothing(snb):
    """The CLI killed while its command runs: the VM, its supervisor and its
    record go too."""
    proc = snb.popen("run", "--system", "--rm", image(snb, "latest"), "--", "sleep", "600",
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + BOOT - 120
    while not any(c.startswith("ssh ") for c in _descendants(proc.pid)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while records(snb) and time.time() < deadline:
        time.sleep(0.5)
    assert records(snb) == []


def _descendants(pid):
    """Command lines of the processes whose parent is PID."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
            cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(cmd)
    return out
