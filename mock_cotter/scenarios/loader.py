"""Reading scenario files: YAML, TOML or JSON, checked against the models.

Every problem is reported with the file, the line (YAML) or field path, and
what is allowed there; a library of scenarios loads whole or not at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib
import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .models import DEFAULT, Scenario

logger = logging.getLogger(__name__)

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}
SCHEMA_FILE = "scenario.schema.json"


class ScenarioError(ConfigError):
    """A scenario file or document that cannot be used; says where and why."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid scenario:\n{lines}")


def bundled_dir() -> Path:
    """The scenarios shipped with mock-cotter.

    A wheel carries them inside the package; a checkout (and the editable
    install used in development) reads the top-level ``fixtures/`` folder.
    """
    packaged = resources.files("mock_cotter").joinpath("_fixtures")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "fixtures"


def parse(text: str, source: str, fmt: str, *, name: str | None = None) -> Scenario:
    """A scenario from a document's text; ``fmt`` is yaml, toml or json.

    ``name`` (a file's stem) is the scenario's name; a document that names
    itself otherwise is refused.
    """
    data, node = _decode(text, source, fmt)
    if not isinstance(data, dict):
        raise ScenarioError(source, ["the document must be a mapping of fields"])
    if name is not None:
        if data.get("name", name) != name:
            raise ScenarioError(
                source, [f"name {data['name']!r} must match the file name {name!r}"]
            )
        data = {**data, "name": name}
    return validate(data, source, node)


def validate(data: dict[str, Any], source: str, node: Any = None) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, describe(exc, node)) from None


def load_file(path: str | Path) -> Scenario:
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        allowed = ", ".join(sorted(SUFFIXES))
        raise ScenarioError(str(path), [f"unknown file type; use one of {allowed}"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot be read: {exc}"]) from None
    return parse(text, str(path), fmt, name=path.stem)


# The C loader when PyYAML was built with libyaml: several times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _decode(text: str, source: str, fmt: str) -> tuple[Any, Any]:
    try:
        if fmt == "yaml":
            # One pass: the node tree gives line numbers for errors, and
            # the data is built from the same tree.
            loader = _YAML_LOADER(text)
            try:
                node = loader.get_single_node()
                data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
            return data, node
        if fmt == "toml":
            return tomllib.loads(text), None
        return json.loads(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [f"{where}YAML syntax error: {problem}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"TOML syntax error: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            source, [f"line {exc.lineno}: JSON syntax error: {exc.msg}"]
        ) from None


def describe(
    exc: ValidationError, node: Any = None, root: type[BaseModel] = Scenario
) -> list[str]:
    """One line per problem: where (line, field path) and what is allowed."""
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        path = ".".join(str(part) for part in loc) or "(document)"
        line = _line_of(node, loc)
        where = f"line {line}: " if line else ""
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_fields_at(root, loc[:-1])) or "none"
            message = f"unknown field; allowed here: {allowed}"
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{path}: {message}")
    return problems


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``root``."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        if field is None:
            return []
        model = _inner_model(field.annotation)
    return sorted(model.model_fields) if _is_model(model) else []


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _inner_model(annotation: Any) -> Any:
    if _is_model(annotation):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of ``loc`` in a composed YAML document."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


class ScenarioLibrary:
    """Every scenario the server knows, by name: the bundled ones, then any
    folder of the user's (which may replace a bundled one by name)."""

    def __init__(self, scenarios: dict[str, Scenario]):
        self._scenarios = scenarios

    @classmethod
    def load(cls, folders: Iterable[str | Path] = ()) -> ScenarioLibrary:
        scenarios: dict[str, Scenario] = {"default": DEFAULT}
        problems: list[ScenarioError] = []
        for folder in [bundled_dir(), *map(Path, folders)]:
            if not folder.is_dir():
                raise ConfigError(f"Fixtures folder {str(folder)!r} does not exist.")
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in SUFFIXES or path.name == SCHEMA_FILE:
                    continue
                try:
                    scenarios[path.stem] = load_file(path)
                except ScenarioError as exc:
                    problems.append(exc)
        if problems:
            # Nothing is half-loaded: every broken file is reported at once.
            raise ConfigError("\n".join(str(p) for p in problems))
        logger.debug("loaded %d scenarios", len(scenarios))
        return cls(scenarios)

    def names(self) -> list[str]:
        return sorted(self._scenarios)

    def get(self, name_or_path: str) -> Scenario:
        """A scenario by name, or from a file path."""
        if name_or_path in self._scenarios:
            return self._scenarios[name_or_path]
        if Path(name_or_path).suffix.lower() in SUFFIXES:
            return load_file(name_or_path)
        allowed = ", ".join(self.names())
        raise ConfigError(
            f"Unknown scenario {name_or_path!r}; known scenarios: {allowed} "
            "(or give a path to a .yaml, .toml or .json file)."
        )
