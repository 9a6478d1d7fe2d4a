"""Reading architecture files: YAML to validated models, named library files resolved, errors made readable."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from amdcgan.errors import UserError

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


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot be read ({error})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}: malformed YAML{where}: {problem}") from None


def format_validation_error(source: str, error: ValidationError, prefix: str = "") -> str:
    lines = [f"{source}: {error.error_count()} problem(s):"]
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        got = item.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {path or '(top level)'}: {message}{shown}")
    return "\n".join(lines)


def validate(model: type[Model], data: Any, source: str, prefix: str = "") -> Model:
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise UserError(format_validation_error(source, error, prefix)) from None


def _library_data(kind: str, reference: str, source: str, relative_to: Path | None) -> tuple[dict, str]:
    """The raw mapping of a shipped name or a path, and a description of where it came from."""
    folder, _ = LIBRARY_KINDS[kind]
    candidate = Path(reference)
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to / candidate
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
        data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
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
