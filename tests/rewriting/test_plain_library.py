from tests.foundation.test_layering import _modules_after


def test_rewriting_imports_without_django():
    modules = _modules_after(
        "import rewriting.prompts, rewriting.lm, rewriting.guards, rewriting.pipeline"
    )
    assert "torch" in modules and "lemminflect" not in modules  # the lexicon loads on first use
    assert not any(name == "django" or name.startswith("django.") for name in modules)
