"""The OpenAPI document is the API's manual: generated without warnings, every body the real one."""

from __future__ import annotations

import warnings

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

# Operations whose request bodies once all showed the corpus-create body (one shared name).
OWN_BODIES = {
    ("/api/v1/corpora/{corpus_id}/imports/", "post"): "CorpusImportInputRequest",
    ("/api/v1/projects/{project_id}/reward-models/", "post"): "ProjectRewardModelsInputRequest",
    ("/api/v1/reward-models/{run_id}/scorings/", "post"): "RewardModelScoreInputRequest",
    ("/api/v1/projects/{project_id}/curations/", "post"): "ProjectCurationInputRequest",
    ("/api/v1/datasets/{dataset_id}/exports/", "post"): "DatasetExportInputRequest",
}


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generated = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, f"schema warnings: {GENERATOR_STATS}"
    return generated


def test_every_post_documents_its_own_body(schema):
    for (path, method), component in OWN_BODIES.items():
        body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == f"#/components/schemas/{component}", path
    names = [
        op["requestBody"]["content"]["application/json"]["schema"].get("$ref")
        for methods in schema["paths"].values()
        for op in methods.values()
        if "requestBody" in op
    ]
    assert "#/components/schemas/InputRequest" not in names


def test_paginated_lists_are_documented_as_pages(schema):
    response = schema["paths"]["/api/v1/projects/{project_id}/items/"]["get"]["responses"]["200"]
    ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {
        "next",
        "previous",
        "results",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v2/projects/", "/api/"])
def test_unknown_api_paths_answer_in_the_error_shape(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_the_curation_policy_language_is_documented_from_the_validator(schema):
    from rewardmodel.selection import policy_schema

    ops = set(policy_schema()["ops"])
    for component in ("ProjectCurationInputRequest", "ScoringCurationInputRequest"):
        policy = schema["components"]["schemas"][component]["properties"]["policy"]
        preset_name, steps = policy["oneOf"]
        documented = {s["title"] for s in steps["items"]["oneOf"]} - {"preset"}
        assert documented == ops, component
        assert "align2llava" in preset_name["enum"]
        top_k = next(s for s in steps["items"]["oneOf"] if s["title"] == "top_k")
        assert top_k["required"] == ["op", "score", "k"]
        assert top_k["properties"]["k"]["minimum"] == 0
