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

here=$(dirname "$0")
# shellcheck source=scripts/oci-layout.sh
. "$here/oci-layout.sh"
# The key: busybox, this script and the packing it sources.
stamp="$(sha256sum "$busybox" "$0" "$here/oci-layout.sh" | cut -d' ' -f1 | sha256sum | cut -c1-64)"
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

oci_layout "$work/oci" "$root" gzip \
	'{"Entrypoint":["/usr/local/bin/demo-entry"],"Cmd":[],
  "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","DEMO=nestbox"],
  "WorkingDir":"/","ExposedPorts":{"80/tcp":{}}}' \
	scripts/make-demo.sh
echo "$stamp" >"$work/oci/.stamp"

rm -rf "$out.new"
mkdir -p "$(dirname "$out")"
mv "$work/oci" "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
