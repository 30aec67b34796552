"""Build the Jupyter Book (1.x) for a profile, offline."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from . import paths, profiles

DEFAULT = profiles.DEFAULT_PROFILE


def toc_for(profile: str) -> Path:
    """_toc.yml as committed (default profile), or a copy pointing at another profile's notebooks."""
    toc = paths.REPO_ROOT / "_toc.yml"
    if profile == DEFAULT:
        return toc
    out = build_dir(profile) / "_toc.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(toc.read_text().replace(f"book/executed/{DEFAULT}/", f"book/executed/{profile}/"))
    return out


def build_dir(profile: str) -> Path:
    return paths.REPO_ROOT / "_build" / profile


def html_dir(profile: str) -> Path:
    return build_dir(profile) / "_build" / "html"


def build(profile: str = DEFAULT, clean: bool = False) -> Path:
    profiles.load(profile)
    if clean and build_dir(profile).exists():
        shutil.rmtree(build_dir(profile) / "_build", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(paths.REPO_ROOT), "--toc", str(toc_for(profile)),
           "--path-output", str(build_dir(profile)), "--keep-going"]
    subprocess.run(cmd, check=True, cwd=paths.REPO_ROOT)
    index = html_dir(profile) / "index.html"
    if not index.exists():
        raise RuntimeError(f"book build finished but {index} is missing")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the book's HTML for a profile")
    parser.add_argument("--profile", default=DEFAULT, choices=profiles.names())
    parser.add_argument("--clean", action="store_true")
    args = parser.parse_args(argv)
    print(build(args.profile, clean=args.clean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
