"""Load a problem file safely and turn every mistake into one clear message.

Only ``yaml.safe_load`` semantics (no Python tags), a size limit, and an alias limit that
refuses "billion laughs" documents before anything expands them.
"""

from __future__ import annotations

import difflib
import math
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from .errors import InputError
from .schema import Problem, all_field_names

MAX_FILE_BYTES = 2_000_000
MAX_ALIASES = 200


class ProblemError(InputError):
    """Invalid problem input. ``str()`` names the file and the field path."""

    def __init__(self, source: str, messages: list[str]):
        self.source = source
        self.messages = messages
        super().__init__("\n".join(f"{source}: {m}" for m in messages))


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases; many aliases means an expansion bomb."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} YAML aliases: refused (possible alias bomb)")
        return super().compose_node(parent, index)


def parse_yaml(text: str, source: str):
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as e:
        msg = str(e).replace("\n", " ")
        raise ProblemError(source, [f"not valid YAML: {msg}"]) from None


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fmt_input(v) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def format_validation_error(err: ValidationError) -> list[str]:
    msgs = []
    known = sorted(all_field_names())
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        path = _path(loc)
        typ = e["type"]
        if typ == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msgs.append(f"{path}: unknown key{hint}")
            continue
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        inp = e.get("input")
        if typ == "missing":
            msgs.append(f"{path}: required field is missing")
        elif isinstance(inp, float) and not math.isfinite(inp):
            msgs.append(f"{path}: must be a finite number, got {inp}")
        elif isinstance(inp, (dict, list)) or typ.startswith("value_error") or inp is None:
            msgs.append(f"{path}: {msg}")
        else:
            msgs.append(f"{path}: {msg}, got {_fmt_input(inp)}")
    return msgs


def problem_from_dict(data, source: str = "<dict>") -> Problem:
    if data is None:
        raise ProblemError(source, ["file is empty"])
    if not isinstance(data, dict):
        raise ProblemError(source, [f"top level must be a mapping of keys to values, got {type(data).__name__}"])
    if "schema_version" not in data:
        raise ProblemError(source, ["schema_version: required field is missing (use 'tokenfleet/1')"])
    try:
        return Problem.model_validate(data)
    except ValidationError as e:
        raise ProblemError(source, format_validation_error(e)) from None
    except RecursionError:
        raise ProblemError(source, ["document nests too deeply"]) from None


def bundled_examples() -> dict[str, str]:
    """Bundled example name -> file name."""
    root = resources.files("problems.examples")
    return {Path(p.name).stem: p.name for p in root.iterdir() if p.name.endswith(".yaml")}


DEFAULT_EXAMPLE = "chat-mixed-fleet"


def read_source(path_or_name) -> tuple[str, str]:
    """Return (text, source label) for a file path or a bundled example name."""
    s = str(path_or_name)
    p = Path(s)
    examples = bundled_examples()
    if not p.exists() and s in examples:
        text = resources.files("problems.examples").joinpath(examples[s]).read_text(encoding="utf-8")
        return text, f"<bundled:{s}>"
    if not p.exists():
        hint = difflib.get_close_matches(s, list(examples), n=1)
        extra = f"; did you mean the bundled example {hint[0]!r}?" if hint else (
            "; bundled examples: " + ", ".join(sorted(examples)))
        raise ProblemError(s, [f"no such file{extra}"])
    if p.is_dir():
        raise ProblemError(s, ["is a directory, not a problem file"])
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ProblemError(s, [f"file is {size} bytes; problem files are limited to {MAX_FILE_BYTES}"])
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise ProblemError(s, ["binary file (contains NUL bytes), not YAML text"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProblemError(s, [f"not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    return text, s


def load(path_or_name) -> Problem:
    """Load and validate a problem from a YAML file path or a bundled example name.

    Raises
    ------
    ProblemError
        With one message per mistake, each naming the file and the field path.
    """
    text, source = read_source(path_or_name)
    if not text.strip():
        raise ProblemError(source, ["file is empty"])
    return problem_from_dict(parse_yaml(text, source), source)


def load_dict(path_or_name) -> tuple[dict, str]:
    """The raw mapping of a problem file (for sweeps that edit it before validation)."""
    text, source = read_source(path_or_name)
    data = parse_yaml(text, source)
    if not isinstance(data, dict):
        problem_from_dict(data, source)  # raises the right message
    return data, source
