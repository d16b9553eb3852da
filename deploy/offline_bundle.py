"""The offline bundle's manifest: written on the build host, checked on the air-gapped target.

Standard library only: on the target it runs with the bare system Python, before anything is installed.
Called by deploy/build-wheelhouse.sh and deploy/install-offline.sh:

  offline_bundle.py split-lock LOCK OUT_DIR         lock minus llama-cpp-python -> registry.txt, built.txt
  offline_bundle.py manifest DIR --lock L --nodeps N --project-wheel FILE --cmake-args A --source S
  offline_bundle.py verify DIR [--prefix P]         hashes, Python, platform, glibc, CPU, free disk
  offline_bundle.py requirements DIR OUT_DIR        hashed lock.txt and nodeps.txt from the manifest

`verify` prints one line per check and exits 1 with every problem named; nothing is installed by it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = 1
# Packages the registry has only as source: the bundle carries a wheel built on the build host.
BUILT_FROM_SOURCE = ("llama-cpp-python",)
# What llama.cpp compiles in with GGML_NATIVE=OFF (its INS_ENB default): an x86-64-v3 CPU, no AVX-512.
# A `-DGGML_<FLAG>=OFF` in CMAKE_ARGS drops one; `-DGGML_AVX512=ON` adds avx512f.
LLAMA_CPU_FLAGS = {"SSE42": "sse4_2", "AVX": "avx", "AVX2": "avx2", "BMI2": "bmi2", "FMA": "fma", "F16C": "f16c"}
# Installed size over wheel size, measured: 903 MB of wheels became a 3.07 GB environment (torch, spaCy
# and Chroma unpack large, pip compiles byte code). The check asks for this factor of the bundle plus a margin.
INSTALLED_FACTOR = 3.8
DISK_MARGIN_BYTES = 512 * 1024 * 1024


class BundleError(Exception):
    """A problem with the bundle or the host, as one line an operator can act on."""


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(normalized name, version) from a wheel file name (PEP 427)."""
    if not filename.endswith(".whl"):
        raise BundleError(f"{filename}: not a wheel")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise BundleError(f"{filename}: not a valid wheel file name")
    return normalize(parts[0]), parts[1]


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{name: (version, [sha256, ...])} from a hashed requirements file (deploy/write_lock.py's format)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*$", line)
        if not match:
            raise BundleError(f"{path}: cannot read the line {line[:80]!r} (expected NAME==VERSION --hash=sha256:...)")
        hashes = re.findall(r"sha256:([0-9a-f]{64})", match.group(3))
        entries[normalize(match.group(1))] = (match.group(2), hashes)
    return entries


def lock_text(entries: dict[str, tuple[str, list[str]]]) -> str:
    return "".join(
        f"{name}=={version} \\\n" + " \\\n".join(f"    --hash=sha256:{h}" for h in hashes) + "\n"
        for name, (version, hashes) in sorted(entries.items())
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file. This repeats appliance/file_digest.py on purpose: this script runs on the
    target with the bare system Python before the appliance is installed, so it cannot import it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def public_version(version: str) -> str:
    return version.split("+", 1)[0]


def glibc_version() -> str | None:
    library, version = platform.libc_ver()
    return version if library == "glibc" and version else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), None where they cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def host_facts() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "python_tag": f"cp{sys.version_info.major}{sys.version_info.minor}",
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "machine": platform.machine(),
        "glibc": glibc_version(),
        "os": os_name(),
    }


