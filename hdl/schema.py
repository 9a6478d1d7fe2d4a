"""JSON Schemas of the file formats, generated from the pydantic models (the committed copies live in schema/)."""

from __future__ import annotations

import json
from pathlib import Path

from amdcgan.fileio import write_text_atomic

from .spec import ArchitectureFile, ComponentLibrary, Memristor, Technology

SCHEMA_MODELS = {
    "architecture": ArchitectureFile,
    "technology": Technology,
    "device": Memristor,
    "components": ComponentLibrary,
}


def schema_texts() -> dict[str, str]:
    return {
        f"{kind}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for kind, model in SCHEMA_MODELS.items()
    }


def write_schemas(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return [write_text_atomic(folder / name, text) for name, text in schema_texts().items()]
