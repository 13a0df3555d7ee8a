"""An Arbiter reward model as a reward function for TRL's GRPOTrainer.

    from trl import GRPOTrainer
    reward = arbiter_reward(
        "https://arbiter.example.org", run_id=7, token=os.environ["ARBITER_TOKEN"]
    )
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], args=..., train_dataset=...)

Prompts and completions may be plain strings or chat messages ([{"role", "content"}]); each
(prompt, completion) becomes a LLaVA conversation (human turns, then the completion as the
answer) scored by `POST /api/v1/reward-models/{run_id}/score/` in batches of at most 64.
Pass `images=[...]` columns (base64 strings) through the dataset to score with an image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

MAX_BATCH = 64  # the endpoint's bound


def _text(message: Any) -> str:
    content = message["content"] if isinstance(message, dict) else message
    if isinstance(content, list):  # content parts: keep the text ones
        return " ".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return str(content)


def _conversation(prompt: Any, completion: Any) -> list[dict[str, str]]:
    turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    conversation = [
        {"from": "gpt" if turn.get("role") == "assistant" else "human", "value": _text(turn)}
        for turn in turns
        if turn.get("role") != "system"
    ]
    answer = completion if isinstance(completion, str) else _text(completion[-1])
    return [*conversation, {"from": "gpt", "value": answer}]


def arbiter_reward(
    base_url: str, *, run_id: int, token: str, timeout: float = 60.0
) -> Callable[..., list[float]]:
    """A GRPO reward function: `reward(prompts, completions, **columns) -> [float, ...]`."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    url = f"{base_url.rstrip('/')}/api/v1/reward-models/{run_id}/score/"

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        images = columns.get("images_base64") or [None] * len(prompts)
        entries = [
            {"conversations": _conversation(p, c), **({"image": {"base64": i}} if i else {})}
            for p, c, i in zip(prompts, completions, images, strict=True)
        ]
        rewards: list[float] = []
        for start in range(0, len(entries), MAX_BATCH):
            response = session.post(
                url, json={"entries": entries[start : start + MAX_BATCH]}, timeout=timeout
            )
            response.raise_for_status()
            rewards += [row["reward"] for row in response.json()["rewards"]]
        return rewards

    reward.__name__ = f"arbiter_rm_{run_id}"  # TRL logs each reward function by its name
    return reward
