"""nestbox doctor on the real machine, as a user reads it."""
import json
import os


def test_doctor_table_names_accel_and_reason(nb):
    p = nb.run("doctor", check=True)
    lines = {l.split(None, 1)[0]: l for l in p.stdout.splitlines() if l.strip()}
    accel = lines["accelerator"]
    if not os.path.exists("/dev/kvm"):
        assert "tcg: no /dev/kvm" in accel
    assert "QEMU" in p.stdout
    assert p.stderr == ""


def test_doctor_json_is_stable(nb):
    p = nb.run("doctor", "--json", check=True)
    d = json.loads(p.stdout)
    for key in ("cpu", "hypervisor", "kvm", "devices", "qemu", "tsc", "depth", "decision"):
        assert key in d, key
    assert d["decision"]["accel"] in ("kvm", "tcg")
    assert d["decision"]["transport"] in ("vsock", "virtio-serial")
    assert d["kvm"]["present"] == os.path.exists("/dev/kvm")
    assert d["devices"]["fuse"] == os.path.exists("/dev/fuse")
    assert d["devices"]["vhost_vsock"] == os.path.exists("/dev/vhost-vsock")
    if not os.path.exists("/dev/kvm"):
        assert d["decision"]["accel"] == "tcg"
        assert d["decision"]["accel_reason"] == "no /dev/kvm"
        assert d["decision"]["transport"] == "virtio-serial"
    # The TSC frequency that TCG guests are given must be plausible (MHz..GHz).
    assert 100_000 < d["tsc"]["khz"] < 10_000_000
    assert d["depth"] == 0
    assert d["qemu"]["found"] is True
    assert d["qemu"]["version"].split(".")[0].isdigit()


def test_doctor_tsc_matches_kernel(nb):
    """The kernel's own calibration, when it logged one, agrees within 1%."""
    d = json.loads(nb.run("doctor", "--json", check=True).stdout)
    try:
        import subprocess
        log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    except OSError:
        log = ""
    import re
    m = re.search(r"tsc: (?:Refined TSC clocksource calibration|Detected): ([\d.]+) MHz", log)
    if m:
        khz = float(m.group(1)) * 1000
        assert abs(d["tsc"]["khz"] - khz) / khz < 0.01


def test_doctor_rejects_bad_argument(nb):
    p = nb.run("doctor", "extra")
    assert p.returncode == 125
    assert p.stderr.strip() == "nestbox: doctor: unexpected argument 'extra'"
    assert p.stdout == ""


def test_unknown_command(nb):
    p = nb.run("frobnicate")
    assert p.returncode == 125
    assert "unknown command 'frobnicate'" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
