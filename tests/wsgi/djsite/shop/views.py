"""Views of the test project: a CSRF-protected form, what the request
looks like from Django, and a slow view for the thread tests."""
import json
import threading
import time

from django import forms
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

_lock = threading.Lock()
_inflight = 0
_max_inflight = 0


class NameForm(forms.Form):
    name = forms.CharField(max_length=50)


def form(request):
    if request.method == "POST":
        f = NameForm(request.POST)
        if f.is_valid():
            return HttpResponse("Hello, %s!" % f.cleaned_data["name"], content_type="text/plain")
    else:
        f = NameForm()
    return render(request, "shop/form.html", {"form": f})


def whoami(request):
    return JsonResponse({"scheme": request.scheme, "host": request.get_host(),
                         "path": request.path, "path_info": request.path_info,
                         "script_name": request.META.get("SCRIPT_NAME", ""),
                         "remote_addr": request.META.get("REMOTE_ADDR", "")})


def slow(request):
    global _inflight, _max_inflight
    with _lock:
        _inflight += 1
        _max_inflight = max(_max_inflight, _inflight)
    time.sleep(0.2)
    with _lock:
        _inflight -= 1
        seen = _max_inflight
    return HttpResponse(json.dumps({"max_inflight": seen}), content_type="application/json")
