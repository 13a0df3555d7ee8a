from pathlib import Path

import pytest

from demo.corpus import DemoCorpus, build_demo_corpus


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCorpus:
    return build_demo_corpus(Path(tmp_path_factory.mktemp("demo")), n_items=300, seed=3)
