"""The safety judge: CLUE's zero-shot cascade over a vision-language model, and a judge learned
from annotators' verdicts. A plain library (no Django): it runs on a GPU box or in a notebook.

- ``judge.config.JudgeConfig``: every threshold and switch of the cascade (the paper's defaults);
- ``judge.rules.JudgeRule``: a rule with its AND-chain of OR-preconditions and central objects;
- ``judge.sources``: the probability-source interfaces and a scripted source for tests;
- ``judge.cascade``: the algorithm, one decision and its complete trace per (image, rule);
- ``judge.hf``: the real sources (any VLM, CLIP, OWLv2 by hub name or path);
- ``judge.proposals``: a helper causal LM proposes a rule's preconditions and central objects;
- ``judge.learned``: a per-rule classifier over reward-model features (rule BCE);
- ``judge.metrics``: precision, recall, F1, Cohen's kappa with 95% intervals.
"""
