"""Style rewriting: a causal LM rewrites instruction turns in its own manner, reviews the
change and faithfulness guards veto rewrites that lost or invented content.

A plain library (no Django): it runs on a GPU box or in a notebook. ``rewardmodel`` is the only
part of the project it may import.
"""
