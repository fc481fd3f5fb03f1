#!/bin/bash
# Build the demo image as an OCI image layout: busybox-static with an
# entrypoint and an httpd serving a page. Reproducible (fixed mtimes, sorted
# entries, no gzip timestamp), so the same busybox gives the same digest and a
# second call is a no-op.
#
#   scripts/make-demo.sh OUTDIR      -> OUTDIR is an OCI layout, tag "latest"
#
# Entrypoint /usr/local/bin/demo-entry runs its arguments; with none (the
# image's Cmd), it serves /var/www on port 80 in the foreground.
set -euo pipefail

out=${1:?usage: make-demo.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-demo: $busybox: not found (apt-get install busybox-static)" >&2; exit 1; }

stamp="$(sha256sum "$busybox" "$0" | sha256sum | cut -c1-64)"
if [ -f "$out/index.json" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nestbox-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,var/www,usr/local/bin,usr/bin,usr/sbin}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
	[ "$applet" = bin/busybox ] && continue
	ln -sf /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
demo:x:1000:1000:demo:/tmp:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
demo:x:1000:
EOF
cat >"$root/var/www/index.html" <<'EOF'
<!doctype html><title>nestbox demo</title><p>hello from a nestbox VM</p>
EOF
cat >"$root/usr/local/bin/demo-entry" <<'EOF'
#!/bin/sh
# nestbox demo entrypoint: run the given command, or serve /var/www.
if [ $# -eq 0 ]; then
	set -- httpd -f -v -p 80 -h /var/www
fi
exec "$@"
EOF
chmod 0755 "$root/usr/local/bin/demo-entry"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
	-C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 "$work/layer.tar"

blobs=$work/oci/blobs/sha256
mkdir -p "$blobs"
put() { # put FILE -> prints "DIGEST SIZE" after storing FILE as a blob
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$blobs/$d"
	echo "$d $s"
}
read -r layer_d layer_s < <(put "$work/layer.tar.gz")

cat >"$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Entrypoint":["/usr/local/bin/demo-entry"],"Cmd":[],
  "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","DEMO=nestbox"],
  "WorkingDir":"/","ExposedPorts":{"80/tcp":{}}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/make-demo.sh"}]}
EOF
read -r cfg_d cfg_s < <(put "$work/config.json")

cat >"$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cfg_d","size":$cfg_s},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer_d","size":$layer_s}]}
EOF
read -r man_d man_s < <(put "$work/manifest.json")

echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
cat >"$work/oci/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$man_d","size":$man_s,
  "annotations":{"org.opencontainers.image.ref.name":"latest"}}]}
EOF
echo "$stamp" >"$work/oci/.stamp"

rm -rf "$out.new"
mkdir -p "$(dirname "$out")"
mv "$work/oci" "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
