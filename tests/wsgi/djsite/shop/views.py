"""Views of the test project: a CSRF-protected form, what the request
looks like from Django, and a slow view for the thread tests."""
import json
import threading
import time

from django import forms
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

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


@csrf_exempt
def submit(request):
    """Start a background sum and answer at once: 202, poll Location."""
    import spindle
    numbers = [int(n) for n in request.GET.get("numbers", "1,2,3").split(",")]
    payload = {"numbers": numbers, "sleep": float(request.GET.get("sleep", "0"))}
    task = "shop.jobs:fail" if request.GET.get("fail") else "shop.jobs:add"
    try:
        task_id = spindle.submit(task, payload, spool=bool(request.GET.get("spool")))
    except spindle.QueueFull:
        response = HttpResponse("busy, try again\n", status=503, content_type="text/plain")
        response["Retry-After"] = "1"
        return response
    response = JsonResponse({"id": task_id}, status=202)
    response["Location"] = spindle.task_url(task_id)
    return response
