from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"

    def ready(self):
        # Tasks are defined while the application is imported, so that every
        # worker and spooler knows them; `spindle` exists only inside spindle
        # (manage.py runs without it).
        try:
            import spindle  # noqa: F401
        except ImportError:
            return
        from shop import jobs  # noqa: F401
