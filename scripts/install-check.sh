#!/usr/bin/env bash
# Checks scripts/install.sh: installs into a temporary DESTDIR with the default prefix, checks that
# every file is there, runs each installed executable's version options, formats each man page with
# `man -l` (no warnings), parses the bash completions (`bash -n`, then loads them), verifies the
# systemd units (`systemd-analyze verify` on an install whose ExecStart paths exist; a syntax check
# when systemd-analyze is missing), and uninstalls. Uses .build/release (build it first:
# `swift build -c release`), or INSTALL_CHECK_BIN_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN_DIR=${INSTALL_CHECK_BIN_DIR:-.build/release}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PREFIX=/opt/swift-iscsi
SBIN_TOOLS=(tgtd tgtadm tgt-admin targetcli iscsid iscsiadm)
BIN_TOOLS=(iscsi-tool)
ALL_TOOLS=("${SBIN_TOOLS[@]}" "${BIN_TOOLS[@]}")
UNITS=(swift-tgtd.service swift-iscsid.service swift-iscsi.service)

echo "== install into DESTDIR (prefix $PREFIX)"
DEST=$WORK/dest
DESTDIR=$DEST scripts/install.sh --bin-dir "$BIN_DIR" >"$WORK/install.out" ||
  fail "install.sh: $(cat "$WORK/install.out")"
cat "$WORK/install.out"
expected=()
for tool in "${SBIN_TOOLS[@]}"; do expected+=("$PREFIX/sbin/$tool"); done
for tool in "${BIN_TOOLS[@]}"; do expected+=("$PREFIX/bin/$tool"); done
for tool in "${ALL_TOOLS[@]}"; do
  expected+=("$PREFIX/share/man/man8/$tool.8" "$PREFIX/share/bash-completion/completions/$tool"
    "$PREFIX/share/zsh/site-functions/_$tool")
done
for unit in "${UNITS[@]}"; do expected+=("$PREFIX/lib/systemd/system/$unit"); done
for file in "${expected[@]}"; do
  [ -s "$DEST$file" ] || fail "missing or empty: $file"
done
for tool in "${SBIN_TOOLS[@]}"; do [ -x "$DEST$PREFIX/sbin/$tool" ] || fail "$tool is not executable"; done
[ -x "$DEST$PREFIX/bin/iscsi-tool" ] || fail "iscsi-tool is not executable"
installed=$(cd "$DEST" && find . -type f | sed 's/^\.//' | sort)
[ "$installed" = "$(printf '%s\n' "${expected[@]}" | sort)" ] ||
  fail "installed files differ from the expected ones: $(diff <(echo "$installed") <(printf '%s\n' "${expected[@]}" | sort))"
echo "ok  ${#expected[@]} files, no others"

echo "== --version"
version=$("$DEST$PREFIX/bin/iscsi-tool" --version)
[[ $version =~ ^iscsi-tool\ version\ ([0-9]+\.[0-9]+\.[0-9]+)\ \(swift-iscsi\)$ ]] || fail "iscsi-tool --version: $version"
number=${BASH_REMATCH[1]}
# Tools reproducing open-iscsi's or tgt's interface give that version third (scripts parse it), ours after.
declare -A REPRODUCES=([iscsiadm]=2.1.8 [iscsid]=2.1.8 [tgtadm]=1.0.85 [tgtd]=1.0.85 [tgt-admin]=1.0.85)
check_version() { # TOOL ARGS...
  local tool=$1 path out
  shift
  path=$DEST$PREFIX/sbin/$tool
  [ -x "$path" ] || path=$DEST$PREFIX/bin/$tool
  out=$("$path" "$@" 2>&1) || fail "$tool $*: exit $?: $out"
  local want="$tool version $number (swift-iscsi)"
  [ -n "${REPRODUCES[$tool]:-}" ] && want="$tool version ${REPRODUCES[$tool]} (swift-iscsi $number)"
  [ "$out" = "$want" ] || fail "$tool $*: '$out'"
  echo "ok  $tool $*: $out"
}
for tool in "${ALL_TOOLS[@]}"; do check_version "$tool" --version; done
# Each real tool's own spelling too.
check_version tgtd -V
check_version tgtadm -V
check_version iscsiadm -V
check_version iscsid -v
check_version targetcli -v
check_version targetcli version

