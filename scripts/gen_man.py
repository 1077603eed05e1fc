"""Regenerate man/*.1 from the CLI (``make man``)."""

from __future__ import annotations

from pathlib import Path

from dmc.commands.manpage import write_all

if __name__ == "__main__":
    for path in write_all(Path(__file__).resolve().parent.parent / "man"):
        print(path)
