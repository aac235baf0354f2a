"""Automation pages: the list, the builder, detail, import/export and blocks. Thin: the
form validates with the schema, the services write."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from pydantic import TypeAdapter, ValidationError

from automations import schemas, services
from automations.actions.history import last_actions_failed
from automations.engine.evaluator import resolution_rules
from automations.models import Automation, NotificationBlock, WebhookBlock
from automations.prefect_json import as_text, automation_json
from automations.validation import VALIDATION_CONTEXT, parse_automation
from automations.web import bounds, codec, explain, labels, nodes, presets
from automations.web.forms import BLOCK_FORMS, AutomationForm
from automations.web.suggestions import builder_context

STEPS = [("trigger", "Trigger"), ("actions", "Actions"), ("details", "Details")]
ACTION_LIST_TITLES = [
    ("actions", "When it triggers", "Done each time the trigger fires."),
    (
        "actions_on_trigger",
        "When it enters the triggered state",
        "Done once, when it starts firing.",
    ),
    ("actions_on_resolve", "When it resolves", "Done once, when the condition clears."),
]


def _blank_trigger(kind: str) -> nodes.TriggerNode:
    return nodes.trigger_node(codec.to_form_data({"trigger": {"type": kind}}), "trigger", {})


def _blank_action(kind: str, ctx) -> nodes.ActionNode:
    data = MultiValueDict({"x.0.type": [kind]})
    return nodes.action_node(data, "x.0", {}, ctx)


_TRIGGER = TypeAdapter(schemas.TriggerTypes)
_ACTION = TypeAdapter(schemas.ActionTypes)


def _prefect_draft(draft: dict) -> dict:
    """An invalid draft in Prefect's JSON as far as it goes: each part that validates on its
    own (the trigger, each action) as the schema writes it (numbers, seconds), the rest as
    typed, so the JSON tab never shows `"threshold": "3"` for a form that says 3."""
    out = dict(draft)
    try:
        out["trigger"] = _TRIGGER.validate_python(draft.get("trigger")).model_dump(mode="json")
    except ValidationError:
        pass
    for name in codec.ACTION_LISTS:
        actions = []
        for action in draft.get(name) or []:
            try:
                actions.append(
                    _ACTION.validate_python(action, context=VALIDATION_CONTEXT).model_dump(
                        mode="json"
                    )
                )
            except ValidationError:
                actions.append(action)
        out[name] = actions
    return out


def _json_tab(data: MultiValueDict) -> str:
    """The JSON tab: Prefect's JSON of what the form holds (as far as it is valid)."""
    draft = codec.from_form_data(data)
    try:
        return as_text(automation_json(parse_automation(draft)))
    except ValidationError:
        return as_text(_prefect_draft(draft))


def _has_actions(data: MultiValueDict) -> bool:
    return any(codec.child_indices(data, name) for name in codec.ACTION_LISTS)


def _builder(
    request: HttpRequest,
    data: MultiValueDict,
    *,
    automation: Automation | None = None,
    form: AutomationForm | None = None,
    status: int = 200,
    extra: dict | None = None,
) -> HttpResponse:
    ctx = builder_context()
    json_text = form.json_text if form is not None else None
    json_errors = form.schema_errors if json_text is not None else []
    errors = form.field_errors if form is not None and json_text is None else {}
    trigger = nodes.trigger_node(data, "trigger", errors)
    action_lists = [
        {
            "name": name,
            "title": title,
            "help": help_,
            "rows": nodes.action_nodes(data, name, errors, ctx),
        }
        for name, title, help_ in ACTION_LIST_TITLES
    ]
    if json_text is None:
        json_text = _json_tab(data)
    step_errors = {
        "trigger": sum(1 for k in errors if k.startswith("trigger")),
        "actions": sum(1 for k in errors if k.split(".")[0] in codec.ACTION_LISTS),
        "details": sum(
            1 for k in errors if k.split(".")[0] in ("name", "description", "owner_resource")
        ),
    }
    top_errors = form.schema_errors if form is not None and not json_errors else []
    context = {
        "automation": automation,
        "data": data,
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "enabled": "enabled" in data,
        "owner_resource": data.get("owner_resource", ""),
        "errors": errors,
        "name_errors": errors.get("name", []),
        "top_errors": top_errors,
        "trigger": trigger,
        "action_lists": action_lists,
        "json_text": json_text,
        "json_errors": json_errors or [],
        "steps": [(key, label, step_errors[key]) for key, label in STEPS],
        "trigger_types": list(labels.TRIGGER_LABELS.items()),
        "action_types": list(labels.ACTION_LABELS.items()),
        "blank_triggers": [(kind, _blank_trigger(kind)) for kind in labels.TRIGGER_LABELS],
        "blank_actions": [(kind, _blank_action(kind, ctx)) for kind in labels.ACTION_LABELS],
        "presets": presets.PRESETS,
        "resolution_rules": resolution_rules(),
        "operators": [(m.value, m.value) for m in schemas.MetricTriggerOperator],
        "metric_names": [(m.value, m.value.capitalize()) for m in schemas.PrefectMetric],
        "bounds": bounds.builder_bounds(),
        **ctx,
        **(extra or {}),
    }
    return render(request, "automations/builder.html", context, status=status)


