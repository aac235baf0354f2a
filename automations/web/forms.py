"""The Django forms of the automation pages: the builder's (validated by the schema) and the
blocks' (model forms).

The builder's inputs are named by path and turned into the automation dict by
`automations.web.codec`; `automations.web.nodes` renders them with each error beside its input.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.datastructures import MultiValueDict
from pydantic import ValidationError

from automations import schemas
from automations.errors import schema_errors
from automations.models import NotificationBlock, WebhookBlock
from automations.validation import parse_automation
from automations.web import codec


class AutomationForm(forms.Form):
    """Validates the path-named inputs (or the JSON tab's text) with the schema.

    After `is_valid()`: `automation` is the parsed `AutomationCore`, or `schema_errors` lists
    the problems ({field, loc, type, msg}) and `field_errors` maps each input path to messages.
    """

    def __init__(self, data: MultiValueDict | None = None, *, json_text: str | None = None):
        super().__init__(data)
        self.json_text = json_text
        self.automation: schemas.AutomationCore | None = None
        self.schema_errors: list[dict[str, Any]] = []

    def clean(self) -> dict[str, Any]:
        source: Any = self.json_text
        if source is None:
            source = codec.from_form_data(self.data)
        try:
            self.automation = parse_automation(source)
        except ValidationError as exc:
            self.schema_errors = schema_errors(exc)
            for error in self.schema_errors:
                self.add_error(None, f"{error['field'] or 'automation'}: {error['msg']}")
        return self.cleaned_data

    @property
    def field_errors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for error in self.schema_errors:
            out.setdefault(error["field"], []).append(error["msg"])
        return out


class WebhookBlockForm(forms.ModelForm):
    class Meta:
        model = WebhookBlock
        fields = ["name", "url", "method", "headers"]


class NotificationBlockForm(forms.ModelForm):
    class Meta:
        model = NotificationBlock
        fields = ["name", "url"]


BLOCK_FORMS = {"webhook": WebhookBlockForm, "notification": NotificationBlockForm}
