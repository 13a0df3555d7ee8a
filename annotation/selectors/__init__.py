"""Read-side queries of the annotation app."""
