"""The API reference has an entry for everything error messages and users look up."""

from __future__ import annotations

import inspect

import flaxen_api
import pytest

import flaxen.errors
from flaxen.errors import _base


def _error_classes() -> list[str]:
    return sorted(
        name
        for name, value in vars(flaxen.errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException | Warning)
        if not name.startswith("_")
    )


def test_errors_page_is_where_error_messages_link(html_dir):
    page = _base.ERRORS_PAGE.removeprefix(_base.DOCS_URL + "/")
    assert page == "api/errors.html"
    assert (html_dir / page).is_file()


@pytest.mark.parametrize("name", _error_classes())
def test_every_error_class_has_its_anchor(html_ids, name):
    # The fragment of the link every message of this class ends with.
    fragment = _base.docs_link(name).split("#", 1)[1]
    assert fragment in html_ids["api/errors.html"], f"api/errors.html has no #{fragment}"


def test_error_messages_carry_the_link():
    error = flaxen.errors.ScopeParamNotFoundError("kernel", "/Dense_0")
    assert str(error).endswith(f"({_base.docs_link('ScopeParamNotFoundError')})")


@pytest.mark.parametrize("module", flaxen_api.HOMES)
def test_every_public_name_has_an_entry(html_ids, module):
    documented = set().union(*(ids for page, ids in html_ids.items() if page.startswith("api/")))
    missing = [n for n in flaxen_api.public_names(module) if f"{module}.{n}" not in documented]
    assert not missing, f"{module}: no API entry for {missing}"
