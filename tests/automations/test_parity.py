"""The same invalid input gets the same field and message through a form, the API and import."""

from __future__ import annotations

import copy
import json

import pytest
from django.utils.html import escape

from automations import services
from automations.models import Automation
from automations.web import codec, forms
from tests.automations.test_schema import CASE_IDS, CASES, blocks  # noqa: F401
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# Input a person cannot produce through the form's inputs (a blank within means the default),
# so only the API and import are compared for them.
NOT_TYPEABLE = {"trigger-type", "action-type", "within-null"}  # a blank within means the default


def api_errors(api, data):
    response = api.post("/api/automations/", data, format="json")
    assert response.status_code == 422
    return [(e["field"], e["msg"]) for e in response.json()["errors"]]


def import_errors(data):
    with pytest.raises(services.ImportFailed) as info:
        services.import_automations(json.dumps(data))
    return [(e["field"], e["msg"]) for e in info.value.errors]


def form_errors(client, data):
    form_data = codec.to_form_data(data)
    body = {key: form_data.getlist(key) for key in form_data}
    response = client.post("/automations/new/", body)
    assert response.status_code == 422
    form = forms.AutomationForm(form_data)
    assert not form.is_valid()
    html = response.content.decode()
    pairs = [(e["field"], e["msg"]) for e in form.schema_errors]
    for _, msg in pairs:
        assert escape(msg) in html
    return pairs


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_form_api_and_import_report_the_same_error(case, api, client, viewer, blocks):  # noqa: F811
    _, _, invalid, field, _, _ = case
    client.login(username=viewer.username, password=PASSWORD)
    expected = api_errors(api, copy.deepcopy(invalid))
    assert expected[0][0] == field
    assert import_errors(copy.deepcopy(invalid)) == expected
    if case[0] not in NOT_TYPEABLE:
        assert form_errors(client, copy.deepcopy(invalid)) == expected
    assert not Automation.objects.exists()
