from django.apps import AppConfig


class RewritesConfig(AppConfig):
    name = "rewrites"
    verbose_name = "Style rewriting of dataset versions"
