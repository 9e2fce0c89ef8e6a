"""Print pip constraints holding each runtime dependency at the LOWEST version pyproject.toml
allows (its `>=` bound), for `.ci/lowest`. A dependency without a `>=` bound is an error: its
lowest version would be whatever the index has, which nobody tested."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement


def lowest_pins(pyproject: Path) -> list[str]:
    pins = []
    for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise SystemExit(f"{line!r} needs exactly one >= bound to test its lowest version")
        pins.append(f"{requirement.name}=={floors[0]}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print("\n".join(lowest_pins(root / "pyproject.toml")))
