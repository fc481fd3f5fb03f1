"""The image store against a real registry (Debian's docker-registry on
127.0.0.1), skopeo-made archives, and hostile layers.

Images are made here, by hand: layers are tarballs written with Python's
tarfile (so that hostile ones can be made too), put in an OCI layout, and
pushed with skopeo. Each registry is session-scoped; each test has its own
store (the `nb` fixture's NESTBOX_HOME)."""
import base64
import gzip
import hashlib
import http.client
import http.server
import threading
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tarfile
import time

import pytest

from conftest import SESSION_PIDS, have

pytestmark = pytest.mark.skipif(
    not (have("docker-registry") and have("skopeo")),
    reason="needs docker-registry and skopeo (scripts/deps.sh installs them)")

BUSYBOX = "/bin/busybox"
MTIME = 1700000000


# ---------------------------------------------------------------- image making

def tar_bytes(entries, compress="gzip"):
    """entries: list of (name, kind, arg, mode) -> layer bytes.

    kind: 'file' (arg = bytes), 'dir', 'symlink' (arg = target),
    'hardlink' (arg = target name)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, arg, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            ti.mode = mode
            ti.uid = ti.gid = 0
            if kind == "file":
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
                continue
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = arg
            t.addfile(ti)
    data = raw.getvalue()
    if compress == "gzip":
        return data, gzip.compress(data, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if compress == "zstd":
        z = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                           check=True).stdout
        return data, z, "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, data, "application/vnd.oci.image.layer.v1.tar"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    """An OCI image layout under construction."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = []

    def blob(self, data):
        d = sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"digest": d, "size": len(data)}

    def image(self, layers, arch="amd64", cmd=None, env=None, forged_diff_ids=None):
        """layers: list of entry lists or (entries, compress). Returns the manifest desc.

        forged_diff_ids: what the config declares instead of the layers' own."""
        descs, diff_ids = [], []
        for l in layers:
            entries, comp = l if isinstance(l, tuple) else (l, "gzip")
            raw, blob, mt = tar_bytes(entries, comp)
            descs.append(dict(self.blob(blob), mediaType=mt))
            diff_ids.append(sha(raw))
        cfg = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
               "config": {"Cmd": cmd or ["/bin/sh"], "Env": env or ["PATH=/bin"],
                          "WorkingDir": "/"},
               "rootfs": {"type": "layers", "diff_ids": forged_diff_ids or diff_ids}}
        c = self.blob(json.dumps(cfg).encode())
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": dict(c, mediaType="application/vnd.oci.image.config.v1+json"),
               "layers": descs}
        m = self.blob(json.dumps(man).encode())
        return dict(m, mediaType="application/vnd.oci.image.manifest.v1+json",
                    platform={"architecture": arch, "os": "linux"})

    def tag(self, desc, tag):
        d = {k: v for k, v in desc.items() if k != "platform"}
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(d)
        self.write()

    def tag_index(self, descs, tag):
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": descs}
        i = self.blob(json.dumps(idx).encode())
        self.index.append(dict(i, mediaType="application/vnd.oci.image.index.v1+json",
                               annotations={"org.opencontainers.image.ref.name": tag}))
        self.write()

    def write(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.index}, f)


def f(name, data=b"", mode=0o644):
    return (name, "file", data, mode)


def d(name, mode=0o755):
    return (name, "dir", None, mode)


def ln(name, target):
    return (name, "symlink", target, 0o777)


def hl(name, target):
    return (name, "hardlink", target, 0o644)


def base_layer():
    with open(BUSYBOX, "rb") as fh:
        bb = fh.read()
    return [d("bin"), f("bin/busybox", bb, 0o755), ln("bin/sh", "busybox"),
            d("etc"), f("etc/hello", b"hello from layer 1\n"),
            d("d"), f("d/a", b"a"), f("d/b", b"b"),
            d("opq"), f("opq/x", b"x"), d("opq/sub"), f("opq/sub/y", b"y"),
            f("gone", b"gone"), f("mode", b"m", 0o4750),
            d("dev"), ("dev/null", "chr", (1, 3), 0o666)]