echo "== man pages"
for tool in "${ALL_TOOLS[@]}"; do
  page=$DEST$PREFIX/share/man/man8/$tool.8
  text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>"$WORK/man.err") || fail "man -l $tool.8 failed"
  [ ! -s "$WORK/man.err" ] || fail "man -l $tool.8 warns: $(cat "$WORK/man.err")"
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES "SEE ALSO"; do
    grep -q "^$section" <<<"$text" || fail "$tool.8 has no $section section"
  done
  grep -q -- "--version" <<<"$text" || fail "$tool.8 does not mention --version"
done
echo "ok  ${#ALL_TOOLS[@]} pages format without warnings and have NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES, SEE ALSO"

echo "== completions"
for tool in "${ALL_TOOLS[@]}"; do
  file=$DEST$PREFIX/share/bash-completion/completions/$tool
  bash -n "$file" || fail "bash -n $file"
  bash -c "source '$file' && complete -p '$tool' >/dev/null" || fail "$file registers no completion for $tool"
  grep -q "^#compdef $tool\$" "$DEST$PREFIX/share/zsh/site-functions/_$tool" || fail "_$tool has no #compdef line"
  if command -v zsh >/dev/null; then zsh -n "$DEST$PREFIX/share/zsh/site-functions/_$tool" || fail "zsh -n _$tool"; fi
done
echo "ok  bash completions parse and register; zsh functions start with #compdef$(command -v zsh >/dev/null && echo ' and parse')"

echo "== systemd units"
for unit in "${UNITS[@]}"; do
  file=$DEST$PREFIX/lib/systemd/system/$unit
  grep -q '@[A-Z]*DIR@' "$file" && fail "$unit has an unreplaced placeholder"
  while read -r command; do
    case $command in "$PREFIX"/sbin/* | /bin/sync) ;; *) fail "$unit runs $command, outside $PREFIX/sbin" ;; esac
  done < <(sed -n 's/^Exec[A-Za-z]*=-\{0,1\}\([^ ]*\).*/\1/p' "$file")
done
# Installed for real into a scratch prefix, so that the commands the units name exist.
scripts/install.sh --bin-dir "$BIN_DIR" --prefix "$WORK/prefix" >/dev/null
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$WORK/prefix/lib/systemd/system/"*.service 2>"$WORK/verify.err" ||
    fail "systemd-analyze verify: $(cat "$WORK/verify.err")"
  [ ! -s "$WORK/verify.err" ] || fail "systemd-analyze verify warns: $(cat "$WORK/verify.err")"
  echo "ok  systemd-analyze verify: ${UNITS[*]}"
else
  for unit in "${UNITS[@]}"; do
    file=$WORK/prefix/lib/systemd/system/$unit
    for section in '\[Unit\]' '\[Service\]' '\[Install\]' '^ExecStart=/'; do
      grep -q "$section" "$file" || fail "$unit lacks $section"
    done
    awk '/^[[:space:]]*(#|$)/ || /^\[[A-Za-z]+\]$/ || /^[A-Za-z]+=/ { next } { exit 1 }' "$file" ||
      fail "$unit has a line that is neither a section, a setting nor a comment"
    for command in $(sed -n 's/^Exec[A-Za-z]*=-\{0,1\}\([^ ]*\).*/\1/p' "$file"); do
      [ -x "$command" ] || fail "$unit: $command is not executable"
    done
  done
  echo "ok  units well formed (no systemd-analyze here)"
fi
scripts/install.sh --uninstall --prefix "$WORK/prefix" >/dev/null
[ ! -e "$WORK/prefix" ] || fail "uninstall left $(find "$WORK/prefix")"

echo "== uninstall"
DESTDIR=$DEST scripts/install.sh --uninstall
left=$(find "$DEST" -type f)
[ -z "$left" ] || fail "uninstall left: $left"
[ ! -e "$DEST$PREFIX" ] || fail "uninstall left the directory $PREFIX"
echo "ok  nothing left"
echo "install-check: all passed"
