"""Load a problem file safely and turn every mistake into one clear message.

Problem files, sweep specs and sweep journals are all read here, with the same limits:

* **bytes**: a regular file over ``MAX_FILE_BYTES`` is refused from its size alone; anything else
  (a pipe, ``/dev/stdin``, a device such as ``/dev/zero``) is read up to the limit and no further;
* **YAML**: ``safe_load`` semantics (no Python tags); at most ``MAX_ALIASES`` aliases and
  ``MAX_NODES`` nodes *after* alias expansion (a 700-byte "billion laughs" document is refused
  before anything expands it), nesting at most ``MAX_DEPTH`` deep, no recursive aliases, and a key
  given twice in one mapping is refused with both line numbers (YAML would keep the last silently);
* **numbers** follow YAML 1.2: ``1e12`` and ``1.5e3`` are numbers (YAML 1.1 reads them as
  strings), ``010`` is ten (not octal eight), ``1:30`` is text (not sexagesimal ninety).
  Booleans stay as YAML 1.1 has them (``off`` is false), as problem files rely on that.

Error messages name the file and the line, never echo the file's contents.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from .errors import InputError
from .schema import MAX_INT, Problem, all_field_names, sections_of

MAX_FILE_BYTES = 2_000_000      # problem files and sweep specs; the largest example is ~1.5 kB
MAX_ALIASES = 200
MAX_NODES = 1_000_000           # after alias expansion; a 2 MB file of "1," pairs has as many
MAX_DEPTH = 64                  # problem files nest 4 deep

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class ProblemError(InputError):
    """Invalid problem input. ``str()`` names the file and the field path."""

    def __init__(self, source: str, messages: list[str]):
        self.source = source
        self.messages = messages
        super().__init__("\n".join(f"{source}: {m}" for m in messages))


class _LimitError(yaml.MarkedYAMLError):
    """Valid YAML that is refused: over a limit, or a key given twice (reported with its line)."""


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 resolution except for numbers, which follow the YAML 1.2 core schema."""


_Resolver.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in (_INT, _FLOAT)]
    for k, v in yaml.resolver.Resolver.yaml_implicit_resolvers.items()}
