#!/usr/bin/env python3
"""Copy the front-end files Stageform serves from pinned npm packages into app/static/vendor/.

    scripts/vendor_static.py          # fetch (npm pack, from the npm registry) and copy
    scripts/vendor_static.py --check  # exit 1 when a vendored file differs from its package

The files are committed: nothing is downloaded when Stageform runs or is installed, and a
browser never loads anything from another site. To upgrade, change a version in PACKAGES,
run this, and commit the files together with app/static/vendor/VERSIONS.md, which it writes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "app" / "static" / "vendor"

# npm package -> (exact version, target folder, files taken from the package)
PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "swagger-ui-dist": (
        "5.35.0",
        "swagger-ui",
        (
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "favicon-32x32.png",
            "LICENSE",
            "NOTICE",
            # the licenses of what the bundle includes (its first line points here)
            "swagger-ui-bundle.js.LICENSE.txt",
        ),
    ),
}


def _packed(name: str, version: str, workdir: Path) -> tarfile.TarFile:
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    return tarfile.open(workdir / out)


def _files(name: str, version: str, wanted: tuple[str, ...], workdir: Path) -> dict[str, bytes]:
    with _packed(name, version, workdir) as tar:
        found: dict[str, bytes] = {}
        for member in wanted:
            extracted = tar.extractfile(f"package/{member}")
            if extracted is None:
                raise SystemExit(f"{name}@{version} has no {member}")
            found[member] = extracted.read()
        return found


def _versions(digests: dict[str, dict[str, str]]) -> str:
    out = io.StringIO()
    out.write("# Vendored front-end files\n\n")
    out.write("Written by `scripts/vendor_static.py` from the npm registry; do not edit.\n\n")
    out.write("| package | version | folder | file | sha256 |\n|---|---|---|---|---|\n")
    for name, (version, folder, wanted) in PACKAGES.items():
        for member in wanted:
            digest = digests[name][member]
            out.write(f"| {name} | {version} | {folder}/ | {member} | `{digest}` |\n")
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    check = parser.parse_args().check
    digests: dict[str, dict[str, str]] = {}
    differs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, folder, wanted) in PACKAGES.items():
            files = _files(name, version, wanted, Path(tmp))
            digests[name] = {m: hashlib.sha256(data).hexdigest() for m, data in files.items()}
            for member, data in files.items():
                target = VENDOR / folder / member
                if check:
                    if not target.exists() or target.read_bytes() != data:
                        differs.append(str(target.relative_to(ROOT)))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    versions = _versions(digests)
    if check:
        listed = VENDOR / "VERSIONS.md"
        if not listed.exists() or listed.read_text() != versions:
            differs.append(str(listed.relative_to(ROOT)))
        for path in differs:
            print(f"differs from its package: {path}", file=sys.stderr)
        return 1 if differs else 0
    (VENDOR / "VERSIONS.md").write_text(versions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
