"""Every subcommand has a man page, it builds, and `make install` installs it."""
import os
import re
import subprocess

from conftest import NESTBOX_BIN, ROOT

BUILD = os.environ.get("NESTBOX_BUILD", os.path.join(ROOT, "build"))


def commands():
    out = subprocess.run([NESTBOX_BIN, "--help"], capture_output=True, text=True,
                         check=True).stdout
    body = out.split("Commands:", 1)[1]
    return re.findall(r"^  (\S+)\s", body, re.M)


def test_help_lists_commands():
    assert "doctor" in commands()


def test_every_command_has_a_man_page():
    for cmd in commands():
        src = os.path.join(ROOT, "docs", "man", f"nestbox-{cmd}.1.scd")
        built = os.path.join(BUILD, "docs", "man", f"nestbox-{cmd}.1")
        assert os.path.exists(src), f"no man page source for '{cmd}'"
        assert os.path.exists(built), f"man page for '{cmd}' not built"
        with open(built) as f:
            roff = f.read()
        assert ".SH NAME" in roff
        assert f"nestbox-{cmd}" in roff


def test_nestbox_page_lists_every_command():
    with open(os.path.join(ROOT, "docs", "man", "nestbox.1.scd")) as f:
        page = f.read()
    missing = [c for c in commands() if f"*{c}*\n" not in page or f"*nestbox-{c}*(1)" not in page]
    assert not missing, f"nestbox(1) does not describe: {missing}"


def test_install_puts_binary_and_man_pages(tmp_path):
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(tmp_path),
                    "--no-rebuild", "--quiet"], check=True, capture_output=True)
    found = {os.path.relpath(os.path.join(d, f), tmp_path)
             for d, _, fs in os.walk(tmp_path) for f in fs}
    assert any(p.endswith("bin/nestbox") for p in found), found
    for cmd in ["nestbox"] + [f"nestbox-{c}" for c in commands()]:
        assert any(p.endswith(f"man/man1/{cmd}.1") for p in found), (cmd, found)
