"""Pages for reward-model runs, scoring and curations."""

urlpatterns: list = []
