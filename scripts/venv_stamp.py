"""What a virtual environment has installed, so that ``make demo`` and ``make test`` share one venv.

    python scripts/venv_stamp.py check  VENV ROOT REQUIREMENTS   # exit 0: installed and current
    python scripts/venv_stamp.py record VENV ROOT REQUIREMENTS   # after a successful install

The stamp (``VENV/.lemons-installed``, JSON) names the checkout that was installed (editable) and,
for every requirement file installed, a hash of what it asks for: its text, the files it includes
(``-r other.txt``), ``constraints.txt`` and ``setup.py``. Installing a file records it and every
file it includes, so after ``requirements-dev.txt`` (which includes ``requirements.txt``),
``requirements.txt`` is known to be installed too. A file is current while its hash is unchanged.

Standard library only: it runs with the Python that creates the venv, before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

STAMP = ".lemons-installed"
#: Files every install depends on, whichever requirement file it reads.
SHARED_INPUTS = ("constraints.txt", "setup.py")


def included(root: Path, requirements: str) -> list[str]:
    """``requirements`` and the files it includes (``-r`` / ``--requirement``), recursively, in order."""
    found = [requirements]
    for line in (root / requirements).read_text().splitlines():
        words = line.split("#", 1)[0].replace("=", " ").split()
        if len(words) == 2 and words[0] in ("-r", "--requirement"):
            name = (Path(requirements).parent / words[1]).as_posix()
            found += [item for item in included(root, name) if item not in found]
    return found


def wanted(root: Path, requirements: str) -> str:
    """Hash of what installing ``requirements`` in ``root`` installs."""
    digest = hashlib.sha256()
    for name in [*included(root, requirements), *SHARED_INPUTS]:
        path = root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def read_stamp(venv: Path, root: Path) -> dict[str, str]:
    """``{requirement file: hash}`` installed into ``venv`` from ``root`` (empty: none, another
    checkout, or a stamp this script does not read)."""
    try:
        stamp = json.loads((venv / STAMP).read_text())
        if stamp["checkout"] != str(root.resolve()):
            return {}
        return {str(name): str(value) for name, value in stamp["installed"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def is_current(venv: Path, root: Path, requirements: str) -> bool:
    """Whether ``requirements`` is installed in ``venv`` as it now reads."""
    return read_stamp(venv, root).get(requirements) == wanted(root, requirements)


def record(venv: Path, root: Path, requirements: str) -> None:
    """Note that ``requirements`` (and every file it includes) is now installed in ``venv``."""
    installed = read_stamp(venv, root)
    for name in included(root, requirements):
        installed[name] = wanted(root, name)
    stamp = {"checkout": str(root.resolve()), "installed": installed}
    tmp = venv / (STAMP + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    tmp.replace(venv / STAMP)


def main(argv: list[str]) -> int:
    """``check`` (exit 0 when current, 1 otherwise) or ``record``."""
    if len(argv) != 4 or argv[0] not in ("check", "record"):
        print(__doc__, file=sys.stderr)
        return 2
    command, venv, root, requirements = argv
    if command == "check":
        return 0 if is_current(Path(venv), Path(root), requirements) else 1
    record(Path(venv), Path(root), requirements)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
