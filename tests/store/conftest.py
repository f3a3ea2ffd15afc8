from collections.abc import Iterator
from pathlib import Path

import pytest

from services.store import Store, open_store
from tests.utils.databases import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The app database on each real backend, migrated and empty."""
    with database_url(request.param, tmp_path) as url, open_store(url) as opened:
        yield opened
