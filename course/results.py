"""The results registry: every figure the course quotes, with the command that produced it.

``results/ID.json`` holds one record per figure or table::

    {"id": "vae.nll_30_epochs", "value": 98.295, "unit": "nats", "format": ".2f",
     "command": "python -m course train vae --latent-dim 32 --epochs 30",
     "data": "MNIST subset: first 14,262 training images; full 10,000-image test set",
     "n": 10000, "seeds": [0], "machine": "...", "date": "2026-..", "source": "..."}

``value`` is a number, or an object / list for a table. In a lesson's markdown, in the README
(and anywhere else ``python -m course notebooks build`` renders), a figure sits between
invisible markers that name its record, a key path into a table and a format::

    <!-- result:vae.nll_30_epochs -->98.30<!-- /result -->
    <!-- result:lesson05.table#DCGAN 20 epochs/fd :.2f -->3.97<!-- /result -->

A format that starts with ``min`` shows seconds as minutes (``:min.0f`` writes 789 s as 13).

``build`` rewrites the text between the markers from the registry; ``check`` (a unit test)
fails when any marked text differs from it or a marker names no record. So a figure is typed
once, in a record that says how it was made, never in the prose. Standard library only: the
notebook build and check run from a bare checkout. Taught nowhere; used by every lesson.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import CourseError

#: Fields every record has (``unit``, ``format`` and ``notes`` are optional).
REQUIRED = ("id", "value", "command", "data", "n", "seeds", "machine", "date", "source")

#: A marked figure. Ids are lower case, so an example written with ``ID`` (as in the README) is no marker.
MARKER = re.compile(r"<!-- result:(?P<spec>[a-z0-9][^<>]*?) -->(?P<text>.*?)<!-- /result -->", re.S)
_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class RegistryError(CourseError, ValueError):
    """A record that is malformed, or text that names no record."""


def folder(root: str | Path) -> Path:
    return Path(root) / "results"


def load(root: str | Path) -> dict[str, dict]:
    """Every record under ``root/results/``, by id; raises :class:`RegistryError` on a malformed one."""
    records = {}
    for path in sorted(folder(root).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise RegistryError(f"{path} is not JSON ({err})") from None
        problems = validate(record, path.stem)
        if problems:
            raise RegistryError(f"{path}: " + "; ".join(problems))
        records[record["id"]] = record
    return records


def validate(record, stem: str | None = None) -> list[str]:
    """What is wrong with one record (an empty list: nothing)."""
    if not isinstance(record, dict):
        return ["a record is a JSON object"]
    problems = [f"no {key!r}" for key in REQUIRED if key not in record]
    rid = record.get("id")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        problems.append(f"id {rid!r} is not lower-case letters, digits, '.', '_' or '-'")
    elif stem is not None and rid != stem:
        problems.append(f"id {rid!r} differs from the file name {stem!r}.json")
    command = record.get("command")
    if "command" in record and not (isinstance(command, str) and command.strip() or isinstance(command, list)
                                    and command and all(isinstance(c, str) and c.strip() for c in command)):
        problems.append("'command' is a command line, or a list of them run in order")
    for key in ("data", "machine", "date", "source"):
        if key in record and not (isinstance(record[key], str) and record[key].strip()):
            problems.append(f"{key!r} is empty")
    if "seeds" in record and not (isinstance(record["seeds"], list) and record["seeds"]
                                  and all(isinstance(s, int) for s in record["seeds"])):
        problems.append("'seeds' is a non-empty list of integers")
    if "format" in record:
        def works(example):
            try:
                format(example, record["format"])
                return True
            except (TypeError, ValueError):
                return False

        if not (works(1) or works(1.0)):
            problems.append(f"format {record['format']!r} is not a format spec")
    return problems


def parse_spec(spec: str) -> tuple[str, list[str], str | None]:
    """``"ID#key/key :.2f"`` -> ``("ID", ["key", "key"], ".2f")``: keys may hold spaces; the
    format (a Python format spec, optional) follows the last ``" :"``."""
    spec, sep, fmt = spec.strip().rpartition(" :") if " :" in spec else (spec.strip(), "", "")
    rid, _, path = spec.partition("#")
    return rid.strip(), [p for p in path.split("/") if p], (fmt.strip() or None) if sep else None


def value_at(record: dict, path: list[str]):
    """The value a key path names inside a record's value (a table)."""
    value = record["value"]
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise RegistryError(f"{record['id']} has no {'/'.join(path)!r}")
    return value


def formatted(value, fmt: str | None) -> str:
    """A value as text: with ``fmt`` (a format spec), else as JSON writes it (strings as they are)."""
    if isinstance(value, str):
        return value
    if fmt and fmt.startswith("min"):  # seconds, shown as minutes
        if not isinstance(value, (int, float)):
            raise RegistryError(f"the format {fmt!r} shows seconds as minutes; {value!r} is not a number of seconds")
        return format(value / 60, fmt[3:] or ".0f")
    if fmt:
        return format(value, fmt)
    return json.dumps(value, ensure_ascii=False)


def text_of(records: dict[str, dict], spec: str) -> str:
    rid, path, fmt = parse_spec(spec)
    if rid not in records:
        raise RegistryError(f"no record {rid!r} in results/")
    record = records[rid]
    return formatted(value_at(record, path), fmt or record.get("format"))


def render(text: str, records: dict[str, dict]) -> tuple[str, list[str]]:
    """``text`` with every marked figure rewritten from the registry, and the markers that name
    nothing (left as they were)."""
    problems = []

    def replace(match):
        try:
            return f"<!-- result:{match['spec']} -->{text_of(records, match['spec'])}<!-- /result -->"
        except (RegistryError, TypeError, ValueError) as err:
            problems.append(f"{match['spec']!r}: {err}")
            return match[0]

    return MARKER.sub(replace, text), problems


def check(text: str, records: dict[str, dict], where: str) -> list[str]:
    """Each marked figure in ``text`` that differs from its record, or names none."""
    problems = []
    for match in MARKER.finditer(text):
        try:
            expected = text_of(records, match["spec"])
        except (RegistryError, TypeError, ValueError) as err:
            problems.append(f"{where}: {match['spec']!r}: {err}")
            continue
        if match["text"] != expected:
            problems.append(f"{where}: {match['spec']!r} reads {match['text']!r}, the registry says {expected!r}")
    # a marker mistyped (no space before -->, no closing tag) would otherwise be left as text, unchecked
    # (the syntax shown as inline code, as in the README, is not a marker)
    stray = re.sub(r"`[^`\n]*`", "", MARKER.sub("", text))
    at = min((i for i in (stray.find("<!-- result:"), stray.find("<!-- /result -->")) if i >= 0), default=-1)
    if at >= 0:
        problems.append(f"{where}: a malformed figure marker near {stray[at:at + 70]!r} (write "
                        "'<!-- result:ID#key :FORMAT -->figure<!-- /result -->')")
    return problems


def commands(record: dict) -> list[str]:
    """A record's command lines, in the order they run."""
    return [record["command"]] if isinstance(record["command"], str) else list(record["command"])


def used(text: str) -> set[str]:
    """The record ids ``text`` marks."""
    return {parse_spec(m["spec"])[0] for m in MARKER.finditer(text)}