def top_layer():
    return [f("d/.wh.a"), f(".wh.gone"),
            d("opq"), f("opq/.wh..wh..opq"), f("opq/z", b"z"),
            f("new", b"new file\n", 0o600), hl("newlink", "new"), ln("sl", "new")]


# ---------------------------------------------------------------- registries

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    def __init__(self, root, htpasswd=None, tls=False):
        self.root = root
        self.storage = os.path.join(root, "storage")
        os.makedirs(self.storage)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
               "storage": {"filesystem": {"rootdirectory": self.storage},
                           "delete": {"enabled": True}},
               "http": {"addr": self.host}}
        if htpasswd:
            cfg["auth"] = {"htpasswd": {"realm": "nestbox-test", "path": htpasswd}}
        if tls:
            key, crt = os.path.join(root, "key.pem"), os.path.join(root, "crt.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", crt, "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            cfg["http"]["tls"] = {"certificate": crt, "key": key}
        path = os.path.join(root, "config.yml")
        with open(path, "w") as fh:
            json.dump(cfg, fh)  # JSON is YAML
        self.log = open(os.path.join(root, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        SESSION_PIDS.add(self.proc.pid)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"docker-registry did not start: "
                                       f"{open(os.path.join(root, 'registry.log')).read()}")
                time.sleep(0.05)

    def push(self, layout, tag, name, all_=False, creds=None):
        cmd = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
        if all_:
            cmd.append("--all")
        if creds:
            cmd += ["--dest-creds", creds]
        cmd += [f"oci:{layout}:{tag}", f"docker://{self.host}/{name}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return f"{self.host}/{name}"

    def blob_path(self, digest):
        h = digest.split(":")[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256",
                            h[:2], h, "data")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        SESSION_PIDS.discard(self.proc.pid)
        self.log.close()


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Layouts built once: 'multi' (2 layers + zstd), 'single', 'shared' (single's
    layer + one more), 'multiarch' (index amd64 + arm64), 'big' (incompressible)."""
    root = tmp_path_factory.mktemp("layouts")
    lay = Layout(str(root / "oci"))
    base = base_layer()
    multi = lay.image([base, top_layer(), ([f("zst", b"zstd layer\n")], "zstd")])
    lay.tag(multi, "multi")
    single = lay.image([base])
    lay.tag(single, "single")
    shared = lay.image([base, [f("extra", b"extra\n")]])
    lay.tag(shared, "shared")
    amd = lay.image([base, [f("arch", b"amd64\n")]], arch="amd64")
    arm = lay.image([base, [f("arch", b"arm64\n")]], arch="arm64")
    lay.tag_index([amd, arm], "multiarch")
    big = lay.image([[f("big", os.urandom(24 << 20))], [f("big2", os.urandom(8 << 20))]])
    lay.tag(big, "big")
    return lay


@pytest.fixture(scope="session")
def registry(tmp_path_factory, images):
    reg = Registry(str(tmp_path_factory.mktemp("registry")))
    for t in ("multi", "single", "shared", "big"):
        reg.push(images.path, t, f"test/{t}:latest")
    reg.push(images.path, "multiarch", "test/multiarch:latest", all_=True)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory, images):
    root = str(tmp_path_factory.mktemp("authreg"))
    pw = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True,
                        text=True, check=True).stdout
    hp = os.path.join(root, "htpasswd")
    with open(hp, "w") as fh:
        fh.write(pw)
    reg = Registry(os.path.join(root, "r"), htpasswd=hp, tls=True)
    reg.push(images.path, "single", "private/img:1", creds="alice:s3cret")
    yield reg
    reg.stop()


class TokenProxy:
    """A registry front that asks for Bearer tokens, as Docker Hub does, and
    forwards to a real registry. It can cut a blob's first answer short to
    make a transient failure (the client must retry and resume)."""

    def __init__(self, upstream, user=None, password=None):
        self.upstream = upstream
        self.token = "tok-" + os.urandom(8).hex()
        self.cut_once = set()       # blob digests whose next answer is cut
        self.ranges = []            # Range headers seen on blob requests
        self.token_requests = []    # (query, had basic auth)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/token"):
                    auth = self.headers.get("Authorization", "")
                    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                    proxy.token_requests.append((self.path, auth.startswith("Basic ")))
                    if user and auth != want:
                        return self.reply(401, b"{}")
                    return self.reply(200, json.dumps({"token": proxy.token}).encode())
                if self.headers.get("Authorization") != f"Bearer {proxy.token}":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate",
                                     f'Bearer realm="http://{proxy.host}/token",'
                                     f'service="nestbox-test",scope="repository:x:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                c = http.client.HTTPConnection(proxy.upstream, timeout=30)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("accept", "range")}
                if "/blobs/" in self.path and "Range" in self.headers:
                    proxy.ranges.append(self.headers["Range"])
                c.request("GET", self.path, headers=hdrs)
                r = c.getresponse()
                body = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "docker-content-digest", "content-range",
                                     "content-length", "location"):
                        self.send_header(k, v)
                self.end_headers()
                digest = self.path.rsplit("/", 1)[-1]
                if "/blobs/" in self.path and digest in proxy.cut_once and len(body) > 1000:
                    proxy.cut_once.discard(digest)
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_proxy(registry):
    p = TokenProxy(registry.host, "bob", "pw")
    yield p
    p.stop()


# ---------------------------------------------------------------- helpers

def rootfs(nb, ref):
    p = nb.run("inspect", ref, check=True)
    return json.loads(p.stdout)[0]["RootFS"]


def store(nb, *parts):
    return os.path.join(str(nb.home), "images", *parts)


def image_list(nb):
    return json.loads(nb.run("images", "--format", "json", check=True).stdout)


def one_line_error(p):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


# ---------------------------------------------------------------- tests

def test_pull_multilayer_whiteouts_opaque(nb, registry):
    ref = f"{registry.host}/test/multi"
    p = nb.run("pull", "--tls-verify=false", ref, check=True)
    image_id = p.stdout.strip()
    assert len(image_id) == 64
    root = rootfs(nb, ref)
    rd = lambda n: open(os.path.join(root, n), "rb").read()
    assert rd("etc/hello") == b"hello from layer 1\n"
    assert not os.path.lexists(os.path.join(root, "d/a"))      # whiteout
    assert rd("d/b") == b"b"
    assert not os.path.lexists(os.path.join(root, "gone"))     # whiteout at the root
    assert sorted(os.listdir(os.path.join(root, "opq"))) == ["z"]  # opaque dir
    assert rd("zst") == b"zstd layer\n"                        # zstd layer
    st, lst = os.stat(os.path.join(root, "new")), os.stat(os.path.join(root, "newlink"))
    assert st.st_ino == lst.st_ino                             # hard link
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime == MTIME
    assert os.readlink(os.path.join(root, "sl")) == "new"
    assert stat.S_IMODE(os.stat(os.path.join(root, "mode")).st_mode) == 0o4750
    assert os.readlink(os.path.join(root, "bin/sh")) == "busybox"
    assert os.stat(os.path.join(root, "etc")).st_mtime == MTIME  # directory times, last
    if os.geteuid() == 0:                                        # devices only as root
        dev = os.stat(os.path.join(root, "dev/null"))
        assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1
    # listed under its normalized name, with tag; inspect by ID prefix works too
    imgs = image_list(nb)
    assert [i["Names"] for i in imgs] == [[f"{ref}:latest"]]
    assert imgs[0]["Id"] == image_id
    assert json.loads(nb.run("inspect", image_id[:12], check=True).stdout)[0]["RootFS"] == root
    table = nb.run("images", check=True).stdout
    assert f"{ref} " in table and "latest" in table and image_id[:12] in table
    # a second pull is a no-op that gives the same ID
    assert nb.run("pull", "--tls-verify=false", ref, check=True).stdout.strip() == image_id


def test_layers_shared_by_chain(nb, registry):
    nb.run("pull", "--tls-verify=false", f"{registry.host}/test/single", check=True)
    nb.run("pull", "--tls-verify=false", f"{registry.host}/test/shared", check=True)
    trees = os.listdir(store(nb, "rootfs"))
    assert len(trees) == 2, trees         # base chain once, plus shared's top
    r1 = rootfs(nb, f"{registry.host}/test/single")
    r2 = rootfs(nb, f"{registry.host}/test/shared")
    assert os.path.exists(os.path.join(r2, "extra")) and not os.path.exists(os.path.join(r1, "extra"))
    # the child tree shares the parent's files (hard links), never changing them
    assert os.stat(os.path.join(r1, "bin/busybox")).st_ino == \
        os.stat(os.path.join(r2, "bin/busybox")).st_ino


def test_pull_by_digest_and_index_platforms(nb, registry, images):
    ref = f"{registry.host}/test/multiarch"
    nb.run("pull", "--tls-verify=false", ref, check=True)
    assert open(os.path.join(rootfs(nb, ref), "arch")).read() == "amd64\n"
    nb.run("pull", "--tls-verify=false", "--platform", "linux/arm64", ref, check=True)
    assert open(os.path.join(rootfs(nb, ref), "arch")).read() == "arm64\n"
    msg = one_line_error(nb.run("pull", "--tls-verify=false", "--platform", "linux/s390x", ref))
    assert "linux/s390x" in msg and "linux/amd64" in msg and "linux/arm64" in msg
    # by digest of the index
    idx = [m for m in images.index if m["annotations"]["org.opencontainers.image.ref.name"]
           == "multiarch"][0]["digest"]
    nb.run("pull", "--tls-verify=false", f"{ref}@{idx}", check=True)
    assert open(os.path.join(rootfs(nb, f"{ref}@{idx}"), "arch")).read() == "amd64\n"
    bad = "sha256:" + "0" * 64
    msg = one_line_error(nb.run("pull", "--tls-verify=false", f"{ref}@{bad}"))
    assert "not found" in msg


def test_plain_http_needs_tls_verify_false(nb, registry, tmp_path):
    ref = f"{registry.host}/test/single"
    msg = one_line_error(nb.run("pull", ref))
    assert registry.host in msg
    assert image_list(nb) == []
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    nb.env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    nb.run("pull", ref, check=True)


def test_basic_auth(nb, auth_registry, tmp_path):
    ref = f"{auth_registry.host}/private/img:1"
    msg = one_line_error(nb.run("pull", "--tls-verify=false", ref))
    assert "authentication required" in msg or "denied" in msg
    msg = one_line_error(nb.run("pull", "--tls-verify=false", "--creds", "alice:wrong", ref))
    assert "denied" in msg or "401" in msg
    nb.run("pull", "--tls-verify=false", "--creds", "alice:s3cret", ref, check=True)
    nb.run("rmi", ref, check=True)
    import base64
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {auth_registry.host: {
        "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    nb.env["REGISTRY_AUTH_FILE"] = str(auth)
    nb.run("pull", "--tls-verify=false", ref, check=True)
    assert os.path.exists(os.path.join(rootfs(nb, ref), "bin/busybox"))


def test_tampered_blob_refused(nb, registry, images, tmp_path):
    # a private copy of 'shared' so that tampering does not disturb other tests
    ref = registry.push(images.path, "shared", "test/tampered:latest")
    man = json.load(open(os.path.join(images.path, "blobs", "sha256", [
        m for m in images.index if m["annotations"]["org.opencontainers.image.ref.name"]
        == "shared"][0]["digest"][7:])))
    layer = man["layers"][1]["digest"]
    path = registry.blob_path(layer)
    orig = open(path, "rb").read()
    try:
        with open(path, "wb") as fh:
            fh.write(bytes([orig[0] ^ 0xff]) + orig[1:])
        msg = one_line_error(nb.run("pull", "--tls-verify=false", ref))
        assert "digest mismatch" in msg and layer in msg
        assert image_list(nb) == []
        assert not os.path.exists(store(nb, "blobs", "sha256", layer[7:]))
        assert [n for n in os.listdir(store(nb, "tmp"))] == []
    finally:
        with open(path, "wb") as fh:
            fh.write(orig)
    nb.run("pull", "--tls-verify=false", ref, check=True)


def forged_base(tmp_path):
    """An OCI layout whose one layer plants other files under the config's claim
    that it is base_layer() (its diff_id)."""
    with open(BUSYBOX, "rb") as fh:
        bb = fh.read()
    lay = Layout(str(tmp_path / "forged"))
    genuine_id = sha(tar_bytes(base_layer())[0])
    planted = [d("bin"), f("bin/busybox", bb, 0o755), ln("bin/sh", "busybox"),
               d("etc"), f("etc/hello", b"planted\n")]
    lay.tag(lay.image([planted], forged_diff_ids=[genuine_id]), "forged")
    return lay


def test_forged_diff_ids_refused(nb, registry, tmp_path):
    ref = registry.push(forged_base(tmp_path).path, "forged", "test/forged:latest")
    msg = one_line_error(nb.run("pull", "--tls-verify=false", ref))
    assert "layer sha256:" in msg and "does not match the config's diff_id" in msg, msg
    # nothing committed: no tree, no half-written one, no image
    assert os.listdir(store(nb, "rootfs")) == []
    assert os.listdir(store(nb, "tmp")) == []
    assert image_list(nb) == []
    # the genuine base, pulled later, is its own files
    good = f"{registry.host}/test/single"
    nb.run("pull", "--tls-verify=false", good, check=True)
    assert open(os.path.join(rootfs(nb, good), "etc/hello"), "rb").read() == \
        b"hello from layer 1\n"
    # the forged image imported now reuses the verified tree its diff_ids name:
    # it gets the genuine files, never plants its own
    fid = nb.run("import", f"oci:{tmp_path / 'forged'}:forged", check=True).stdout.strip()
    assert rootfs(nb, fid) == rootfs(nb, good)
    assert open(os.path.join(rootfs(nb, good), "etc/hello"), "rb").read() == \
        b"hello from layer 1\n"


def plant_unverified(nb, ref):
    """Make the store look as a nestbox that did not hash layers left it after
    a forged image planted its files under @ref's chain: the tree changed, and
    no mark saying its layers were verified."""
    root = rootfs(nb, ref)
    for m in os.listdir(store(nb, "verified")):
        os.unlink(store(nb, "verified", m))
    hello = os.path.join(root, "etc/hello")
    os.unlink(hello)
    with open(hello, "wb") as fh:
        fh.write(b"planted\n")
    return root


def test_unverified_tree_rebuilt_not_reused(nb, registry):
    ref = f"{registry.host}/test/shared"
    nb.run("pull", "--tls-verify=false", ref, check=True)
    root = plant_unverified(nb, ref)
    nb.run("pull", "--tls-verify=false", ref, check=True)
    assert open(os.path.join(root, "etc/hello"), "rb").read() == b"hello from layer 1\n"
    assert sorted(os.listdir(store(nb, "verified"))) == sorted(os.listdir(store(nb, "rootfs")))
    assert os.listdir(store(nb, "tmp")) == []


def test_pull_killed_then_repeated(nb, registry):
    ref = f"{registry.host}/test/big"
    tmp = store(nb, "tmp")
    killed_early = False
    for _ in range(20):
        shutil.rmtree(store(nb), ignore_errors=True)
        p = nb.popen("pull", "--tls-verify=false", ref, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            parts = [n for n in os.listdir(tmp)] if os.path.isdir(tmp) else []
            if any(n.endswith(".part") and os.path.getsize(os.path.join(tmp, n)) > 0
                   for n in parts):
                p.send_signal(signal.SIGKILL)
                killed_early = True
                break
            time.sleep(0.001)
        p.wait()
        if killed_early:
            break
    assert killed_early, "could not catch the pull mid-download"
    # nothing visible: no image, no tree
    assert image_list(nb) == []
    assert os.listdir(store(nb, "rootfs")) == []
    p = nb.run("pull", "--tls-verify=false", ref, check=True)
    root = rootfs(nb, ref)
    assert os.path.getsize(os.path.join(root, "big")) == 24 << 20
    assert os.path.getsize(os.path.join(root, "big2")) == 8 << 20
    assert [n for n in os.listdir(tmp)] == []


def test_load_docker_and_oci_archives(nb, registry, tmp_path):
    # docker-archive cannot hold zstd layers: it gets 'shared' (two gzip layers)
    da, oa = tmp_path / "img-docker.tar", tmp_path / "img-oci.tar"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false",
                    f"docker://{registry.host}/test/shared:latest",
                    f"docker-archive:{da}:example.org/da/shared:v1"], check=True,
                   capture_output=True)
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false",
                    f"docker://{registry.host}/test/multi:latest",
                    f"oci-archive:{oa}:v2"], check=True, capture_output=True)
    p = nb.run("load", "-i", da, check=True)
    assert "Loaded image: example.org/da/shared:v1" in p.stdout
    root = rootfs(nb, "example.org/da/shared:v1")
    assert open(os.path.join(root, "extra")).read() == "extra\n"
    assert os.access(os.path.join(root, "bin/busybox"), os.X_OK)
    p = nb.run("load", "-i", oa, check=True)
    assert "Loaded image: localhost/img-oci:v2" in p.stdout
    root = rootfs(nb, "localhost/img-oci:v2")
    assert sorted(os.listdir(os.path.join(root, "opq"))) == ["z"]
    assert open(os.path.join(root, "zst")).read() == "zstd layer\n"
    msg = one_line_error(nb.run("load", "-i", tmp_path / "missing.tar"))
    assert "missing.tar" in msg
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    one_line_error(nb.run("load", "-i", tmp_path / "junk.tar"))
    assert len(image_list(nb)) == 2


def test_import_oci_layout(nb, images):
    p = nb.run("import", f"oci:{images.path}:single", check=True)
    assert len(p.stdout.strip()) == 64
    root = rootfs(nb, "localhost/oci:single")
    assert os.path.exists(os.path.join(root, "bin/busybox"))
    msg = one_line_error(nb.run("import", f"oci:{images.path}:nosuchtag"))
    assert "nosuchtag" in msg


def test_refused_import_leaves_nothing(nb, images):
    """An import or load that fails keeps none of what it copied in."""
    msg = one_line_error(nb.run("import", f"oci:{images.path}"))
    assert "images in the layout; name one with oci:DIR:TAG" in msg, msg
    assert os.listdir(store(nb, "blobs", "sha256")) == []
    assert os.listdir(store(nb, "rootfs")) == [] and image_list(nb) == []


HOSTILE = {
    "absolute": [[f("{outside}/abs", b"x")]],
    "dotdot": [[f("../../../../../../../../{outside}/dotdot", b"x")]],
    "symlink-then-write": [[ln("evil", "../../../../../../../../../{outside}"),
                            f("evil/through", b"x")]],
    "symlink-other-layer": [[ln("evil", "../../../../../../../../../{outside}")],
                            [f("evil/through", b"x")]],
    "symlink-chain": [[d("a"), ln("a/b", "../.."), f("a/b/x/../y", b"x")]],
    "hardlink-out": [[hl("hard", "../../../../../../../../{outside}/secret")]],
    "hardlink-abs": [[hl("hard", "{outside}/secret")]],
    "hardlink-via-symlink": [[ln("up", "../../../../../../../../../{outside}"),
                              hl("hard", "up/secret")]],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_refused(nb, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    lay = Layout(str(tmp_path / "hostile"))
    layers = []
    for layer in HOSTILE[case]:
        layers.append([(n.format(outside=str(outside)), k,
                        a.format(outside=str(outside)) if isinstance(a, str) else a, m)
                       for n, k, a, m in layer])
    lay.tag(lay.image(layers), "latest")
    p = nb.run("import", f"oci:{lay.path}")
    msg = one_line_error(p)
    assert "layer sha256:" in msg and "entry '" in msg, msg
    assert sorted(os.listdir(outside)) == ["secret"], case
    assert (outside / "secret").read_text() == "secret\n"
    assert image_list(nb) == []
    assert os.listdir(store(nb, "rootfs")) == []


def test_absolute_symlink_stays_inside(nb, tmp_path):
    """An absolute symlink means what it means inside the image: writing through
    it lands in the tree, never outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    lay = Layout(str(tmp_path / "abs"))
    lay.tag(lay.image([[ln("evil", str(outside))], [f("evil/through", b"x")]]), "latest")
    nb.run("import", f"oci:{lay.path}", check=True)
    assert os.listdir(outside) == []
    root = rootfs(nb, "localhost/abs:latest")
    assert open(os.path.join(root, str(outside).lstrip("/"), "through")).read() == "x"


def du(path):
    total = 0
    seen = set()
    for dp, dns, fns in os.walk(path):
        for n in fns:
            st = os.lstat(os.path.join(dp, n))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def test_rmi_and_prune_free_space(nb, registry):
    single, big = f"{registry.host}/test/single", f"{registry.host}/test/big"
    nb.run("pull", "--tls-verify=false", single, check=True)
    nb.run("pull", "--tls-verify=false", big, check=True)
    before = du(store(nb))
    p = nb.run("rmi", big, check=True)
    assert "Deleted:" in p.stdout
    after = du(store(nb))
    assert before - after > 30 << 20, (before, after)
    assert [i["Names"] for i in image_list(nb)] == [[f"{single}:latest"]]
    assert os.path.exists(os.path.join(rootfs(nb, single), "bin/busybox"))
    # a leftover partial download goes with prune
    with open(store(nb, "tmp", "ab" * 32 + ".part"), "wb") as fh:
        fh.write(b"x" * (1 << 20))
    p = nb.run("prune", check=True)
    assert int(p.stdout.split()[1]) >= 1 << 20
    assert os.listdir(store(nb, "tmp")) == []
    image_id = image_list(nb)[0]["Id"]
    nb.run("rmi", image_id[:12], check=True)
    assert image_list(nb) == []
    assert os.listdir(store(nb, "blobs", "sha256")) == []
    assert os.listdir(store(nb, "rootfs")) == []
    msg = one_line_error(nb.run("rmi", single))
    assert "not known" in msg


def test_bad_references(nb):
    for ref in ("UPPER/case", "a:b:c", "x@sha256:123", ""):
        msg = one_line_error(nb.run("pull", ref))
        assert "reference" in msg
    msg = one_line_error(nb.run("inspect", "nothere"))
    assert "nothere" in msg and "not known" in msg
    one_line_error(nb.run("pull", "--platform", "linux", "busybox"))
    one_line_error(nb.run("pull", "--tls-verify=maybe", "busybox"))


def test_bearer_token_and_resumed_blob(nb, token_proxy, images):
    """Token auth from the WWW-Authenticate challenge (with basic credentials
    for the token endpoint), and a blob answer cut short mid-way: retried and
    resumed with a Range request, then verified."""
    ref = f"{token_proxy.host}/test/big"
    msg = one_line_error(nb.run("pull", "--tls-verify=false", ref))
    assert "token" in msg and "401" in msg
    man = json.load(open(os.path.join(images.path, "blobs", "sha256", [
        m for m in images.index if m["annotations"]["org.opencontainers.image.ref.name"]
        == "big"][0]["digest"][7:])))
    layer = man["layers"][0]
    token_proxy.cut_once.add(layer["digest"])
    nb.run("pull", "--tls-verify=false", "--creds", "bob:pw", ref, check=True)
    assert token_proxy.token_requests and all(b for _, b in token_proxy.token_requests[1:])
    assert "scope=repository%3Atest%2Fbig%3Apull" in token_proxy.token_requests[-1][0]
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in token_proxy.ranges), \
        token_proxy.ranges
    root = rootfs(nb, ref)
    assert os.path.getsize(os.path.join(root, "big")) == 24 << 20


def test_concurrent_pulls_of_one_image(nb, registry):
    ref = f"{registry.host}/test/big"
    procs = [nb.popen("pull", "-q", "--tls-verify=false", ref, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({o for o, _ in outs}) == 1
    assert len(image_list(nb)) == 1
    assert len(os.listdir(store(nb, "rootfs"))) == 2
    assert os.listdir(store(nb, "tmp")) == []


def has_run():
    from conftest import NESTBOX_BIN
    out = subprocess.run([NESTBOX_BIN, "--help"], capture_output=True, text=True).stdout
    return "\n  run " in out


@pytest.mark.skipif(not has_run(), reason="nestbox run is not built yet")
def test_pulled_image_runs_and_is_leased(nb, registry, kernel_dir):
    ref = f"{registry.host}/test/multi"
    nb.run("pull", "--tls-verify=false", ref, check=True)
    p = nb.run("run", "--rm", ref, "--", "/bin/busybox", "cat", "/etc/hello", "/new",
               timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from layer 1\nnew file\n"
    # while a VM runs from the image, rmi refuses and prune keeps its tree
    b = nb.run("run", "-d", "--name", "held", ref, "--", "/bin/busybox", "sleep", "300",
               timeout=180)
    assert b.returncode == 0, b.stderr
    try:
        msg = one_line_error(nb.run("rmi", ref))
        assert "in use" in msg
        nb.run("prune", check=True)
        assert len(os.listdir(store(nb, "rootfs"))) == 3
    finally:
        nb.run("rm", "-f", "held", timeout=120)
    nb.run("rmi", ref, check=True)
    assert os.listdir(store(nb, "rootfs")) == []
    assert os.listdir(store(nb, "verified")) == []


@pytest.mark.skipif(not has_run(), reason="nestbox run is not built yet")
def test_run_rebuilds_an_unverified_tree(nb, registry, kernel_dir):
    """An image stored before layers were verified runs from a rebuilt tree."""
    ref = f"{registry.host}/test/single"
    nb.run("pull", "--tls-verify=false", ref, check=True)
    plant_unverified(nb, ref)
    p = nb.run("run", "--rm", ref, "--", "/bin/busybox", "cat", "/etc/hello", timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello from layer 1\n"


def test_progress_only_on_a_tty(nb, registry):
    import pty
    ref = f"{registry.host}/test/shared"
    p = nb.run("pull", "--tls-verify=false", ref, check=True)
    assert p.stderr == ""                       # quiet off a TTY
    nb.run("rmi", ref, check=True)
    master, slave = pty.openpty()
    try:
        proc = nb.popen("pull", "--tls-verify=false", ref, stdout=subprocess.PIPE,
                        stderr=slave)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=60)
        proc.stdout.close()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0
    assert f"{registry.host}/test/shared".encode() in out, out
