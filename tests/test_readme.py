"""The README stays the set-up guide it promises to be: short, naming every setting the code
reads, and the architecture page's tree naming every module there is."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= 350


def test_the_configuration_table_lists_every_setting_the_code_reads() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z_<>a-zA-Z]+)` \|", table, re.MULTILINE))
    names = {name.upper() for name in Settings.model_fields if name != "project_keys"}
    names.add("EI_API_KEY_<projectId>")  # project_keys is read from these
    assert names <= listed, sorted(names - listed)


def test_the_architecture_tree_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    tree = doc.split("```\nbot/\n", 1)[1].split("```", 1)[0]
    words = set(re.findall(r"[\w.]+", tree))
    bot = ROOT / "bot"
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted(bot.rglob("*.py"))
        if "__pycache__" not in path.parts
        and path.stem != "__init__"
        and path.stem not in words
        and path.name not in words
    ]
    rooms = [p.name for p in bot.iterdir() if p.is_dir() and p.name != "__pycache__"]
    missing += [room for room in rooms if room not in words]
    assert not missing, f"docs/architecture.md's tree does not name: {missing}"
