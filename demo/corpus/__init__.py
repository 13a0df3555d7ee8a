"""Demo corpus: easy-VQA shapes and scikit-image photos with recorded generation defects.

Pure Python (no Django), so benchmarks and tests can build and judge a corpus anywhere.
"""

from demo.corpus.builder import DemoCorpus, build_demo_corpus
from demo.corpus.simulate import Judgment, load_ground_truth, simulate_judgments

__all__ = [
    "DemoCorpus",
    "Judgment",
    "build_demo_corpus",
    "load_ground_truth",
    "simulate_judgments",
]
