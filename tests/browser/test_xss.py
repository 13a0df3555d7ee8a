"""XSS suite: script payloads in every string a corpus, project or user controls; every page
opened by every role. No dialog may open, no payload may reach the DOM as markup, no link may
be `javascript:`, and the Content-Security-Policy must report no violation (a violation means
an escape was missed and only the policy stopped it)."""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Error as PlaywrightError

from annotation.models import Project
from annotation.services.projects import constitution_set, member_set, project_create
from annotation.services.queue import item_next
from annotation.services.submit import annotation_submit
from core.models import Job
from corpora.models import Corpus, Item
from corpora.services.corpus_import import corpus_import
from curation.models import ItemScore, RewardModelRun
from curation.services.curation import curation_commit
from tests.browser.conftest import login
from tests.browser.data import PASSWORD, _image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(2)</script>'
SVG = "<svg/onload=alert(3)>"
JS_LINK = "[click me](javascript:alert(4))"


def evil(label: str) -> str:
    """A label followed by the three markup payloads (an attribute break-out among them)."""
    return f"{label} {IMG}{SCRIPT}{SVG}"


# Short payload for columns of 64-100 characters (categories).
SHORT = f"c{IMG}"

# Recorded in every page before its own scripts run: CSP violations and any dialog call.
PROBE = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ""}`);
});
"""
# Markup that only exists if a payload was parsed as HTML, and live script links.
DOM_CHECK = """() => ({
  injected: [...document.querySelectorAll(
      'img[src="x"], svg[onload], [onerror], script:not([src]):not([type="application/json"])')]
    .map((n) => n.outerHTML.slice(0, 120)),
  scriptLinks: [...document.querySelectorAll("a[href], area[href]")]
    .filter((a) => /^\\s*(javascript|vbscript|data):/i.test(a.getAttribute("href")))
    .map((a) => a.outerHTML.slice(0, 120)),
  violations: window.__violations || [],
})"""


def _corpus_file(folder, n_items: int):
    rng = random.Random(1)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n_items):
        name = f"{i}.png"
        _image(images / name, rng.choice(["circle", "square"]), (200, 60, 50))
        answer = f"{evil('answer')} {JS_LINK} **bold** `{SCRIPT}`"
        value = [answer, evil("candidate B"), evil("candidate C")] if i % 2 == 0 else answer
        records.append(
            {
                "id": f"{i}-{IMG}",
                "image": name,
                "category": SHORT if i % 3 else f"d{SVG}",
                "conversations": [
                    {"from": "human", "value": f"<image>\n{evil('question')} {JS_LINK}"},
                    {
                        "from": "gpt",
                        "value": value,
                        **({"score": [0.9, 0.5, 0.1]} if i % 2 == 0 else {}),
                    },
                ],
            }
        )
    source = folder / "evil.json"
    source.write_text(json.dumps(records))
    return source, images


QUESTIONS = [
    {
        "key": "quality",
        "type": "rating",
        "prompt": evil("Quality prompt"),
        "help": evil("help text"),
        "labels": [{"value": v, "label": evil(f"label {v}")} for v in (1, 2, 3)],
    },
    {"key": "issues", "type": "multi_label", "prompt": evil("Issues"), "required": False,
     "options": [evil("option a"), evil("option b")]},
    {"key": "pair", "type": "pairwise", "prompt": evil("Pair prompt"), "required": True},
    {"key": "safety", "type": "rule_verdict", "prompt": evil("Safety prompt"), "required": True},
    {"key": "why", "type": "text", "prompt": evil("Rationale prompt"), "required": False},
]  # fmt: skip
RULES = [
    {
        "key": "harm",
        "category": SHORT,
        "severity": "high",
        "text": evil("rule text"),
        "objectified": evil("rule objectified"),
        "preconditions": [evil("precondition")],
    }
]


def _answer(project: Project, user, quality: int) -> None:
    lease = item_next(project_id=project.pk, user=user)
    item = Item.objects.get(pk=lease.item["id"])
    answers = {
        "quality": quality,
        "issues": [QUESTIONS[1]["options"][quality % 2]],
        "safety": {"harm": {"verdict": "violates", "rationale": evil(f"rationale {quality}")}},
        "why": evil(f"why {quality}"),
    }
    if item.has_candidates:
        answers["pair"] = {"a": 0, "b": 1, "turn": 1, "choice": "A"}
    annotation_submit(
        project_id=project.pk, user=user, item_id=item.pk, answers=answers, client_key=None
    )


def seed_payloads(folder) -> dict:
    User = get_user_model()
    users = {
        "admin": User.objects.create_user(f"admin{IMG}", password=PASSWORD, is_staff=True),
        "owner": User.objects.create_user(f"owner{SCRIPT}", password=PASSWORD),
        "reviewer": User.objects.create_user(f"rev{SVG}", password=PASSWORD),
        "annotator": User.objects.create_user(f"ann{IMG}", password=PASSWORD),
    }
    second = User.objects.create_user(f"ann2{SCRIPT}", password=PASSWORD)
    corpus = Corpus.objects.create(name=evil("corpus"), description=evil("corpus description"))
    source, images = _corpus_file(folder, 6)
    corpus_import(corpus=corpus, source=source, images=images)
    project = project_create(
        name=evil("project"),
        corpora=[corpus],
        created_by=users["admin"],
        questions=QUESTIONS,
        preset=None,
        overlap=2,
        instructions=f"{evil('instructions')}\n\n{JS_LINK} [ok](https://example.org)",
    )
    constitution_set(
        project=project, rules=RULES, name=evil("constitution"), created_by=users["admin"]
    )
    member_set(project=project, user_id=users["owner"].pk, role="owner")
    member_set(project=project, user_id=users["reviewer"].pk, role="reviewer")
    member_set(project=project, user_id=users["annotator"].pk, role="annotator")
    member_set(project=project, user_id=second.pk, role="annotator")
    # Two annotators disagree on two items: the review queue and the dashboard have content.
    for _ in range(2):
        _answer(project, users["annotator"], 1)
        _answer(project, second, 3)
    # A finished reward-model run with scores, and a committed dataset version.
    job = Job.objects.create(
        kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED, message=evil("job message")
    )
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={},
        text_encoder="x",
        in_progress=False,
        artifact_path="unused",
        metrics={"eval_accuracy": 0.7, "eval_spearman_by_criterion": {evil("criterion"): 0.5}},
        human_agreement={"agreement": 0.8},
    )
    rng = random.Random(0)
    ItemScore.objects.bulk_create(
        ItemScore(run=run, item=item, overall=rng.random()) for item in corpus.items.all()
    )
    curation_commit(
        project=project,
        run=run,
        policy=[{"op": "top_fraction", "score": "overall", "fraction": 0.5}],
        name=evil("dataset"),
    )
    return {"project": project, "run": run, "users": users}


def _pages(project: Project, run: RewardModelRun) -> list[str]:
    p = project.pk
    return [
        "/",
        "/corpora/",
        "/projects/new/",
        f"/projects/{p}/",
        f"/projects/{p}/edit/",
        f"/projects/{p}/annotate/",
        f"/projects/{p}/review/",
        f"/projects/{p}/reward-models/",
        f"/reward-models/{run.pk}/",
        f"/projects/{p}/curation/",
    ]


def _settle(page) -> None:
    # The pages fill themselves from the API; wait until the network is quiet.
    with contextlib.suppress(PlaywrightError):
        page.wait_for_load_state("networkidle", timeout=8_000)


def _check(page, where: str, dialogs: list[str]) -> None:
    found = page.evaluate(DOM_CHECK)
    assert not dialogs, f"{where}: a dialog opened: {dialogs}"
    assert not found["injected"], f"{where}: payload parsed as markup: {found['injected']}"
    assert not found["scriptLinks"], f"{where}: script link: {found['scriptLinks']}"
    assert not found["violations"], f"{where}: CSP violation: {found['violations']}"


@pytest.mark.parametrize("role", ["admin", "owner", "reviewer", "annotator"])
def test_no_payload_runs_on_any_page(page, tmp_path, role: str) -> None:
    # given: payloads in every string of a corpus, a project, its rubric, rules and answers
    data = seed_payloads(tmp_path)
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.add_init_script(PROBE)
    login(page, data["users"][role].username)
    # when: the role opens every page (the ones it may not open answer 403)
    for url in _pages(data["project"], data["run"]):
        response = page.goto(url)
        _settle(page)
        # then
        _check(page, f"{role} {url}", dialogs)
        if response.status == 200:  # the payloads are on the page, as text
            text = page.inner_text("body")
            assert evil("project") in text or evil("corpus") in text, url
    # The curation preview puts categories, ids and item text on the page from the API.
    if role in ("admin", "owner", "reviewer"):
        page.goto(f"/projects/{data['project'].pk}/curation/")
        page.get_by_role("button", name="Preview").click()
        page.locator("#samples li").first.wait_for()
        _check(page, f"{role} curation preview", dialogs)
        assert IMG in page.locator("#preview-rows").inner_text()  # shown, as text
    # The workspace shows the item; its instructions' javascript: link is not live.
    page.goto(f"/projects/{data['project'].pk}/annotate/")
    _settle(page)
    _check(page, f"{role} workspace", dialogs)
    blocked = [text for text in console if "Content Security Policy" in text]
    assert not blocked, blocked


def test_pages_carry_the_content_security_policy(page, tmp_path) -> None:
    data = seed_payloads(tmp_path)
    login(page, data["users"]["admin"].username)
    for url in _pages(data["project"], data["run"]):
        response = page.goto(url)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, url
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0], url
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy, url
