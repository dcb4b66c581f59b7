#!/usr/bin/env bash
# The Debian package as an operator meets it (docs/operations.md, "The package"), without touching
# the machine it runs on: the package is built from the build tree with CPack, inspected with
# dpkg-deb, checked by lintian, then installed, upgraded (a changed config kept), removed and
# purged with dpkg in a root of its own (--root, maintainer scripts run with $DPKG_ROOT). The
# service's user must be able to read its config through the directory's group, and no one else.
#
# Not covered here (it needs systemd running as PID 1): starting the unit, ConfigurationDirectory=
# applied by systemd itself, try-restart on upgrade and stop on removal.
#
# usage: deb_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "needs root (files owned by the package's user, setpriv): skipped"
  exit 77
fi

build=$(realpath "$1")
src=$(realpath "$2")
# Packages are made from release builds; a sanitizer build (make asan, make tsan) is not one.
if grep -qE '^PACTWATCH_(SANITIZE|TSAN):BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "a sanitizer build is not packaged: skipped"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

# --- build -------------------------------------------------------------------------------------
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" >/dev/null)
deb=$(ls "$work"/pkg/pactwatch_*_*.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# --- what it holds -----------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
maintainer=$(field Maintainer)
check "a real maintainer field ($maintainer)" bash -c '[[ "$0" =~ ^[^\<]+\ \<[^@\>]+@[^@\>]+\>$ && "$0" != *localhost* ]]' "$maintainer"
check "version with a Debian revision ($(field Version))" bash -c '[[ "$0" =~ ^[0-9.]+-[0-9]+$ ]]' "$(field Version)"
check "depends on systemd (sysusers, tmpfiles) and its shared libraries" bash -c '[[ "$0" == *systemd* && "$0" == *libc6* ]]' "$(field Depends)"
files=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}')
for path in ./usr/bin/pactwatch ./etc/pactwatch/pactwatch.yaml ./usr/share/doc/pactwatch/copyright \
            ./usr/share/doc/pactwatch/changelog.Debian.gz ./usr/share/man/man1/pactwatch.1.gz \
            ./usr/lib/sysusers.d/pactwatch.conf ./usr/lib/tmpfiles.d/pactwatch.conf ./usr/lib/systemd/system/pactwatch.service; do
  check "ships $path" grep -q " $path\$" <<<"$files"
done
check "files are root's, 0644 or 0755" bash -c '! grep -v "^[-d]rw[-x]r-[-x]r-[-x] root/root " <<<"$0"' "$files"
control="$work/control"
dpkg-deb -e "$deb" "$control"
check "conffiles: /etc/pactwatch/pactwatch.yaml" grep -qx /etc/pactwatch/pactwatch.yaml "$control/conffiles"
for script in postinst prerm postrm; do
  check "$script is executable" test -x "$control/$script"
done

# --- lintian -----------------------------------------------------------------------------------
if ! command -v lintian >/dev/null; then
  fail "lintian is not installed (make deps)"
else
  lintian_out=$(lintian --tag-display-limit 0 "$deb" 2>&1 || true)
  echo "$lintian_out" | sed 's/^/lintian: /'
  check "lintian reports no error" bash -c '! grep -q "^E: " <<<"$0"' "$lintian_out"
  check "lintian reports no warning" bash -c '! grep -q "^W: " <<<"$0"' "$lintian_out"
fi

# --- install into a root of its own ------------------------------------------------------------
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
chmod 0755 "$root" "$root/etc"
dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root "$@"; }
dpkg_root -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
check "installed" bash -c 'dpkg --root="$0" -s pactwatch | grep -q "^Status: install ok installed"' "$root"
user_line=$(grep '^pactwatch:' "$root/etc/passwd" || true)
check "the pactwatch user comes from the sysusers file ($user_line)" bash -c '[[ "$0" == pactwatch:x:*:*:pactwatch\ daemon:/var/lib/pactwatch:* ]]' "$user_line"
uid=$(cut -d: -f3 <<<"$user_line")
gid=$(grep '^pactwatch:' "$root/etc/group" | cut -d: -f3)
check "a system uid ($uid)" bash -c '(( $0 > 0 && $0 < 1000 ))' "${uid:-0}"
check "/etc/pactwatch is 0750 root:pactwatch" bash -c '[[ "$(stat -c "%a %u %g" "$0")" == "750 0 $1" ]]' "$root/etc/pactwatch" "$gid"
check "/etc/pactwatch/rules exists for the rules" test -d "$root/etc/pactwatch/rules"
check "/var/lib/pactwatch is 0750 pactwatch:pactwatch" bash -c '[[ "$(stat -c "%a %u %g" "$0")" == "750 $1 $2" ]]' "$root/var/lib/pactwatch" "$uid" "$gid"
check "the config is installed" test -f "$root/etc/pactwatch/pactwatch.yaml"
check "nothing was started or enabled" bash -c '! ls "$0"/etc/systemd/system/*.wants/pactwatch.service 2>/dev/null' "$root"