def _save(request: HttpRequest, automation: Automation | None) -> HttpResponse:
    if "load_json" in request.POST:
        return _load_json(request, automation)
    confirmed = request.POST.get("confirm_no_actions", "")
    use_json = "save_json" in request.POST or confirmed == "save_json"
    json_text = request.POST.get("json", "") if use_json else None
    form = AutomationForm(request.POST, json_text=json_text)
    if form.is_valid():
        if not form.automation.all_actions() and not confirmed:
            # Saved as it is, it would fire and do nothing: ask first (Prefect allows it).
            # From the JSON tab, the form shows what the JSON says (one state).
            data = (
                codec.to_form_data(automation_json(form.automation)) if use_json else request.POST
            )
            return _builder(
                request,
                data,
                automation=automation,
                extra={"confirm_no_actions": "save_json" if use_json else "save"},
            )
        saved = services.save_automation(form.automation, instance=automation)
        messages.success(request, f"Saved “{saved.name}”.")
        return redirect("automations:detail", pk=saved.pk)
    return _builder(request, request.POST, automation=automation, form=form, status=422)


def _load_json(request: HttpRequest, automation: Automation | None) -> HttpResponse:
    """Back from an edited JSON tab: the form shows what the JSON says (one state)."""
    text = request.POST.get("json", "")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        parsed, problem = None, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    else:
        problem = None if isinstance(parsed, dict) else "an automation is a JSON object"
    if problem is not None:
        form = AutomationForm(request.POST, json_text=text)
        form.schema_errors = [{"field": "", "loc": [], "type": "json_invalid", "msg": problem}]
        return _builder(request, request.POST, automation=automation, form=form, status=422)
    return _builder(request, codec.to_form_data(parsed), automation=automation)


@login_required
@require_POST
def builder_json(request: HttpRequest) -> JsonResponse:
    """The JSON tab's text for the form as it stands (the builder asks on opening the tab)."""
    return JsonResponse(
        {"json": _json_tab(request.POST), "has_actions": _has_actions(request.POST)}
    )


def _action_label(action: schemas.Action) -> str:
    return labels.ACTION_LABELS.get(action.type) or schemas.describe_action(action)


@login_required
def automation_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    day_ago = timezone.now() - timedelta(hours=24)
    queryset = Automation.objects.order_by("name", "id").annotate(
        # The engine's history at a glance, in the same query (index firings_automation_occurred).
        last_fired=Max("firings__occurred", filter=Q(firings__state="Triggered")),
        fired_24h=Count(
            "firings", filter=Q(firings__state="Triggered", firings__occurred__gte=day_ago)
        ),
    )
    if q:
        queryset = queryset.filter(Q(name__icontains=q) | Q(description__icontains=q))
    rows = []
    automations = list(queryset[:500])
    failing = last_actions_failed(a.pk for a in automations)  # the "last actions failed" flag
    for automation in automations:
        core = automation.to_schema()
        rows.append(
            {
                "automation": automation,
                "actions_failed": automation.pk in failing,
                "describe": schemas.describe_trigger(core.trigger),
                "explain": explain.explain(core.trigger),
                "actions": [_action_label(a) for a in core.all_actions()],
            }
        )
    return render(request, "automations/list.html", {"rows": rows, "q": q})


