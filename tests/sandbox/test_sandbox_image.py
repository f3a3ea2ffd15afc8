"""The image recipe is hashed; a current image is never rebuilt; offline is detected fast."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import docker
import pytest

from sandbox.image import RECIPE_DIR, RECIPE_FILES, _base_available, build_image, recipe_hash
from tests.sandbox.conftest import RunExperiment


def test_the_recipe_hash_changes_with_every_recipe_file(tmp_path: Path) -> None:
    recipe = tmp_path / "image"
    shutil.copytree(RECIPE_DIR, recipe)
    seen = {recipe_hash(recipe)}
    assert recipe_hash(recipe) == recipe_hash(RECIPE_DIR)
    for name in RECIPE_FILES:
        with (recipe / name).open("a") as f:
            f.write("\n# changed\n")
        seen.add(recipe_hash(recipe))
    assert len(seen) == 1 + len(RECIPE_FILES)


@pytest.mark.docker
def test_a_current_image_is_not_rebuilt(docker_client: docker.DockerClient, sandbox_image: str) -> None:
    lines: list[str] = []
    started = time.monotonic()
    status = build_image(docker_client, sandbox_image, log=lines.append)
    assert time.monotonic() - started < 5
    assert status.up_to_date and status.kind in ("dockerfile", "debootstrap")
    assert lines == [f"image: {sandbox_image} is up to date (recipe {status.recipe}, {status.kind})"]


@pytest.mark.docker
def test_an_unpullable_base_image_is_detected_in_seconds(docker_client: docker.DockerClient) -> None:
    lines: list[str] = []
    started = time.monotonic()
    assert not _base_available(docker_client, "labloop-test/no-such-base:0", 5, lines.append)
    assert time.monotonic() - started < 15
    assert "cannot pull" in lines[-1] or "pull failed" in lines[-1]


@pytest.mark.docker
def test_the_image_has_the_scientific_stack(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os, sys
        import matplotlib, numpy, pandas, scipy, sklearn
        versions = {m.__name__: m.__version__ for m in (numpy, scipy, sklearn, pandas, matplotlib)}
        print(sys.version.split()[0], versions)
        json.dump({"python_minor": sys.version_info.minor}, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """
    )
    assert result.status == "succeeded", result
    assert result.metrics["python_minor"] >= 11
    assert all(name in result.stdout_tail for name in ("numpy", "scipy", "sklearn", "pandas", "matplotlib"))
