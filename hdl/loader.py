"""Reading architecture files: YAML to validated models, named library files resolved, errors made readable."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from amdcgan.errors import UserError
from amdcgan.fileio import read_text_capped

from .shapes import check_shapes
from .spec import Architecture, ArchitectureFile, ComponentLibrary, Memristor, Technology

Model = TypeVar("Model", bound=BaseModel)

# kind of library file -> (folder inside hdl/data, model)
LIBRARY_KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "technology": ("technology", Technology),
    "device": ("device", Memristor),
    "components": ("components", ComponentLibrary),
}


def shipped_names(kind: str) -> list[str]:
    folder = resources.files("amdcgan.hdl") / "data" / LIBRARY_KINDS[kind][0]
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def shipped(kind: str) -> dict[str, BaseModel]:
    """Every shipped file of a kind (technology, device, components), validated, by name."""
    return {name: resolve_library(kind, name, f"shipped {kind}", None) for name in shipped_names(kind)}


MAX_YAML_BYTES = 4 * 2**20
MAX_YAML_DEPTH = 64  # mappings and lists inside each other
MAX_YAML_NODES = 200_000  # values, counting each use of an alias at the size of what it names
# YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-3 or 4e3 as strings; here they are numbers, as in every YAML 1.2 reader.
FLOAT_PATTERN = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader that refuses duplicate keys and bounds nesting depth and size (aliases included), so that a
    hostile file ends in a message, not a RecursionError or an exponential expansion."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth, self._nodes, self._anchor_sizes = 0, 0, {}

    def _problem(self, text: str) -> yaml.YAMLError:
        return yaml.composer.ComposerError(None, None, text, self.peek_event().start_mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._nodes += self._anchor_sizes.get(self.peek_event().anchor, 1)
            if self._nodes > MAX_YAML_NODES:
                raise self._problem(f"more than {MAX_YAML_NODES:,} values (aliases counted in full)")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise self._problem(f"nested more than {MAX_YAML_DEPTH} levels deep")
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise self._problem(f"more than {MAX_YAML_NODES:,} values")
        start, anchor = self._nodes, getattr(self.peek_event(), "anchor", None)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if anchor is not None:
            self._anchor_sizes[anchor] = self._nodes - start + 1
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the constructor below reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_PATTERN, list("-+0123456789."))


def parse_yaml(text: str, source: str) -> Any:
    """The data of a YAML text. A problem is reported by line and column, with the parser's description of it
    stripped of quoted content: the file may not be ours, and its text is not repeated."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = re.sub(r"(['\"]).*?\1", "...", getattr(error, "problem", None) or "cannot be parsed")
        raise UserError(f"{source}: malformed YAML{where}: {problem}") from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    return parse_yaml(read_text_capped(path, MAX_YAML_BYTES, "YAML file"), str(path))


def format_validation_error(source: str, error: ValidationError, prefix: str = "") -> str:
    lines = [f"{source}: {error.error_count()} problem(s):"]
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        got = item.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {_short(repr(got))})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {path or '(top level)'}: {message}{shown}")
    return "\n".join(lines)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """Models already validated (handed in from Python) as their data; anything else YAML makes as its text."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else str(value)


def validate(model: type[Model], data: Any, source: str, prefix: str = "") -> Model:
    """Validated with strict types (a number written as a string is an error, not converted), through JSON so
    that enumerations are read from their names."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    if data and not set(map(str, data)) & set(model.model_fields):
        # Not a file of this kind at all (perhaps not ours): nothing of it is repeated.
        raise UserError(f"{source}: not a {model.__name__} file: none of its top-level keys is one of its fields "
                        f"({', '.join(model.model_fields)})")
    try:
        text = json.dumps(data, default=_plain)
    except (TypeError, ValueError) as error:
        raise UserError(f"{source}: holds values that are not plain data ({error})") from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise UserError(format_validation_error(source, error, prefix)) from None


def _library_data(kind: str, reference: str, source: str, relative_to: Path | None) -> tuple[dict, str]:
    """The raw mapping of a shipped name or a path, and a description of where it came from."""
    folder, _ = LIBRARY_KINDS[kind]
    candidate = Path(reference)
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to / candidate
    if not reference.strip() or candidate.is_dir():
        raise UserError(f"{source}: {kind}: {reference!r} names a folder, not a {kind} file or a shipped {kind}")
    if reference.endswith((".yaml", ".yml")) or candidate.exists():
        data = read_yaml(candidate)
        source = str(candidate)
    else:
        shipped = resources.files("amdcgan.hdl") / "data" / folder / f"{reference}.yaml"
        if not shipped.is_file():
            raise UserError(
                f"{source}: {kind}: {reference!r} is neither a file nor a shipped {kind}; "
                f"shipped: {', '.join(shipped_names(kind))}"
            )
        data = parse_yaml(shipped.read_text(encoding="utf-8"), f"shipped {kind} {reference!r}")
        source = f"shipped {kind} {reference!r}"
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping at the top level")
    return data, source


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_library(kind: str, reference: str | dict, source: str, relative_to: Path | None) -> BaseModel:
    """A named or inline library entry, with any overriding fields applied, validated."""
    if isinstance(reference, str):
        data, where = _library_data(kind, reference, source, relative_to)
        return validate(LIBRARY_KINDS[kind][1], data, where)
    overrides = dict(reference)
    base = overrides.pop("base", None)
    data, where = ({}, source) if base is None else _library_data(kind, str(base), source, relative_to)
    merged = deep_merge(data, overrides)
    return validate(LIBRARY_KINDS[kind][1], merged, f"{source} ({kind}, based on {where})", prefix=kind)


def build_architecture(data: Any, source: str, relative_to: Path | None = None) -> Architecture:
    """An Architecture from the raw mapping of an architecture file."""
    arch_file = validate(ArchitectureFile, data, source)
    fields = arch_file.model_dump(exclude={"technology", "device", "components"})
    resolved = {
        kind: resolve_library(kind, getattr(arch_file, kind), source, relative_to) for kind in LIBRARY_KINDS
    }
    architecture = validate(Architecture, {**fields, **{k: v.model_dump() for k, v in resolved.items()}}, source)
    check_shapes(architecture, source)
    return architecture


def load_architecture(path: str | Path) -> Architecture:
    """Read, validate and resolve an architecture file; every problem is a UserError naming the file and field."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an architecture YAML file")
    return build_architecture(read_yaml(path), str(path), path.parent)


def with_technology(architecture: Architecture, technology: str | None, components: str | None) -> Architecture:
    """The same architecture on another technology and component library (shipped names or file paths)."""
    data = architecture.model_dump()
    if technology:
        data["technology"] = resolve_library("technology", technology, "--technology", Path.cwd()).model_dump()
    if components:
        data["components"] = resolve_library("components", components, "--components", Path.cwd()).model_dump()
    return validate(Architecture, data, f"{architecture.name} on {technology or 'its technology'}")
