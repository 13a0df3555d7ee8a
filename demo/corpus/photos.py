"""Hand-written conversations about the photos bundled with scikit-image.

Each question carries its true value and plausible wrong values, rendered into the same
sentence, so a wrong answer is only detectable by looking at the photo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from demo.corpus.qa import QA

MAX_SIDE = 512


@dataclass(frozen=True)
class PhotoQuestion:
    question: str
    template: str  # "{v}" marks the value
    value: str
    wrong: tuple[str, ...]
    category: str  # conversation | detail | complex_reasoning


@dataclass(frozen=True)
class Photo:
    name: str  # skimage.data function name
    questions: tuple[PhotoQuestion, ...]
    extras: tuple[str, ...]  # true, value-neutral sentences
    absent: tuple[str, ...]  # objects not in the photo


def _q(question: str, template: str, value: str, wrong: str, category: str = "conversation"):
    return PhotoQuestion(question, template, value, tuple(wrong.split("|")), category)


PHOTOS: tuple[Photo, ...] = (
    Photo(
        "astronaut",
        (
            _q(
                "What is the person wearing?",
                "The person is wearing {v}.",
                "an orange spacesuit",
                "a dark business suit|a white lab coat|a blue jacket",
            ),
            _q(
                "What is the person doing?",
                "The person is {v} at the camera.",
                "smiling",
                "frowning|shouting|squinting",
            ),
            _q(
                "What flag can be seen on the left?",
                "On the left side there is {v}.",
                "the flag of the United States",
                "the flag of Canada|the flag of Japan",
            ),
            _q(
                "What is shown in the model on the right?",
                "The model on the right is {v}.",
                "a space shuttle",
                "a sailing ship|a jet airliner|a steam train",
            ),
            _q(
                "Describe the image in detail.",
                "This is an official portrait of a woman in {v}. She smiles at the camera, "
                "with an American flag behind her on the left and a model of a space shuttle "
                "on the right. A helmet rests in front of her.",
                "an orange spacesuit",
                "a green military uniform|a white doctor's coat",
                "detail",
            ),
            _q(
                "What might this person's job be, judging from the picture?",
                "Given the {v}, the helmet and the shuttle model, she is most likely an "
                "astronaut posing for an official portrait.",
                "orange pressure suit",
                "chef's uniform|pilot's leather jacket",
                "complex_reasoning",
            ),
        ),
        ("A helmet rests in front of her.", "The portrait has a studio-style backdrop."),
        ("a golden retriever", "a bicycle", "a cup of coffee", "a laptop on a desk"),
    ),
    Photo(
        "camera",
        (
            _q(
                "What is the man doing?",
                "The man is {v}.",
                "looking through a camera on a tripod",
                "riding a bicycle|reading a newspaper",
            ),
            _q(
                "What colour is the man's coat?",
                "His coat is {v}.",
                "black",
                "bright red|white|light blue",
            ),
            _q(
                "Where is the scene taking place?",
                "The scene is {v}.",
                "outdoors on a grassy field",
                "inside a kitchen|on a crowded beach",
            ),
            _q(
                "Is this photo in colour?",
                "{v}",
                "No, it is a black-and-white photograph.",
                "Yes, it is a full-colour photograph.",
            ),
            _q(
                "Describe the image in detail.",
                "A man in a dark coat stands on a grassy field and {v}. Buildings are visible "
                "far away in the background under a pale sky.",
                "looks through a camera mounted on a tripod",
                "throws a ball to a dog|sits on a bench reading a book",
                "detail",
            ),
            _q(
                "Why might the man be using a tripod?",
                "He is {v}; a tripod keeps the camera steady, which gives sharper pictures "
                "and lets him frame the scene carefully.",
                "operating a camera",
                "painting on an easel|fishing with a rod",
                "complex_reasoning",
            ),
        ),
        ("The photo is in black and white.", "The ground is an open lawn."),
        ("a red umbrella", "a parked car", "a flock of birds", "a small dog"),
    ),
    Photo(
        "chelsea",
        (
            _q(
                "What animal is in the picture?",
                "The picture shows {v}.",
                "a cat",
                "a dog|a fox|a rabbit",
            ),
            _q(
                "What colour are the animal's eyes?",
                "Its eyes are {v}.",
                "yellowish green",
                "bright blue|dark brown|red",
            ),
            _q(
                "What colour is the animal's fur?",
                "The fur is {v}.",
                "orange-brown with darker stripes",
                "pure black|solid white|gray with spots",
            ),
            _q(
                "Describe the image in detail.",
                "This is a close-up of {v} looking straight at the camera. It has large "
                "yellowish green eyes, long white whiskers and a pink nose.",
                "a tabby cat",
                "a small dog|a young fox",
                "detail",
            ),
            _q(
                "What mood does the animal seem to be in?",
                "It seems {v}: its ears are up and its eyes are wide open and focused on the "
                "camera, a sign that it is watching something with interest.",
                "alert and curious",
                "fast asleep|angry and hissing",
                "complex_reasoning",
            ),
        ),
        ("The background is out of focus.", "Its long whiskers are clearly visible."),
        ("a ball of yarn", "a food bowl", "a second cat", "a collar with a bell"),
    ),
    Photo(
        "coffee",
        (
            _q(
                "What drink is shown?",
                "The cup holds {v}.",
                "a coffee",
                "a glass of orange juice|a cup of green tea|a milkshake",
            ),
            _q("What colour is the saucer?", "The saucer is {v}.", "red", "white|blue|green"),
            _q(
                "What surface is the cup sitting on?",
                "It is sitting on {v}.",
                "a wooden table",
                "a marble counter|a glass shelf",
            ),
            _q(
                "Is there a spoon?",
                "{v}",
                "Yes, a small spoon lies on the saucer.",
                "No, there is no spoon anywhere.",
            ),
            _q(
                "Describe the image in detail.",
                "A {v} rests on a matching saucer on a wooden table. The cup is filled with "
                "coffee topped with a light crema, and a spoon lies on the saucer.",
                "white cup with a red rim",
                "tall glass mug|blue ceramic bowl",
                "detail",
            ),
            _q(
                "Is the drink likely hot or cold? Explain.",
                "It is most likely {v}: it is a small cup of coffee with crema on top, "
                "served on a saucer, which is how hot espresso is usually presented.",
                "hot",
                "cold",
                "complex_reasoning",
            ),
        ),
        ("The photo is taken from above at an angle.", "The wood has a visible grain."),
        ("a croissant", "a sugar bowl", "a newspaper", "a smartphone"),
    ),
    Photo(
        "coins",
        (
            _q(
                "What objects are shown?",
                "The image shows {v}.",
                "old coins",
                "buttons|bottle caps|pebbles",
            ),
            _q(
                "How are the objects arranged?",
                "They are arranged {v}.",
                "in neat rows on a dark background",
                "in a single heap|in a circle",
            ),
            _q(
                "About how many coins are there?",
                "There are {v} coins.",
                "about two dozen",
                "three|about a hundred",
            ),
            _q(
                "Describe the image in detail.",
                "The grayscale photo shows {v} laid out in four rows on a dark surface. Each "
                "coin shows worn, embossed figures, and the coins vary slightly in size.",
                "about two dozen ancient coins",
                "a handful of modern banknotes|a stack of cards",
                "detail",
            ),
            _q(
                "Why might someone photograph coins this way?",
                "Laying them out {v} makes each one easy to see and compare, which is useful "
                "for a catalogue or a collection record.",
                "in separate rows",
                "in a pile",
                "complex_reasoning",
            ),
        ),
        ("The picture is in grayscale.", "The coins have worn, embossed designs."),
        ("a magnifying glass", "a wallet", "a price tag", "a gold ring"),
    ),
    Photo(
        "colorwheel",
        (
            _q(
                "What is shown in the image?",
                "The image shows {v}.",
                "a colour wheel",
                "a rainbow over hills|a stained-glass window",
            ),
            _q("What colour is at the center?", "The center is {v}.", "white", "black|deep red"),
            _q("What is the background colour?", "The background is {v}.", "black", "white|gray"),
            _q(
                "Describe the image in detail.",
                "A round {v} sits on a black background. Hues change smoothly around the "
                "circle, from red through yellow, green and blue to magenta, and fade to white "
                "toward the center.",
                "colour wheel",
                "pie chart with sharp slices|target with rings",
                "detail",
            ),
        ),
        ("The colours blend smoothly into each other.",),
        ("a paintbrush", "a number scale", "a pointer arrow", "a text label"),
    ),
    Photo(
        "horse",
        (
            _q("What animal is shown?", "It is {v}.", "a horse", "a cow|a dog|a deer"),
            _q(
                "Is this a photograph or a silhouette?",
                "{v}",
                "It is a black silhouette on a white background.",
                "It is a detailed colour photograph.",
            ),
            _q(
                "Which way is the animal facing?",
                "The animal is facing {v}.",
                "right",
                "left|toward the viewer",
            ),
            _q(
                "Describe the image in detail.",
                "The image is a simple black silhouette of {v} standing in profile on a plain "
                "white background, facing right, with its tail hanging down.",
                "a horse",
                "a cow|a large dog",
                "detail",
            ),
        ),
        ("There is no background scenery.",),
        ("a rider", "a fence", "a saddle", "a tree"),
    ),
    Photo(
        "hubble_deep_field",
        (
            _q(
                "What does this image show?",
                "It shows {v}.",
                "many distant galaxies in deep space",
                "a city at night|sand under a microscope",
            ),
            _q(
                "What is the dominant background colour?",
                "The background is {v}.",
                "black",
                "blue|white",
            ),
            _q(
                "Describe the image in detail.",
                "This is a deep-space view filled with {v} of different shapes and colours, "
                "spiral, elliptical and irregular, scattered over a black background.",
                "small galaxies",
                "city lights|fireflies",
                "detail",
            ),
            _q(
                "Why do some objects look red?",
                "The objects are {v}; the farthest ones appear red because the expansion of "
                "the universe stretches their light toward longer wavelengths.",
                "very distant galaxies",
                "nearby street lamps",
                "complex_reasoning",
            ),
        ),
        ("Some of the galaxies show spiral shapes.",),
        ("a planet with rings", "a rocket", "the Moon", "a comet with a long tail"),
    ),
    Photo(
        "immunohistochemistry",
        (
            _q(
                "What kind of image is this?",
                "This is {v}.",
                "a stained tissue sample under a microscope",
                "a satellite photo|an oil painting",
            ),
            _q(
                "What colours dominate the image?",
                "The main colours are {v}.",
                "brown and blue",
                "green and yellow|red and black",
            ),
            _q(
                "Describe the image in detail.",
                "The image is a microscope view of {v}. Brown-stained glandular structures "
                "stand out against paler tissue whose nuclei are stained blue.",
                "a tissue section",
                "a leaf surface|a mineral slice",
                "detail",
            ),
        ),
        ("The brown stain marks specific cells.",),
        ("a ruler scale bar", "a hair strand", "an air bubble", "a text annotation"),
    ),
    Photo(
        "moon",
        (
            _q(
                "What surface does this image show?",
                "It shows {v}.",
                "the surface of the Moon",
                "a desert on Earth|an ocean floor",
            ),
            _q(
                "Is the image in colour?",
                "{v}",
                "No, it is a grayscale image.",
                "Yes, it is a vivid colour image.",
            ),
            _q(
                "Describe the image in detail.",
                "This grayscale image shows {v} with scattered craters of different sizes "
                "and a few darker patches.",
                "the cratered lunar surface",
                "a snowy mountain range|a cloudy sky",
                "detail",
            ),
        ),
        ("Several small craters are visible.",),
        ("an astronaut", "a lunar rover", "Earth rising on the horizon", "a flag"),
    ),
    Photo(
        "page",
        (
            _q(
                "What is shown in the image?",
                "The image shows {v}.",
                "a page of printed text",
                "a handwritten letter|a street map",
            ),
            _q(
                "What is the heading of the page?",
                'The heading reads "{v}".',
                "Region-based segmentation",
                "Edge-based detection|Image denoising",
            ),
            _q(
                "Describe the image in detail.",
                'The image is a photo of a printed page titled "{v}". A paragraph explains '
                "how to pick markers for coins and background, followed by a line of code.",
                "Region-based segmentation",
                "Introduction to statistics",
                "detail",
            ),
            _q(
                "What topic is the text likely from?",
                "It is likely from {v}: it talks about segmentation, markers and histograms "
                "of grey values, and shows a line of Python code.",
                "an image-processing tutorial",
                "a cookbook|a history book",
                "complex_reasoning",
            ),
        ),
        ("The lighting across the page is uneven.",),
        ("a photo of a cat", "a bar chart", "a signature", "a coffee stain"),
    ),
    Photo(
        "rocket",
        (
            _q(
                "What is in the center of the image?",
                "In the center there is {v}.",
                "a rocket on a launch pad",
                "a lighthouse|a radio tower",
            ),
            _q(
                "What time of day is it?",
                "It looks like {v}.",
                "dusk or night",
                "bright midday|early morning with full sun",
            ),
            _q(
                "What stands on either side of the main object?",
                "On either side there are {v}.",
                "tall lightning towers",
                "palm trees|wind turbines",
            ),
            _q(
                "Describe the image in detail.",
                "The photo shows {v} standing on a launch pad under a deep blue evening sky. "
                "Tall towers rise on both sides, and bright lights illuminate the pad.",
                "a white rocket",
                "a passenger plane|a skyscraper",
                "detail",
            ),
            _q(
                "Why are there tall towers around the rocket?",
                "They are {v}: they draw strikes away from the vehicle so the rocket and its "
                "fuel stay safe before launch.",
                "lightning protection towers",
                "mobile phone masts",
                "complex_reasoning",
            ),
        ),
        ("Bright lights illuminate the pad.",),
        ("a crowd of spectators", "a helicopter", "smoke from an engine", "the Moon"),
    ),
    Photo(
        "retina",
        (
            _q(
                "What does this image show?",
                "It shows {v}.",
                "the back of a human eye",
                "a planet seen from space|a slice of fruit",
            ),
            _q("What colour is the image mostly?", "It is mostly {v}.", "orange-red", "green|blue"),
            _q(
                "Describe the image in detail.",
                "This is a fundus photograph of {v}. Red blood vessels branch out from the "
                "bright optic disc on the left across an orange-red background.",
                "a retina",
                "a tree in autumn|a red planet",
                "detail",
            ),
        ),
        ("The optic disc appears as a bright spot.",),
        ("an eyelash", "a ruler", "a reflection of a window", "a text label"),
    ),
)


def save_photo(photo: Photo, path: Path) -> None:
    """Save the bundled photo as RGB PNG, longest side at most MAX_SIDE pixels."""
    from skimage import data  # heavy import kept out of module load

    arr = getattr(data, photo.name)()
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    image = Image.fromarray(arr).convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    image.save(path, format="PNG")


def photo_qa(photo: Photo, q: PhotoQuestion, rng: random.Random) -> QA:
    lead = rng.choice(("", "", "In the image, ", "Looking at the photo, "))
    extra = rng.choice(photo.extras) if photo.extras and rng.random() < 0.3 else ""

    def render(v: str) -> str:
        body = q.template.format(v=v)
        if lead and body[:1].isupper() and body[1:2].islower():
            body = lead + body[0].lower() + body[1:]
        return body

    return QA(q.question, q.value, q.wrong, render, f"photo-{q.category}", extra, photo.absent)
