from django.contrib import admin
from django.urls import path

from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("form/", views.form),
    path("whoami/", views.whoami),
    path("slow/", views.slow),
    path("submit/", views.submit),
]