def llama_cpu_flags(cmake_args: str) -> list[str]:
    """CPU flags the llama.cpp library needs, given the CMAKE_ARGS it was built with."""
    if re.search(r"-DGGML_NATIVE=(ON|1|TRUE)\b", cmake_args, re.IGNORECASE):
        raise BundleError("CMAKE_ARGS has -DGGML_NATIVE=ON: the wheel would only run on CPUs like the build host's")
    flags = dict(LLAMA_CPU_FLAGS)
    for option in re.findall(r"-DGGML_([A-Z0-9_]+)=(?:OFF|0|FALSE)\b", cmake_args, re.IGNORECASE):
        flags.pop(option.upper(), None)
    if re.search(r"-DGGML_AVX512=(ON|1|TRUE)\b", cmake_args, re.IGNORECASE):
        flags["AVX512"] = "avx512f"
    return sorted(flags.values())


# --- build host --------------------------------------------------------------------------------------


def split_lock(lock: Path, out_dir: Path) -> None:
    """registry.txt: everything the registry has as wheels; built.txt: the source-only packages."""
    entries = read_lock(lock)
    built = {name: entries.pop(name) for name in BUILT_FROM_SOURCE if name in entries}
    missing = set(BUILT_FROM_SOURCE) - set(built)
    if missing:
        raise BundleError(f"{lock}: no entry for {', '.join(sorted(missing))}")
    (out_dir / "registry.txt").write_text(lock_text(entries))
    (out_dir / "built.txt").write_text(lock_text(built))


def write_manifest(
    wheels_dir: Path, lock: Path, nodeps: Path, project_wheel: str, cmake_args: str, source: str
) -> dict:
    """Check that the folder holds exactly the locked wheels (and the project's), then write the manifest."""
    groups = {"lock": read_lock(lock), "nodeps": read_lock(nodeps)}
    files = sorted(p for p in wheels_dir.iterdir() if p.name.endswith(".whl"))
    others = sorted(
        p.name
        for p in wheels_dir.iterdir()
        if not p.name.endswith(".whl") and p.name not in ("README.md", MANIFEST, SUMS)
    )
    if others:
        raise BundleError(f"{wheels_dir}: files that are not wheels: {', '.join(others)}")
    problems: list[str] = []
    wheels: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in files:
        name, version = wheel_name_version(path.name)
        if name in seen:
            problems.append(f"two wheels for {name}: {seen[name]} and {path.name}")
            continue
        seen[name] = path.name
        digest = sha256_file(path)
        entry = {"file": path.name, "name": name, "version": version, "sha256": digest, "bytes": path.stat().st_size}
        if path.name == project_wheel:
            wheels.append({**entry, "group": "project", "origin": "built from this source tree"})
            continue
        group = next((g for g, pins in groups.items() if name in pins), None)
        if group is None:
            problems.append(f"{path.name}: not in the lock")
            continue
        locked_version, hashes = groups[group][name]
        if public_version(version) != locked_version:
            problems.append(f"{path.name}: version {version}, the lock says {locked_version}")
        if name in BUILT_FROM_SOURCE:
            wheels.append({**entry, "group": group, "origin": "built from the locked sdist", "sdist_sha256": hashes})
        elif digest not in hashes:
            problems.append(f"{path.name}: sha256 {digest} is not the locked one")
        else:
            wheels.append({**entry, "group": group, "origin": "registry"})
    for group, pins in groups.items():
        for name, (version, _hashes) in pins.items():
            if name not in seen:
                problems.append(f"no wheel for {name}=={version} ({group})")
    if project_wheel not in seen.values():
        problems.append(f"no project wheel {project_wheel}")
    torch = next((w for w in wheels if w["name"] == "torch"), None)
    if torch is not None and not torch["version"].endswith("+cpu"):
        problems.append(f"{torch['file']}: not torch's CPU build (+cpu); pass --torch-from with the CPU wheel")
    if problems:
        raise BundleError("the wheelhouse does not match the lock:\n  " + "\n  ".join(problems))
    build_host = host_facts()
    total = sum(int(w["bytes"]) for w in wheels)
    manifest = {
        "format": FORMAT,
        "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "project": {"wheel": project_wheel, "source": source},
        "build_host": build_host,
        "llama_cpp_python": {"cmake_args": cmake_args, "cpu_flags_required": llama_cpu_flags(cmake_args)},
        "target": {
            "python": ".".join(build_host["python"].split(".")[:2]) if build_host["python"] else None,
            "implementation": build_host["implementation"],
            "system": build_host["system"],
            "machine": build_host["machine"],
            # The wheels built here link against this glibc; the registry's manylinux wheels need less.
            "min_glibc": build_host["glibc"],
            "cpu_flags": llama_cpu_flags(cmake_args),
            "installed_bytes_estimate": int(total * INSTALLED_FACTOR),
        },
        "total_bytes": total,
        "wheels": wheels,
    }
    (wheels_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (wheels_dir / SUMS).write_text("".join(f"{w['sha256']}  {w['file']}\n" for w in wheels))
    return manifest


# --- target host -------------------------------------------------------------------------------------


def load_manifest(wheels_dir: Path) -> dict:
    path = wheels_dir / MANIFEST
    if not path.is_file():
        raise BundleError(f"no {MANIFEST} in {wheels_dir}: build the bundle with deploy/build-wheelhouse.sh")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable ({error})") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: manifest format {manifest.get('format')!r}, this installer reads {FORMAT}")
    return manifest


