"""environment.yml, pyproject.toml and constraints.txt agree with each other.

Conda cannot run on the CI machines, so the conda file is checked statically: it parses,
uses only keys conda knows, every spec is a valid conda MatchSpec, and it asks for the
same packages and versions as pyproject.toml.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from rattler import MatchSpec, Version, VersionSpec

ROOT = Path(__file__).resolve().parents[1]
CONDA_KEYS = {"name", "channels", "dependencies", "variables", "prefix"}
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge/pytorch channel name


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    unique = {canonicalize_name(Requirement(s).name): Requirement(s) for s in specs}
    return list(unique.values())


def conda_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_specs() -> tuple[dict[str, MatchSpec], list[str]]:
    conda, pip = {}, []
    for dep in conda_environment()["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            spec = MatchSpec(dep)
            conda[spec.name.normalized] = spec
    return conda, pip


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_environment_uses_only_known_keys():
    env = conda_environment()
    assert set(env) <= CONDA_KEYS, f"unknown keys: {set(env) - CONDA_KEYS}"
    assert env["name"] == "tlnlp" and env["channels"]


def test_every_conda_spec_parses():
    for dep in conda_environment()["dependencies"]:
        if isinstance(dep, str):
            MatchSpec(dep)  # raises on an invalid spec


def test_conda_and_pyproject_ask_for_the_same_packages_and_versions():
    conda, pip = conda_specs()
    pip_names = {canonicalize_name(Requirement(p).name) for p in pip if not p.startswith("-")}
    for req in pyproject_requirements():
        name = CONDA_NAMES.get(req.name, canonicalize_name(req.name))
        if name in conda:
            conda_version = str(conda[name].version).replace(" ", "")
            assert conda_version == str(req.specifier).replace(" ", "") or set(conda_version.split(",")) == {
                str(s) for s in req.specifier
            }, f"{req.name}: pyproject {req.specifier} vs environment.yml {conda_version}"
        else:
            assert canonicalize_name(req.name) in pip_names, f"{req.name} is missing from environment.yml"


def test_pins_satisfy_both_specs():
    conda, _ = conda_specs()
    pins = pinned()
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        version = pins[name]
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} violates {req.specifier}"
        conda_spec = conda.get(CONDA_NAMES.get(name, name))
        if conda_spec is not None and conda_spec.version:
            assert VersionSpec(str(conda_spec.version)).matches(Version(version))


def test_torch_pin_is_the_cpu_wheel_release():
    # A bare torch requirement pulls a multi-GB CUDA build on these machines.
    assert pinned()["torch"] == "2.13.0"


@pytest.mark.parametrize("bad", ["numpy >=>1", "scipy >=1.2,,<"])
def test_matchspec_rejects_invalid_specs(bad):
    # Guards the test above: an invalid spec must not parse silently.
    with pytest.raises(Exception):
        MatchSpec(bad)
