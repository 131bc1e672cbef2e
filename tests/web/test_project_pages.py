"""The project pages rendered in-process against a real temporary SQLite: the wizard, the
dashboard, the data browser and settings. HTML is checked with CSS selectors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labella.al.pipelines import DEFAULT_STRATEGY
from labella.app import create_app
from labella.config import Settings
from labella.ingest.catalogue import list_catalogue
from labella.service import auth, projects

PASSWORD = "correct horse"
PAGES = ("", "/data", "/map", "/settings")


# -- a tiny HTML tree with CSS selectors (tag, #id, .class, [attr], [attr=value], descendant) --


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join([*self.text_parts, *(c.text for c in self.children)]).split())

    def iter(self) -> Iterator[Node]:
        for c in self.children:
            yield c
            yield from c.iter()

    def select(self, selector: str) -> list[Node]:
        found = [self]
        for part in selector.split():
            found = _unique(d for n in found for d in n.iter() if _matches(d, part))
        return found

    def one(self, selector: str) -> Node:
        hits = self.select(selector)
        assert len(hits) == 1, f"{selector!r}: {len(hits)} matches"
        return hits[0]


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    return b.root


def _unique(nodes: Iterator[Node]) -> list[Node]:
    seen: set[int] = set()
    out = []
    for n in nodes:
        if id(n) not in seen:
            seen.add(id(n))
            out.append(n)
    return out


def _matches(node: Node, simple: str) -> bool:
    import re

    m = re.fullmatch(r"([a-z0-9]*)((?:[#.][\w-]+|\[[^\]]+\])*)", simple)
    assert m is not None, f"unsupported selector {simple!r}"
    if m.group(1) and node.tag != m.group(1):
        return False
    for kind, name, attr in re.findall(r"([#.])([\w-]+)|\[([^\]]+)\]", m.group(2)):
        if kind == "#" and node.attrs.get("id") != name:
            return False
        if kind == "." and name not in node.attrs.get("class", "").split():
            return False
        if attr:
            key, _, value = attr.partition("=")
            if key not in node.attrs or (value and node.attrs[key] != value.strip("\"'")):
                return False
    return True


# -- fixtures ----------------------------------------------------------------------------------


@dataclass
class Site:
    client: TestClient
    text_id: int
    multi_id: int

    def sign_in(self, username: str) -> None:
        self.client.cookies.clear()
        r = self.client.post("/login", data={"username": username, "password": PASSWORD},
                             follow_redirects=False)
        assert r.status_code == 303

    def page(self, path: str, status: int = 200) -> Node:
        r = self.client.get(path, follow_redirects=False)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        return parse(r.text)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    app = create_app(Settings(data_dir=tmp_path / "data", worker=False))
    with TestClient(app) as client:
        ctx = app.state.ctx
        with ctx.session() as s:
            admin = auth.create_user(s, "admin", password=PASSWORD, is_admin=True)
            owner = auth.create_user(s, "owner", password=PASSWORD)
            ann = auth.create_user(s, "labeller", password=PASSWORD)
            auth.create_user(s, "outsider", password=PASSWORD)
            text = projects.create_project(
                s, owner, name="Reviews <b>", task="text", multi_label=False,
                labels=["neg", "pos"], featuriser="hashing", strategy="entropy",
                settings={"batch_size": 25, "exploration": 0.1, "label_budget": 300,
                          "labels_per_item": 2, "overlap_share": 0.25, "consensus": "dawid_skene"})
            auth.set_member(s, text.id, ann.id, "annotator")
            multi = projects.create_project(s, admin, name="Tiles", task="image", multi_label=True,
                                            labels=["0", "1", "2"], featuriser="pixels")
        yield Site(client, text.id, multi.id)


# -- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_project_pages_render_for_a_member_with_the_project_tabs(site: Site, path: str) -> None:
    site.sign_in("labeller")
    doc = site.page(f"/projects/{site.text_id}{path}")
    tabs = doc.select("nav.project-nav a[data-tab]")
    assert [t.text for t in tabs] == ["Label", "Dashboard", "Data", "Map", "Settings"]
    assert [t.attrs["href"] for t in tabs] == [f"/projects/{site.text_id}{p}"
                                               for p in ("/label", "", "/data", "/map", "/settings")]
    active = doc.one("nav.project-nav a.active")
    assert active.attrs["aria-current"] == "page"
    assert active.attrs["href"] == f"/projects/{site.text_id}{path}"
    assert doc.one("nav.project-nav a.project-name").text == "Reviews <b>"  # text, not markup
    assert doc.select("title")[0].text.startswith(("Reviews <b>", "Data · Reviews", "Map · Reviews",
                                                    "Settings · Reviews"))


@pytest.mark.parametrize("path", PAGES)
def test_project_pages_are_404_for_non_members_and_missing_projects(site: Site, path: str) -> None:
    site.sign_in("outsider")
    doc = site.page(f"/projects/{site.text_id}{path}", status=404)
    assert "Not found" in doc.one("h1").text
    assert "Reviews" not in doc.text  # the project's existence is not revealed
    site.sign_in("admin")
    site.page(f"/projects/999{path}", status=404)


@pytest.mark.parametrize("path", [*(f"/projects/1{p}" for p in PAGES), "/projects/new"])
def test_project_pages_send_signed_out_visitors_to_sign_in(site: Site, path: str) -> None:
    r = site.client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


def test_only_the_map_page_lets_plotly_webgl_eval(site: Site) -> None:
    site.sign_in("labeller")
    for path, allowed in (("/map", True), ("/data", False)):
        r = site.client.get(f"/projects/{site.text_id}{path}")
        scripts = r.headers["content-security-policy"].split("script-src")[1].split(";")[0]
        assert ("'unsafe-eval'" in scripts) is allowed and "'unsafe-inline'" not in scripts
    doc = site.page(f"/projects/{site.text_id}/map")
    assert doc.select("#map-plot") and doc.select("script[src='/static/plotly.min.js']")
    assert not doc.select("#map-missing")


def test_the_map_page_says_what_to_install_without_umap(site: Site,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # what an absent package looks like
    site.sign_in("labeller")
    doc = site.page(f"/projects/{site.text_id}/map")
    assert "pip install 'labella[map]'" in doc.one("#map-missing").text
    assert "disabled" in doc.one("#map-refresh").attrs
    from labella.al.datamap import project_2d
    from labella.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"labella\[map\]"):
        project_2d(np.random.default_rng(0).standard_normal((40, 8)))


def test_site_admins_see_every_project(site: Site) -> None:
    site.sign_in("admin")
    doc = site.page(f"/projects/{site.text_id}/settings")
    assert doc.one("#settings").attrs["data-admin"] == "true"


# -- wizard --------------------------------------------------------------------------------------


def test_the_projects_list_links_to_the_wizard(site: Site) -> None:
    site.sign_in("labeller")
    assert site.page("/").one("#new-project").attrs["href"] == "/projects/new"


def test_wizard_offers_task_types_catalogue_and_the_registries(site: Site) -> None:
    site.sign_in("labeller")
    doc = site.page("/projects/new")
    assert [r.attrs["value"] for r in doc.select("input[name=task_type]")] == [
        "text:single", "text:multi", "image:single", "image:multi"]
    # the catalogue, with its task type for the page to grey out, hub sets marked
    entries = doc.select("#catalogue .option")
    assert [e.one("input").attrs["value"] for e in entries] == [c.name for c in list_catalogue()]
    for e, c in zip(entries, list_catalogue(), strict=True):
        assert e.attrs["data-task"] == c.task
        assert e.attrs["data-multi"] == ("true" if c.multi_label else "false")
        assert ("needs the network" in e.text) == (c.source == "huggingface")
    # strategies: the default first and selected, each with its one-sentence explanation
    strategies = doc.select("select[name=strategy] option")
    names = [o.attrs["value"] for o in strategies]
    assert names[0] == DEFAULT_STRATEGY and "selected" in strategies[0].attrs
    assert {"random", "margin", "entropy", "badge", "ml_mean_entropy"} <= set(names)
    assert "typiclust" not in names  # a cold start, offered as such in settings
    assert all(o.attrs["data-description"] and o.attrs["data-head"] for o in strategies)
    heads = {o.attrs["value"]: o.attrs["data-description"] for o in doc.select("select[name=head] option")}
    assert {"logistic_regression", "balanced_logistic_regression", "sgd", "mlp"} <= set(heads)
    assert all(heads.values())
    feats = {o.attrs["value"]: o.attrs for o in doc.select("select[name=featuriser] option")}
    assert {"minilm", "hashing", "efficientnet_lite0", "pixels"} <= set(feats)
    assert "tfidf" not in feats and "sentence_transformer" not in feats  # not for projects
    assert feats["hashing"]["data-modality"] == "text" and feats["pixels"]["data-modality"] == "image"
    assert feats["minilm"]["data-default"] == "true" and feats["hashing"]["data-default"] == "false"
    assert doc.one("input[name=batch_size]").attrs["value"] == "10"
    assert doc.one("input[name=exploration]").attrs["value"] == "0"
    assert doc.one("input[name=file]").attrs["accept"].count(".zip") == 1
    assert [o.attrs["value"] for o in doc.select("select[name=import_labels] option")] == [
        "all", "evaluation", "none"]
    assert doc.select("script[src=/static/wizard.js]")


# -- dashboard, data, settings -------------------------------------------------------------------


def test_dashboard_has_the_charts_for_its_task_kind(site: Site) -> None:
    site.sign_in("admin")
    single = site.page(f"/projects/{site.text_id}")
    for chart in ("#chart-curve", "#chart-confusion", "#chart-per-class", "#chart-labels"):
        single.one(chart)
    assert not single.select("#chart-per-label")
    assert single.select("script[src=/static/plotly.min.js]")
    multi = site.page(f"/projects/{site.multi_id}")
    multi.one("#chart-per-label")
    assert not multi.select("#chart-confusion")
    assert multi.one("#dashboard").attrs["data-multi-label"] == "true"
    for id_ in ("#stat-labeled", "#stat-version", "#stat-score", "#stop-reason", "#job-list"):
        multi.one(id_)


def test_data_browser_starts_from_the_filters_in_its_address(site: Site) -> None:
    site.sign_in("labeller")
    doc = site.page(f"/projects/{site.text_id}/data?label=__unlabeled__&q=%3Cscript%3E&sort=confidence"
                    "&annotator=labeller&min_confidence=0.2")
    label = {o.attrs["value"]: o for o in doc.select("select[name=label] option")}
    assert list(label) == ["", "__unlabeled__", "neg", "pos"]
    assert "selected" in label["__unlabeled__"].attrs
    assert [o.attrs["value"] for o in doc.select("select[name=prediction] option")] == ["", "neg", "pos"]
    assert doc.one("input[name=q]").attrs["value"] == "<script>"  # escaped in the HTML, read back
    assert doc.one("input[name=annotator]").attrs["value"] == "labeller"
    assert doc.one("input[name=min_confidence]").attrs["value"] == "0.2"
    sort = doc.one("select[name=sort] option[selected]")
    assert sort.attrs["value"] == "confidence"
    assert {o.attrs["value"] for o in doc.select("#members option")} == {"labeller", "owner"}
    assert [o.attrs["value"] for o in doc.select("select[name=split] option")] == ["", "pool", "evaluation"]
    doc.one("#items")
    doc.one("#detail")


def test_settings_show_the_current_values_and_admin_controls(site: Site) -> None:
    site.sign_in("owner")
    doc = site.page(f"/projects/{site.text_id}/settings")
    assert doc.one("select[name=strategy] option[selected]").attrs["value"] == "entropy"
    assert doc.one("select[name=head] option[selected]").attrs["value"] == "logistic_regression"
    assert doc.one("input[name=batch_size]").attrs["value"] == "25"
    assert doc.one("input[name=exploration]").attrs["value"] == "0.1"
    assert doc.one("input[name=label_budget]").attrs["value"] == "300"
    assert doc.one("input[name=labels_per_item]").attrs["value"] == "2"
    assert doc.one("input[name=overlap_share]").attrs["value"] == "0.25"
    assert doc.one("select[name=consensus] option[selected]").attrs["value"] == "dawid_skene"
    assert doc.one("select[name=cold_start] option[selected]").attrs["value"] == ""
    assert {o.attrs["value"] for o in doc.select("select[name=cold_start] option")} >= {
        "", "random", "typiclust", "kmeans_pp"}
    # multi-label-only strategies are not offered to a single-label project
    assert "ml_mean_entropy" not in {o.attrs["value"] for o in doc.select("select[name=strategy] option")}
    assert "disabled" not in doc.one("#settings-form fieldset").attrs
    doc.one("#settings-save")
    doc.one("#member-form")
    rows = {r.attrs["data-username"]: r for r in doc.select("#members tbody tr")}
    assert set(rows) == {"owner", "labeller"}
    assert rows["labeller"].one("select option[selected]").attrs["value"] == "annotator"
    assert rows["labeller"].select("button.member-remove")
    assert [b.attrs["data-export"] for b in doc.select("button[data-export]")] == [
        "csv", "jsonl", "hf", "label_studio", "model"]


def test_settings_are_read_only_for_annotators(site: Site) -> None:
    site.sign_in("labeller")
    doc = site.page(f"/projects/{site.text_id}/settings")
    assert "disabled" in doc.one("#settings-form fieldset").attrs
    assert not doc.select("#settings-save") and not doc.select("#member-form")
    assert not doc.select("button.member-remove") and not doc.select("select.member-role")
    doc.one("#read-only")
    assert len(doc.select("button[data-export]")) == 5  # every member may export


def test_project_pages_load_nothing_from_outside(site: Site) -> None:
    site.sign_in("admin")
    for path in ("/projects/new", *(f"/projects/{site.text_id}{p}" for p in PAGES)):
        html = site.client.get(path).text
        assert "http://" not in html and "https://" not in html, path
        for name in ("pages.css", "charts.js", "wizard.js", "dashboard.js", "browse.js", "settings.js"):
            assert site.client.get(f"/static/{name}").status_code == 200