def check_wheels(wheels_dir: Path, manifest: dict) -> list[str]:
    problems = []
    for wheel in manifest["wheels"]:
        path = wheels_dir / wheel["file"]
        if not path.is_file():
            problems.append(f"missing wheel: {wheel['file']} (the bundle is incomplete: copy it again)")
        elif path.stat().st_size != wheel["bytes"] or sha256_file(path) != wheel["sha256"]:
            problems.append(
                f"altered wheel: {wheel['file']} (sha256 {sha256_file(path)}, the manifest says {wheel['sha256']}): "
                "copy the bundle again from the build host"
            )
    return problems


def check_host(manifest: dict) -> list[str]:
    target, here = manifest["target"], host_facts()
    problems = []
    python = ".".join(platform.python_version().split(".")[:2])
    if python != target["python"] or here["implementation"] != target["implementation"]:
        problems.append(
            f"wrong Python: this is {here['implementation']} {here['python']} ({sys.executable}), "
            f"the bundle was built for {target['implementation']} {target['python']}: pass --python with a "
            f"Python {target['python']}"
        )
    if here["system"] != target["system"] or here["machine"] != target["machine"]:
        problems.append(
            f"wrong platform: this is {here['system']} {here['machine']}, the bundle is for "
            f"{target['system']} {target['machine']}"
        )
    need = target.get("min_glibc")
    if need and (here["glibc"] is None or version_tuple(here["glibc"]) < version_tuple(need)):
        problems.append(
            f"glibc too old or absent: this host has {here['glibc'] or 'no glibc'}, the bundle needs {need} or "
            f"newer (it was built on {manifest['build_host']['os']}): build it on this OS release or older"
        )
    wanted = target.get("cpu_flags") or []
    flags = cpu_flags()
    if wanted and flags is not None and here["machine"] in ("x86_64", "AMD64"):
        lacking = [flag for flag in wanted if flag not in flags]
        if lacking:
            problems.append(
                f"CPU lacks {', '.join(lacking)}, which the bundled llama.cpp was built with "
                f"(CMAKE_ARGS {manifest['llama_cpp_python']['cmake_args']!r}): rebuild the bundle adding "
                + " ".join(f"-DGGML_{k}=OFF" for k, v in LLAMA_CPU_FLAGS.items() if v in lacking)
            )
    return problems


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def check_disk(manifest: dict, prefix: Path) -> tuple[list[str], str]:
    need = int(manifest["target"]["installed_bytes_estimate"]) + DISK_MARGIN_BYTES
    where = existing_ancestor(prefix.parent if not prefix.exists() else prefix)
    free = shutil.disk_usage(where).free
    line = f"{free / 1e9:.1f} GB free at {where}, about {need / 1e9:.1f} GB needed"
    if free < need:
        return [f"not enough disk: {line} for {prefix}"], line
    return [], line


