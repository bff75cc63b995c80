"""requirements.lock pins every package the project and its test extra need, within pyproject.toml's minimums,
and the environment running the tests was installed from it (scripts/bootstrap.sh passes it to pip)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "identity-platform"


def _locked() -> dict[str, str]:
    """Name -> exact version, for the pins whose markers hold here (uvloop only off Windows, say)."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"not an exact pin: {line}"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _needed(name: str, extras: set[str]) -> list[Requirement]:
    """What the installed distribution ``name`` requires with these extras, here (markers evaluated)."""
    needed = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        environments = [{**default_environment(), "extra": extra} for extra in extras | {""}]
        if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
            needed.append(requirement)
    return needed


def test_every_requirement_of_the_project_and_its_test_extra_is_pinned_and_installed_at_the_pin() -> None:
    locked = _locked()
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(PROJECT, {"test"})]
    while queue:
        name, extras = queue.pop()
        for requirement in _needed(name, extras):
            key = canonicalize_name(requirement.name)
            assert key in locked, f"{requirement} (needed by {name}) is not in requirements.lock: ./scripts/lock.sh"
            assert requirement.specifier.contains(locked[key], prereleases=True), (
                f"{name} needs {requirement}, the lock has {locked[key]}"
            )
            assert metadata.version(key) == locked[key], (
                f"{key} {metadata.version(key)} installed, locked {locked[key]}"
            )
            if (key, frozenset(requirement.extras)) not in seen:
                seen.add((key, frozenset(requirement.extras)))
                queue.append((key, set(requirement.extras)))
    # The lint and type-check tools are in the test extra too, pinned like the rest.
    assert {"ruff", "mypy", "pytest", "starlette", "authlib"} <= {name for name, _ in seen}