# digits may be grouped with "_" (YAML 1.1 allowed it and problem files may use it)
_INT_RX = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$")
_FLOAT_RX = re.compile(r"""^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
                          |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
for _first in "-+0123456789.":
    lst = _Resolver.yaml_implicit_resolvers.setdefault(_first, [])
    # integers first: "12" is an int, "12.0" and "1e3" floats
    lst[:0] = [(_INT, _INT_RX), (_FLOAT, _FLOAT_RX)]


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor with YAML 1.2 integers and duplicate keys refused."""

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        base = 8 if text.startswith("0o") else 16 if text.startswith("0x") else 10
        try:
            return sign * int(text[2:] if base != 10 else text, base)
        except ValueError:  # an explicit !!int tag on text, or more digits than Python converts
            what = (f"integer with {len(text)} digits is out of range" if text.isdigit()
                    else f"{_short(text)!r} is not an integer")
            raise yaml.constructor.ConstructorError(None, None, what, node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                mark = key_node.start_mark
                try:
                    first = seen.setdefault(key, mark)
                except TypeError:  # unhashable: SafeConstructor says so
                    continue
                if first is not mark:
                    where = (f"line {first.line + 1} and line {mark.line + 1}" if first.line != mark.line else
                             f"line {mark.line + 1}, columns {first.column + 1} and {mark.column + 1}")
                    raise _LimitError(None, None, f"key {_short(repr(key))} appears twice in one mapping ({where}); keep one",
                                      mark)
        return super().construct_mapping(node, deep=deep)


_Constructor.add_constructor(_INT, _Constructor.construct_yaml_int)


class _LimitedLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                     _Constructor, _Resolver):
    """Safe loader that bounds depth, aliases and the size of the document after alias expansion."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self._aliases = 0
        self._depth = 0
        self._weight: dict[int, int] = {}   # id(node) -> nodes it stands for once aliases expand

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitError(None, None, f"more than {MAX_ALIASES} YAML aliases: refused (possible alias bomb)",
                                  event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(event, yaml.AliasEvent):
            w = self._weight.get(id(node))
            if w is None:  # the anchor is still being composed: a cycle
                raise _LimitError(None, None, "recursive alias (a node that contains itself)", event.start_mark)
        elif isinstance(node, yaml.ScalarNode):
            w = 1
        elif isinstance(node, yaml.SequenceNode):
            w = 1 + sum(self._weight[id(c)] for c in node.value)
        else:
            w = 1 + sum(self._weight[id(k)] + self._weight[id(v)] for k, v in node.value)
        if w > MAX_NODES:
            raise _LimitError(None, None, f"more than {MAX_NODES:,} values once aliases are expanded: refused "
                              "(possible alias bomb)", event.start_mark)
        self._weight[id(node)] = w
        return node


def _yaml_message(e: yaml.YAMLError) -> str:
    """A YAML error as 'line L, column C: problem' without the snippet of the file it quotes."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = "; ".join(x for x in (e.context, e.problem) if x)
        return where + what
    return str(e).replace("\n", " ")


def parse_yaml(text: str, source: str):
    """Parse YAML ``text`` with the limits above; ``source`` names it in errors.

    Raises
    ------
    ProblemError
        Not valid YAML or over a limit; the message gives the line.
    """
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeConstructor loader
    except _LimitError as e:
        raise ProblemError(source, [_yaml_message(e)]) from None
    except yaml.YAMLError as e:
        raise ProblemError(source, [f"not valid YAML: {_yaml_message(e)}"]) from None
    except RecursionError:  # unreachable with MAX_DEPTH, kept as the last line of defence
        raise ProblemError(source, ["document nests too deeply"]) from None


def parse_json(text: str | bytes, source: str):
    """Parse one JSON document (a journal line) with the same promises: no duplicate keys, no
    numbers out of range, bounded nesting; every failure is a :class:`ProblemError`."""

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise ValueError(f"key {k!r} appears twice in one object")
            d[k] = v
        return d

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
    except RecursionError:
        raise ProblemError(source, ["not valid JSON: nested too deeply"]) from None
    except ValueError as e:  # JSONDecodeError, duplicate keys, integers with too many digits
        raise ProblemError(source, [f"not valid JSON: {e}"]) from None


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _short(text: str, n: int = 60) -> str:
    """A name from a file, cut to ``n`` characters for a message (a 1 MB key is not repeated)."""
    return text if len(text) <= n else text[: n - 3] + "..."


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _short(str(part))
    return out or "(top level)"


def _fmt_input(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
        return f"an integer of {len(str(abs(v)))} digits"
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _is_huge_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT


def format_validation_error(err: ValidationError) -> list[str]:
    """One line per mistake: ``field.path: what is wrong, got VALUE``."""
    msgs = []
    known = sorted(all_field_names())
    errors = err.errors(include_url=False)
    locs = [tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
            for e in errors]
    for e, loc in zip(errors, locs):
        path = _path(loc)
        typ = e["type"]
        if typ == "too_short" and any(other[:len(loc)] == loc and len(other) > len(loc) for other in locs):
            # pydantic also reports "at least 1 item, not 0" for a list whose only items are
            # invalid: the items' own errors say what is wrong, this line would not be true
            continue
        if typ == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            where = sections_of(key)
            if where:
                # a valid key in the wrong section: say where it goes, not "did you mean" itself
                hint = f"; {key!r} belongs under {' or '.join(where)}"
            else:
                hint = f"; did you mean {close[0]!r}?" if close else ""
            msgs.append(f"{path}: unknown key{hint}")
            continue
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        inp = e.get("input")
        if typ == "missing":
            msgs.append(f"{path}: required field is missing")
        elif _is_huge_int(inp):
            msgs.append(f"{path}: number out of range (at most {MAX_INT:,}), got {_fmt_input(inp)}")
        elif isinstance(inp, float) and not math.isfinite(inp):
            msgs.append(f"{path}: must be a finite number, got {inp}")
        elif isinstance(inp, (dict, list)) or typ.startswith("value_error") or inp is None:
            msgs.append(f"{path}: {msg}")
        else:
            msgs.append(f"{path}: {msg}, got {_fmt_input(inp)}")
    return msgs


def problem_from_dict(data, source: str = "<dict>") -> Problem:
    """Validate a mapping (parsed YAML) as a :class:`Problem`; ``source`` names it in errors."""
    if data is None:
        raise ProblemError(source, ["file is empty"])
    if not isinstance(data, dict):
        raise ProblemError(source, [f"top level must be a mapping of keys to values, got {type(data).__name__}"])
    if "schema_version" not in data:
        raise ProblemError(source, ["schema_version: required field is missing (use 'tokenfleet/1')"])
    try:
        problem = Problem.model_validate(data)
    except ValidationError as e:
        raise ProblemError(source, format_validation_error(e)) from None
    except RecursionError:
        raise ProblemError(source, ["document nests too deeply"]) from None
    except (OverflowError, ArithmeticError) as e:  # a figure no float holds, met inside a check
        raise ProblemError(source, [f"a number is out of range ({e})"]) from None
    if problem.calibration is not None and not Path(problem.calibration).is_file():
        raise ProblemError(source, [f"calibration: no such file {problem.calibration!r} (write one with "
                                    "`tokenfleet calibrate`; a relative path is relative to the problem file)"])
    return problem


def bundled_examples() -> dict[str, str]:
    """Bundled example name -> file name."""
    root = resources.files("problems.examples")
    return {Path(p.name).stem: p.name for p in root.iterdir() if p.name.endswith(".yaml")}


DEFAULT_EXAMPLE = "chat-mixed-fleet"


def read_bytes(path, source: str | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, never more than ``max_bytes``.

    A regular file is refused from its size before it is read; a pipe or device (``/dev/stdin``,
    ``/dev/zero``) is read up to ``max_bytes + 1`` bytes and refused if that much arrives.

    Raises
    ------
    ProblemError
        Missing, a directory, unreadable or over the limit; the message names ``source``
        (default: the path).
    """
    src = str(path) if source is None else source
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; one open so the checks see the file read
    except IsADirectoryError:
        raise ProblemError(src, ["is a directory, not a file"]) from None
    except FileNotFoundError:
        raise ProblemError(src, ["no such file"]) from None
    except PermissionError:
        raise ProblemError(src, ["permission denied"]) from None
    except (OSError, ValueError) as e:  # name too long, NUL byte in the name, ...
        raise ProblemError(src, [f"cannot open: {getattr(e, 'strerror', None) or e}"]) from None
    with f:
        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise ProblemError(src, ["is a directory, not a file"])
        if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
            raise ProblemError(src, [f"file is {st.st_size:,} bytes; the limit is {max_bytes:,}"])
        try:
            raw = f.read(max_bytes + 1)
        except OSError as e:
            raise ProblemError(src, [f"cannot read: {e.strerror or e}"]) from None
    if len(raw) > max_bytes:
        kind = "file" if stat.S_ISREG(st.st_mode) else "stream (not a regular file)"
        raise ProblemError(src, [f"{kind} has more than {max_bytes:,} bytes; the limit is {max_bytes:,}"])
    return raw


def read_text(path, source: str | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """:func:`read_bytes` decoded as UTF-8 text; binary data (NUL bytes) is refused."""
    src = str(path) if source is None else source
    raw = read_bytes(path, src, max_bytes=max_bytes)
    if b"\x00" in raw:
        raise ProblemError(src, ["binary file (contains NUL bytes), not YAML text"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProblemError(src, [f"not UTF-8 text ({e.reason} at byte {e.start})"]) from None


def read_yaml(path, source: str | None = None, *, max_bytes: int = MAX_FILE_BYTES):
    """Read and parse the YAML file at ``path`` within every limit of this module.

    The one door for problem files and sweep specs: bounded bytes (:func:`read_bytes`), then
    :func:`parse_yaml`. ``path`` is always a file name, never YAML text (use :func:`parse_yaml`).
    Returns the parsed data (``None`` for an empty file).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"read_yaml: path must be a file name (str or os.PathLike), got {type(path).__name__}")
    src = str(path) if source is None else source
    return parse_yaml(read_text(path, src, max_bytes=max_bytes), src)


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a name no file can have: reported by read_bytes
        return True


def read_source(path_or_name) -> tuple[str, str]:
    """Return (text, source label) for a file path or a bundled example name."""
    if isinstance(path_or_name, bool) or not isinstance(path_or_name, (str, os.PathLike)):
        raise InputError(f"problems.load: give a problem file path or a bundled example name, got "
                         f"{type(path_or_name).__name__}" + ("; for a mapping use problems.problem_from_dict"
                                                             if isinstance(path_or_name, dict) else ""))
    s = str(path_or_name)
    p = Path(s)
    examples = bundled_examples()
    if not _exists(p) and s in examples:
        text = resources.files("problems.examples").joinpath(examples[s]).read_text(encoding="utf-8")
        return text, f"<bundled:{s}>"
    if not _exists(p):
        hint = difflib.get_close_matches(s, list(examples), n=1)
        extra = f"; did you mean the bundled example {hint[0]!r}?" if hint else (
            "; bundled examples: " + ", ".join(sorted(examples)))
        raise ProblemError(s, [f"no such file{extra}"])
    return read_text(p, s), s


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
    return problem_from_dict(_relative_to_file(parse_yaml(text, source), source), source)


def _relative_to_file(data, source: str):
    """Paths inside a problem file are relative to that file: make ``calibration`` absolute."""
    if isinstance(data, dict) and isinstance(data.get("calibration"), str) and not source.startswith("<"):
        p = Path(data["calibration"])
        if not p.is_absolute():
            data = dict(data, calibration=str(Path(source).resolve().parent / p))
    return data


def load_dict(path_or_name) -> tuple[dict, str]:
    """The raw mapping of a problem file (for sweeps that edit it before validation)."""
    text, source = read_source(path_or_name)
    data = parse_yaml(text, source)
    if not isinstance(data, dict):
        problem_from_dict(data, source)  # raises the right message
    return _relative_to_file(data, source), source
