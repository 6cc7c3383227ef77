#!/usr/bin/python3
"""The Debian packages that provide the shared libraries a binary loads (per `ldd`).

Used by tests/deploy/dockerfile_test.py, and by hand to refresh the Dockerfile's runtime list:
    tests/deploy/ldd_packages.py bazel-bin/service/sentinel bazel-bin/clients/cli/sentinelctl
"""
import os
import subprocess
import sys


def libraries(binary):
    """The absolute paths of every library `ldd binary` lists (transitive ones included)."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                paths.append(target)
            elif target == "not":
                raise RuntimeError(f"{binary}: library not found: {line.strip()}")
        elif parts and parts[0].startswith("/"):
            paths.append(parts[0])  # the dynamic loader
    return paths


_OWNERS = None


def _owners():
    """Every file dpkg installed, to its package: what `dpkg -S` answers, read once from
    /var/lib/dpkg/info/*.list (dpkg -S takes seconds a call on a busy machine)."""
    global _OWNERS
    if _OWNERS is None:
        _OWNERS = {}
        info = "/var/lib/dpkg/info"
        for name in os.listdir(info):
            if not name.endswith(".list"):
                continue
            package = name[:-len(".list")].split(":")[0]
            with open(os.path.join(info, name), errors="replace") as f:
                for line in f:
                    _OWNERS.setdefault(line.rstrip("\n"), package)
    return _OWNERS


def owner(path):
    """The package that owns `path`, trying the path as given, resolved, and either side of
    Debian's merged /usr (dpkg records /lib/... for files now reached as /usr/lib/...)."""
    resolved = os.path.realpath(path)
    owners = _owners()
    for p in (path, resolved):
        for candidate in (p, p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p):
            if candidate in owners:
                return owners[candidate]
    raise RuntimeError(f"no Debian package owns {path}")


def packages(binaries):
    return sorted({owner(lib) for b in binaries for lib in libraries(b)})


if __name__ == "__main__":
    print(" ".join(packages(sys.argv[1:])))
