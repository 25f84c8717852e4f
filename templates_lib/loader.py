"""Templates: apps shipped as data (``<key>/template.json`` + optional ``sample_data/``).

A template is an app definition (``stageform.app/1``) validated by the builder like any other;
installing it goes through the same services as a user's own app (nothing special-cases it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder import AppDefinition, validate_app

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Template:
    key: str
    app: AppDefinition
    sample_data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def template_keys() -> list[str]:
    return sorted(p.parent.name for p in ROOT.glob("*/template.json"))


def load_template(key: str) -> Template:
    """The template ``key``, validated.

    Raises:
        KeyError: no such template.
        builder.DefinitionError: the template is invalid (a defect of this package).
    """
    directory = ROOT / key
    if key not in template_keys():
        raise KeyError(key)
    app = validate_app(json.loads((directory / "template.json").read_text(encoding="utf-8")))
    sample_path = directory / "sample_data" / "records.json"
    sample = json.loads(sample_path.read_text(encoding="utf-8")) if sample_path.exists() else {}
    return Template(key, app, sample)
