"""All-or-nothing file outputs: a folder or file is written beside its final place and moved in
at the end, so a job killed part-way leaves the previous output whole (and its scratch is
removed by the next run of the job)."""
from __future__ import annotations

import os
import shutil


def fresh_dir(final: str, suffix: str = ".new") -> str:
    """An empty folder beside ``final`` to build its replacement in (leftovers of a killed run
    removed)."""
    new = final.rstrip(os.sep) + suffix
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(final.rstrip(os.sep) + ".old", ignore_errors=True)
    os.makedirs(new)
    return new


def replace_dir(new: str, final: str) -> None:
    """Put the folder ``new`` in the place of ``final`` (two renames; the old one removed after)."""
    final = final.rstrip(os.sep)
    old = final + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(final):
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
