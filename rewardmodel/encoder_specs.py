"""Names of the offline composite encoders, without torch, so the web process can read them.

``encoders.encoder_load`` builds them. The grounded pair is the default pair with colour-term
columns closing each row (``rewardmodel.colour_terms``); a head trained on both grounds the
colours an answer names in its image.
"""

from __future__ import annotations

DEFAULT_TURN_TEXT = "default-turn-text"
DEFAULT_IMAGE_COLOUR = "default-image-colour"
GROUNDED_TEXT = "grounded-turn-text"
GROUNDED_IMAGE = "grounded-image-colour"
COMPOSITE_DEFAULTS = (DEFAULT_TURN_TEXT, DEFAULT_IMAGE_COLOUR, GROUNDED_TEXT, GROUNDED_IMAGE)


def colour_grounded(text_spec: str | None, image_spec: str | None) -> bool:
    """Whether a head over these encoders compares the colours the text names with the image."""
    return text_spec == GROUNDED_TEXT and image_spec == GROUNDED_IMAGE
