"""REST API of Arbiter (`/api/v1/`)."""