@login_required
def automation_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    if event_id := request.GET.get("event"):
        from eventsui.events.models import Event

        try:
            event = Event.objects.filter(pk=UUID(event_id)).first()
        except ValueError:
            event = None
        if event is None:
            raise Http404("No such event")
        specific = request.GET.get("scope") == "this"
        start = presets.from_event(event, specific=specific)
        scope = {"event": event, "specific": specific, "one_off": presets.is_one_off(event)}
        return _builder(request, codec.to_form_data(start), extra={"event_scope": scope})
    return _builder(
        request, codec.to_form_data(presets.preset(request.GET.get("template", "custom")))
    )


@login_required
def automation_edit(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    if request.method == "POST":
        return _save(request, automation)
    return _builder(request, codec.to_form_data(automation_json(automation)), automation=automation)


@login_required
def automation_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    core = automation.to_schema()
    return render(
        request,
        "automations/detail.html",
        {
            "automation": automation,
            "core": core,
            "describe": schemas.describe_trigger(core.trigger),
            "explain": explain.explain(core.trigger),
            "action_lists": [
                (title, [_action_label(a) for a in getattr(core, name)])
                for name, title, _ in ACTION_LIST_TITLES
            ],
            "json_text": as_text(automation_json(core)),
        },
    )


@login_required
@require_POST
def automation_toggle(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    services.set_enabled(automation, request.POST.get("enabled") == "true")
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"enabled": automation.enabled})
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""  # only this site's own pages: never an open redirect
    return redirect(next_url or "automations:list")


@login_required
@require_POST
def automation_duplicate(request: HttpRequest, pk: UUID) -> HttpResponse:
    copy = services.duplicate_automation(get_object_or_404(Automation, pk=pk))
    messages.success(request, f"Created “{copy.name}” (disabled until you enable it).")
    return redirect("automations:edit", pk=copy.pk)


@login_required
def automation_delete(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    if request.method == "POST":
        services.delete_automation(automation)
        messages.success(request, f"Deleted “{automation.name}”.")
        return redirect("automations:list")
    return render(request, "automations/confirm_delete.html", {"automation": automation})


def _download(data, filename: str) -> HttpResponse:
    response = HttpResponse(as_text(data), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def automation_export(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    return _download(_exported(automation), f"automation-{automation.pk}.json")


@login_required
def automation_export_all(request: HttpRequest) -> HttpResponse:
    automations = Automation.objects.order_by("name", "id")
    return _download([_exported(a) for a in automations], "automations.json")


def _exported(automation: Automation) -> dict:
    """Prefect's JSON with the automation's `id` (as `prefect automation inspect` gives it):
    importing the file again updates these automations instead of adding copies."""
    return {"id": str(automation.pk), **automation_json(automation)}


@login_required
def automation_import(request: HttpRequest) -> HttpResponse:
    text, errors = "", []
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("json", "")
        try:
            imported = services.import_automations(text)
        except services.ImportFailed as exc:
            errors = exc.errors
        else:
            parts = []
            if imported.created:
                parts.append(f"created {len(imported.created)}")
            if imported.updated:
                parts.append(
                    f"updated {len(imported.updated)} already here (same id; "
                    "nothing was duplicated)"
                )
            messages.success(request, f"Imported: {', '.join(parts) or 'nothing'}.")
            return redirect("automations:list")
    return render(
        request,
        "automations/import.html",
        {"json_text": text, "errors": errors},
        status=422 if errors else 200,
    )


# -- blocks ----------------------------------------------------------------------------------------


@login_required
def block_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "automations/blocks.html",
        {
            "webhooks": WebhookBlock.objects.all(),
            "notifications": NotificationBlock.objects.all(),
        },
    )


@login_required
def block_edit(request: HttpRequest, kind: str, pk: UUID | None = None) -> HttpResponse:
    if kind not in BLOCK_FORMS:
        raise Http404
    form_class = BLOCK_FORMS[kind]
    instance = get_object_or_404(form_class.Meta.model, pk=pk) if pk else None
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        block = form.save()
        messages.success(request, f"Saved “{block}”. Its id is {block.pk}.")
        return redirect("automations:blocks")
    return render(
        request, "automations/block_form.html", {"form": form, "kind": kind, "instance": instance}
    )