# The service's user reads its config and rules through the directory's group (the unit's
# ConfigurationDirectoryMode=0750 on a root-owned /etc/pactwatch); any other user cannot.
cp -r "$src/rules/examples/." "$root/etc/pactwatch/rules/"
chown -R "0:$gid" "$root/etc/pactwatch/rules"
chmod -R u=rwX,g=rX,o= "$root/etc/pactwatch/rules"
as() { setpriv --reuid="$1" --regid="$2" --clear-groups "$root/usr/bin/pactwatch" check --config "$root/etc/pactwatch/pactwatch.yaml" \
         --rules "$root/etc/pactwatch/rules"; }
quietly() { "$@" >"$work/check.log" 2>&1 || { cat "$work/check.log"; return 1; }; }
check "the service's user can check its config and rules" quietly as "$uid" "$gid"
cannot() { ! "$@" >/dev/null 2>&1; }
check "another user cannot read them" cannot as 65534 65534

# --- upgrade: the operator's config is kept ----------------------------------------------------
echo "# changed by the operator" >>"$root/etc/pactwatch/pactwatch.yaml"
next="$work/next"
dpkg-deb -R "$deb" "$next"
version=$(field Version)
sed -i "s/^Version: .*/Version: ${version%-*}-$(( ${version##*-} + 1 ))/" "$next/DEBIAN/control"
deb2="$work/pactwatch_next.deb"
dpkg-deb -b --root-owner-group "$next" "$deb2" >/dev/null
dpkg_root -i "$deb2" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dpkg -i (upgrade)"; }
check "upgraded to $(dpkg-deb -f "$deb2" Version)" bash -c 'dpkg --root="$0" -s pactwatch | grep -qx "Version: $1"' "$root" "$(dpkg-deb -f "$deb2" Version)"
check "the operator's config change is kept" grep -q "changed by the operator" "$root/etc/pactwatch/pactwatch.yaml"
check "the rules are kept" test -f "$root/etc/pactwatch/rules/partners.yaml"

# --- remove, then purge ------------------------------------------------------------------------
mkdir -p "$root/var/lib/pactwatch" && echo data >"$root/var/lib/pactwatch/pactwatch.db"
dpkg_root -r pactwatch >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
check "removed: the binary is gone" test ! -e "$root/usr/bin/pactwatch"
check "removed: the config, the rules and the store stay" bash -c 'test -f "$0/etc/pactwatch/pactwatch.yaml" && test -f "$0/etc/pactwatch/rules/partners.yaml" && test -f "$0/var/lib/pactwatch/pactwatch.db"' "$root"
check "removed: config-files state" bash -c 'dpkg --root="$0" -s pactwatch | grep -q "^Status: deinstall ok config-files"' "$root"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -s /usr/lib/systemd/system/pactwatch.service "$root/etc/systemd/system/multi-user.target.wants/pactwatch.service"
dpkg_root -P pactwatch >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P"; }
check "purged: /etc/pactwatch is gone" test ! -e "$root/etc/pactwatch"
check "purged: /var/lib/pactwatch is gone" test ! -e "$root/var/lib/pactwatch"
check "purged: the enablement is gone" test ! -L "$root/etc/systemd/system/multi-user.target.wants/pactwatch.service"
check "purged: dpkg knows it no more" bash -c '! dpkg --root="$0" -s pactwatch >/dev/null 2>&1' "$root"
leftover=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -path ./etc/passwd -o -path ./etc/group -o -path ./etc/shadow \
             -o -path ./etc/gshadow -o -path ./etc/.pwd.lock -o -name '*-' -o -type f -print)
check "purged: no file of the package is left${leftover:+ ($leftover)}" test -z "$leftover"

if (( fails > 0 )); then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
