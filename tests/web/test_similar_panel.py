"""The similarity panel of the data browser (HTML checked with selectors)."""

from __future__ import annotations

from tests.web.test_project_pages import Site, site  # noqa: F401  (the fixture)


def test_text_projects_get_a_meaning_search_and_more_like_this(site: Site) -> None:  # noqa: F811
    site.sign_in("labeller")
    doc = site.page(f"/projects/{site.text_id}/data")
    panel = doc.one("#similar")
    assert panel.attrs["data-project-id"] == str(site.text_id)
    assert doc.one("#similar-q").attrs["name"] == "meaning"  # not the browser's own q filter
    assert len(doc.select("input[name=q]")) == 1
    assert [o.attrs["value"] for o in doc.select("#similar-label option")] == ["neg", "pos"]
    doc.one("#more-like-this")
    doc.one("#similar-apply")
    doc.one("#similar-queue")
    assert doc.select("script[src='/static/similar.js']")


def test_image_projects_get_more_like_this_but_no_text_search(site: Site) -> None:  # noqa: F811
    site.sign_in("admin")
    doc = site.page(f"/projects/{site.multi_id}/data")
    doc.one("#similar")
    assert doc.select("#similar-q") == []
    assert "More like this" in doc.one("#similar-hint").text
    assert doc.one("#similar").attrs["data-multi-label"] == "true"
