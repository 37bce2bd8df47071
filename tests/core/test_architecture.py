"""The architecture as the README draws it and import-linter enforces it: one contract, one picture, hooks
that resolve, and no import cycle between any two modules of the apps."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import grimp
import pytest
from django.conf import settings
from django.utils.module_loading import import_string

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("argus_plugins", "ledger", "registry", "installations", "execution", "marketplace", "triggers")


def contract_layers() -> list[list[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].strip().splitlines()
    return [re.split(r"\s*[|:]\s*", line.strip()) for line in lines]


def readme_layers() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    picture = readme.split("<!-- architecture:", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    known = {module for layer in contract_layers() for module in layer}
    layers = []
    for line in picture.splitlines():
        modules = [token for token in re.split(r"[\s|:]+", line) if token in known]
        if modules:
            layers.append(modules)
    return layers


def test_the_readme_picture_is_the_import_linter_contract():
    assert readme_layers() == contract_layers()


def test_the_contract_names_every_app_in_installed_apps_and_nothing_else():
    layered = {module for layer in contract_layers() for module in layer}
    apps = {name.removesuffix(".apps.ArgusAdminConfig").split(".apps.")[0] for name in settings.INSTALLED_APPS}
    ours = {app for app in apps if app.split(".")[0] in APP_PACKAGES}
    assert ours <= layered, ours - layered


def test_no_import_cycle_between_any_two_modules_of_the_apps():
    """Stronger than the layers: inside an app too, no module imports one that imports it back (imports
    inside functions included), e.g. a task module and the service it runs."""
    graph = grimp.build_graph(*APP_PACKAGES)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert cycles == []


def _hook_points() -> dict[str, str]:
    """Every hook point constant declared in a ``hooks.py`` of the apps: value → where."""
    points = {}
    for path in ROOT.glob("**/hooks.py"):
        if ".venv" in path.parts or path.parts[len(ROOT.parts)] not in APP_PACKAGES:
            continue
        for node in ast.parse(path.read_text()).body:
            value = node.value if isinstance(node, ast.Assign) else None
            if isinstance(value, ast.Constant) and re.fullmatch(r"[a-z_]+\.[a-z_]+", str(value.value)):
                points[value.value] = f"{path.relative_to(ROOT)}:{node.targets[0].id}"
    return points


def test_every_registered_hook_answers_a_declared_point_and_imports():
    points = _hook_points()
    assert set(settings.ARGUS_HOOKS) <= set(points), set(settings.ARGUS_HOOKS) - set(points)
    for paths in settings.ARGUS_HOOKS.values():
        for path in paths:
            assert callable(import_string(path)), path


@pytest.mark.parametrize("point", sorted(_hook_points()))
def test_every_declared_point_is_called_and_answered(point):
    constant = _hook_points()[point].rsplit(":", 1)[1]
    calls = [
        path
        for package in APP_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if re.search(rf"run_hooks\(\s*{constant}\b", path.read_text())
    ]
    assert calls, f"{point} is declared but nothing calls run_hooks({constant}, ...)"
    assert settings.ARGUS_HOOKS.get(point), f"{point} is called but no app answers it in ARGUS_HOOKS"


def test_lower_layers_name_no_higher_app_in_strings_they_import():
    """import_string / import_module with a literal path are imports too: none points up."""
    order = [module for layer in reversed(contract_layers()) for module in layer]
    rank = {module: index for index, module in enumerate(order)}

    def layer_of(dotted: str) -> str | None:
        matches = [module for module in rank if dotted == module or dotted.startswith(module + ".")]
        return max(matches, key=len) if matches else None

    offenders = []
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            source = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
            if source is None or (source.startswith("argus_plugins.") and rank[source] >= len(order) - 6):
                continue  # the composition root may name anything
            for literal in re.findall(r"(?:import_string|import_module)\(\s*[\"']([\w.:]+)[\"']", path.read_text()):
                target = layer_of(literal.split(":")[0])
                if target is not None and rank[target] > rank[source]:
                    offenders.append((str(path.relative_to(ROOT)), literal))
    assert offenders == []
