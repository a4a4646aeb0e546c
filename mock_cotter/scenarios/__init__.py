"""Scenarios: named situations (approved, denied, expired...) in fixture files."""

from __future__ import annotations

from .loader import ScenarioError, ScenarioLibrary, load_file, parse, validate
from .models import DEFAULT, Scenario

__all__ = [
    "DEFAULT",
    "Scenario",
    "ScenarioError",
    "ScenarioLibrary",
    "load_file",
    "parse",
    "validate",
]
