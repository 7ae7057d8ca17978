#!/bin/sh
# Installs (or with --uninstall removes) this edge-metaserver release: no network, no compiler and
# no Node.js needed, the runtime and the native SQLite module are in the tree.
#
#   sh install.sh [--prefix DIR] [--root DIR] [--no-hooks]
#   sh install.sh --uninstall [--prefix DIR] [--root DIR] [--no-hooks]
#
#   --prefix DIR   where it goes (default /usr/local): DIR/bin/edge-metaserver (the launcher) and
#                  DIR/lib/edge-metaserver/ (app, production node_modules, node runtime).
#   --root DIR     install into DIR as if it were / (an image, a chroot, a package staging tree).
#   --no-hooks     do not run systemd-sysusers or systemctl (package builds; their scripts do it).
#
# The unit goes to <root>/etc/systemd/system/ and the sysusers file to <root>/etc/sysusers.d/
# (an administrator's install); with --prefix /usr, to /usr/lib/systemd/system/ and
# /usr/lib/sysusers.d/ (where the .deb puts them). ExecStart= is set to <prefix>/bin/edge-metaserver.
# The unit is installed, not enabled or started: it needs /etc/edge-metaserver/config.yaml first.
# Uninstall removes exactly what install put there; /etc/edge-metaserver, /var/lib/edge-metaserver
# (the cache) and the edge-metaserver user stay.
set -eu
# The daemon runs as the edge-metaserver user: what is installed must be world-readable whatever
# umask root has (0077 would leave the app unreadable to it).
umask 022

prefix=/usr/local
root=
action=install
hooks=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    --no-hooks) hooks=no; shift ;;
    -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
prefix=${prefix%/}
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" = / ] && root=
fi

here=$(cd "$(dirname -- "$0")" && pwd)
if [ "$prefix" = /usr ]; then
  unitdir=/usr/lib/systemd/system sysusersdir=/usr/lib/sysusers.d
else
  unitdir=/etc/systemd/system sysusersdir=/etc/sysusers.d
fi
bin=$prefix/bin/edge-metaserver
lib=$prefix/lib/edge-metaserver
unit=$unitdir/edge-metaserver.service
sysusers=$sysusersdir/edge-metaserver.conf

# systemd only when installing onto the running system (not into another root) and it is PID 1.
systemd_running () { [ "$hooks" = yes ] && [ -z "$root" ] && [ -d /run/systemd/system ]; }

if [ "$action" = uninstall ]; then
  if [ -z "$root" ] && [ -e /var/lib/dpkg/info/edge-metaserver.list ] && [ "$prefix" = /usr ]; then
    echo "install.sh: /usr holds the edge-metaserver package: remove it with apt/dpkg instead" >&2; exit 1
  fi
  if systemd_running; then systemctl disable --now edge-metaserver.service 2>/dev/null || true; fi
  rm -f "$root$bin" "$root$unit" "$root$sysusers"
  rm -rf "$root$lib"
  if systemd_running; then systemctl daemon-reload; fi
  echo "removed $bin, $lib, $unit, $sysusers (under ${root:-/})"
  echo "kept: /etc/edge-metaserver, /var/lib/edge-metaserver and the edge-metaserver user"
  exit 0
fi

[ -x "$here/lib/edge-metaserver/node/bin/node" ] || { echo "install.sh: run it from the unpacked release (lib/edge-metaserver/node/bin/node missing)" >&2; exit 1; }

# The new tree is copied next to the old one and swapped in with one rename, so a running daemon's
# files are never half replaced.
mkdir -p "$root$prefix/bin" "$root$prefix/lib" "$root$unitdir" "$root$sysusersdir"
rm -rf "$root$lib.new" "$root$lib.old"
cp -R "$here/lib/edge-metaserver" "$root$lib.new"
if [ -e "$root$lib" ]; then mv "$root$lib" "$root$lib.old"; fi
mv "$root$lib.new" "$root$lib"
rm -rf "$root$lib.old"
cp "$here/bin/edge-metaserver" "$root$bin.new" && chmod 0755 "$root$bin.new" && mv -f "$root$bin.new" "$root$bin"
sed "s|^ExecStart=/usr/bin/edge-metaserver |ExecStart=$bin |" "$here/systemd/edge-metaserver.service" > "$root$unit.new"
chmod 0644 "$root$unit.new" && mv -f "$root$unit.new" "$root$unit"
cp "$here/systemd/edge-metaserver.sysusers" "$root$sysusers.new" && chmod 0644 "$root$sysusers.new" && mv -f "$root$sysusers.new" "$root$sysusers"

if [ "$hooks" = yes ]; then
  # The system user the unit runs as; into --root's /etc/passwd too (systemd-sysusers --root).
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers ${root:+--root="$root"} "$root$sysusers"
  else
    echo "install.sh: systemd-sysusers not found: create the system user edge-metaserver yourself" >&2
  fi
fi
if systemd_running; then systemctl daemon-reload; fi

echo "installed edge-metaserver $(cat "$here/VERSION") under ${root:-/}: $bin, $lib, $unit, $sysusers"
[ -n "$root" ] || cat <<NEXT
next: write /etc/edge-metaserver/config.yaml (see $lib/config.example.yaml) and its pki/ files,
      edge-metaserver check-config /etc/edge-metaserver/config.yaml
      systemctl enable --now edge-metaserver
NEXT
