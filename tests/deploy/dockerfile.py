"""Reads the repository's Dockerfile and .dockerignore the way Docker does, for the subset of the syntax they use:
instructions with backslash continuations and # comments, exec (JSON) and shell forms, stages, and
.dockerignore's patterns (`*`, `**`, `!` exceptions, the last matching line wins, a match covers what is inside).

No Docker engine is available to the tests (no daemon, no registry), so the image is checked from its recipe;
helm/README.md says so."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.chart import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY…
    text: str  # the arguments as written (continuations joined)

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (ENTRYPOINT ["identity"]), else None."""
        text = self.text
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(--\S+\s+)*CMD\s+", "", text)
        if not text.startswith("["):
            return None
        words: list[str] = json.loads(text)
        return words

    def words(self) -> list[str]:
        return self.exec_form() or shlex.split(self.text)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in stage {self.name or self.base}"
        return found[-1]


def instructions(text: str) -> list[Instruction]:
    result = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment line inside a continued instruction is dropped, as Docker does
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def build_args(parsed: list[Instruction]) -> dict[str, str]:
    """Global ARGs (before the first FROM) with their defaults."""
    args = {}
    for instruction in parsed:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.text.partition("=")
            args[name] = default
    return args


def stages() -> list[Stage]:
    parsed = instructions(DOCKERFILE.read_text())
    args = build_args(parsed)
    result: list[Stage] = []
    for instruction in parsed:
        if instruction.keyword == "FROM":
            words = instruction.words()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base, name))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def env_of(stage: Stage) -> dict[str, str]:
    """ENV KEY=value pairs of a stage (the key=value form only, which the Dockerfile uses)."""
    env = {}
    for instruction in stage.all("ENV"):
        for word in shlex.split(instruction.text):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {instruction.text!r}: use KEY=value"
            env[key] = value
    return env


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's syntax: Go's filepath.Match per segment (`*` and `?` stay within one segment; the file uses no
    character classes), `**` for any number of segments; a match also covers everything inside it."""
    regex = ""
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            regex += "(?:[^/]+/)*"
        else:
            regex += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment) + "/"
    return re.compile(regex.removesuffix("/") + r"(?:/.*)?\Z", re.S)


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per .dockerignore line, in order."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        rules.append((exception, _pattern_regex(line.removeprefix("!").strip())))
    return rules


def in_build_context(relative: str) -> bool:
    """Whether Docker sends this path (relative to the repository root) to the builder."""
    included = True
    for exception, regex in ignore_rules():
        if regex.match(relative):
            included = exception
    return included


def copied_sources(stage: Stage) -> list[Path]:
    """What the stage's COPY/ADD instructions take from the build context (not --from another stage)."""
    sources = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        words = instruction.words()
        if any(w.startswith("--from") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")][:-1]
        sources.extend(ROOT / p for p in paths)
    return sources


def files_under(path: Path) -> list[str]:
    if path.is_file():
        return [path.relative_to(ROOT).as_posix()]
    return sorted(p.relative_to(ROOT).as_posix() for p in path.rglob("*") if p.is_file())