def verify(wheels_dir: Path, prefix: Path | None) -> None:
    manifest = load_manifest(wheels_dir)
    digest = sha256_file(wheels_dir / MANIFEST)
    print(
        f"  bundle     {len(manifest['wheels'])} wheels, {manifest['total_bytes'] / 1e6:,.0f} MB, built {manifest['created_utc']}"
    )
    print(
        f"             on {manifest['build_host']['os']}, Python {manifest['build_host']['python']}, glibc {manifest['build_host']['glibc']}"
    )
    print(f"  manifest   sha256 {digest} (compare with the build's output)")
    problems = check_wheels(wheels_dir, manifest)
    print(f"  {'ok  ' if not problems else 'FAIL'}       wheel hashes ({len(manifest['wheels'])} files)")
    host = check_host(manifest)
    here = host_facts()
    print(
        f"  {'ok  ' if not host else 'FAIL'}       host: {here['implementation']} {here['python']}, "
        f"{here['system']} {here['machine']}, glibc {here['glibc']}, {here['os']}"
    )
    problems += host
    if prefix is not None:
        disk, line = check_disk(manifest, prefix)
        print(f"  {'ok  ' if not disk else 'FAIL'}       disk: {line}")
        problems += disk
    if problems:
        raise BundleError("\n  ".join(["the bundle cannot be installed here:", *problems]))


def write_requirements(wheels_dir: Path, out_dir: Path) -> None:
    """lock.txt (the lock's wheels and the project's) and nodeps.txt, pinned to the bundle's files."""
    manifest = load_manifest(wheels_dir)
    groups: dict[str, list[str]] = {"lock.txt": [], "nodeps.txt": []}
    for wheel in manifest["wheels"]:
        target = "nodeps.txt" if wheel["group"] == "nodeps" else "lock.txt"
        groups[target].append(f"{wheel['name']}=={wheel['version']} \\\n    --hash=sha256:{wheel['sha256']}\n")
    for name, lines in groups.items():
        (out_dir / name).write_text(
            "# Generated by deploy/offline_bundle.py from the bundle's manifest.\n" + "".join(lines)
        )


def main(argv: list[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="offline_bundle.py", description=__doc__.split("\n", 1)[0])
    commands = root.add_subparsers(dest="command", required=True)
    split = commands.add_parser("split-lock")
    split.add_argument("lock", type=Path)
    split.add_argument("out_dir", type=Path)
    make = commands.add_parser("manifest")
    make.add_argument("wheels_dir", type=Path)
    make.add_argument("--lock", type=Path, required=True)
    make.add_argument("--nodeps", type=Path, required=True)
    make.add_argument("--project-wheel", required=True)
    make.add_argument("--cmake-args", default="")
    make.add_argument("--source", default="")
    check = commands.add_parser("verify")
    check.add_argument("wheels_dir", type=Path)
    check.add_argument("--prefix", type=Path, default=None)
    reqs = commands.add_parser("requirements")
    reqs.add_argument("wheels_dir", type=Path)
    reqs.add_argument("out_dir", type=Path)
    args = root.parse_args(argv)
    try:
        if args.command == "split-lock":
            split_lock(args.lock, args.out_dir)
        elif args.command == "manifest":
            manifest = write_manifest(
                args.wheels_dir, args.lock, args.nodeps, args.project_wheel, args.cmake_args, args.source
            )
            print(f"manifest: {len(manifest['wheels'])} wheels, {manifest['total_bytes'] / 1e6:,.0f} MB")
        elif args.command == "verify":
            verify(args.wheels_dir, args.prefix)
        else:
            write_requirements(args.wheels_dir, args.out_dir)
    except (BundleError, OSError) as error:
        print(f"{root.prog}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
