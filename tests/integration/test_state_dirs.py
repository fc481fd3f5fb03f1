"""The data and runtime directories are private: nestbox creates them 0700
and refuses one that another user could have planted or can write (a symlink,
someone else's directory, a directory writable by others), with one line and
exit 125, before it puts anything there."""
import os
import shutil
import subprocess

import pytest

from test_run import rootfs  # noqa: F401  (fixture)


def refused(p, path):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert str(path) in lines[0], lines[0]
    return lines[0]


def plant(tmp_path, kind):
    """A directory at tmp_path/planted as another local user could leave it."""
    d = tmp_path / "planted"
    if kind == "symlink":
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        d.symlink_to(real)
    elif kind == "foreign":
        d.mkdir(mode=0o700)
        os.chown(d, 61235, 61235)
    else:
        d.mkdir()
        os.chmod(d, 0o777)
    return d


WHY = {"symlink": "is a symlink", "foreign": "belongs to uid 61235",
       "writable": "writable by others"}


@pytest.mark.parametrize("kind", ["symlink", "foreign", "writable"])
def test_planted_runtime_dir_refused(nb, tmp_path, rootfs, kind):  # noqa: F811
    if kind == "foreign" and os.geteuid() != 0:
        pytest.skip("making a directory someone else's needs root")
    d = plant(tmp_path, kind)
    nb.env["NESTBOX_RUNTIME_DIR"] = str(d)
    for args in (["ps"], ["run", "--rootfs", rootfs, "--", "true"],
                 ["run", "-d", "--rootfs", rootfs, "--", "true"]):
        line = refused(nb.run(*args), d)
        assert WHY[kind] in line and "NESTBOX_RUNTIME_DIR" in line, line
    target = tmp_path / "real" if kind == "symlink" else d
    assert os.listdir(target) == []


@pytest.mark.parametrize("kind", ["symlink", "writable"])
def test_planted_data_dir_refused(nb, tmp_path, kind):
    d = plant(tmp_path, kind)
    nb.env["NESTBOX_HOME"] = str(d)
    line = refused(nb.run("images"), d)
    assert WHY[kind] in line and "NESTBOX_HOME" in line, line
    target = tmp_path / "real" if kind == "symlink" else d
    assert os.listdir(target) == []


def test_fresh_dirs_are_made_private(nb, tmp_path):
    nb.env["NESTBOX_HOME"] = str(tmp_path / "new" / "home")
    nb.env["NESTBOX_RUNTIME_DIR"] = str(tmp_path / "new" / "run")
    nb.run("images", check=True)
    nb.run("ps", check=True)
    for p in ("home", "run"):
        assert os.stat(tmp_path / "new" / p).st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to act as a second user")
def test_tmp_runtime_dir_made_first_by_another_user(tmp_path):
    """Without XDG_RUNTIME_DIR a user's state goes to /tmp/nestbox-UID, which
    any local user can create first."""
    from conftest import NESTBOX_BIN
    uid = 61000 + os.getpid() % 1000  # no such user: nothing else uses its dir
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, uid, uid)
    os.chmod(tmp_path, 0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NESTBOX_RUNTIME_DIR", "XDG_RUNTIME_DIR", "NESTBOX_HOME")}
    env["HOME"] = str(home)
    tmpdir = f"/tmp/nestbox-{uid}"
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", NESTBOX_BIN, "ps"]
    shutil.rmtree(tmpdir, ignore_errors=True)
    os.mkdir(tmpdir, 0o777)  # root's, as another user would leave it
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        line = refused(p, tmpdir)
        assert "belongs to uid 0" in line, line
        os.rmdir(tmpdir)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        st = os.lstat(tmpdir)
        assert st.st_uid == uid and st.st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
