"""The demo a first run gets: a generated corpus with hidden ground truth, users, projects and
simulated annotations. `demo.corpus` is plain Python (no Django); the rest sets up the product.
"""
