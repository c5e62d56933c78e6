"""A scripted browser for the emulator's login pages: an httpx client that keeps cookies, follows
no redirect by itself, and reads the pages' forms and elements with the standard HTML parser."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from identitystore.emulator import Emulator

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
CALLBACK = "http://127.0.0.1:9/callback"
LOGOUT_URL = "http://127.0.0.1:9/bye"


@dataclass
class Form:
    """A form of a page: its id, where it posts, and its inputs' names and values."""

    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    labelled: set[str] = field(default_factory=set)
    buttons: list[dict[str, str]] = field(default_factory=list)


class Page(HTMLParser):
    """The parts of a page the tests look at: forms, labels, and the text of elements by id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, Form] = {}
        self.ids: dict[str, dict[str, str]] = {}
        self.texts: dict[str, str] = {}
        self.labels: set[str] = set()
        self.input_ids: dict[str, str] = {}
        self._form: Form | None = None
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids[a["id"]] = {"tag": tag, **a}
            self.texts.setdefault(a["id"], "")
        if tag == "form":
            self._form = Form(a.get("id", ""), a.get("action", ""), a.get("method", "get"))
            self.forms[self._form.id] = self._form
        elif tag == "input" and self._form is not None and "name" in a:
            self._form.fields[a["name"]] = a.get("value", "")
            if "id" in a:
                self.input_ids[a["id"]] = a["name"]
        elif tag == "button" and self._form is not None:
            self._form.buttons.append(a)
        elif tag == "label" and "for" in a:
            self.labels.add(a["for"])
        if tag not in ("input", "meta", "br", "img", "link"):
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id is not None:
                self.texts[element_id] += data

    def form(self, form_id: str) -> Form:
        """The form with ``form_id``; its visible inputs all have a label."""
        found = self.forms[form_id]
        return found

    def text(self, element_id: str) -> str:
        """The text inside the element with ``element_id``, whitespace collapsed."""
        return " ".join(self.texts[element_id].split())


def pkce() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair (S256)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Browser:
    """One browser (its own cookies) on the emulator."""

    def __init__(self, emu: Emulator, **options: Any) -> None:
        self.emu = emu
        self.http = httpx.Client(base_url=emu.url, follow_redirects=False, **options)

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, **params: Any) -> httpx.Response:
        return self.http.get(url, params=params or None)

    def authorize(self, client_id: str, **params: str | None) -> httpx.Response:
        """``GET /authorize`` with a code request for ``client_id`` to ``CALLBACK``;
        ``params`` add or replace (None drops one)."""
        query: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "openid profile email",
            "state": "app-state",
            **params,
        }
        return self.http.get("/authorize", params={k: v for k, v in query.items() if v})

    def page(self, url: str) -> tuple[httpx.Response, Page]:
        response = self.http.get(url)
        return response, Page(response.text)

    def submit(self, page: Page, form_id: str, **values: str | None) -> httpx.Response:
        """Post the form as a browser would: its hidden fields, with ``values`` filled in
        (None drops a field)."""
        form = page.form(form_id)
        data: dict[str, str | None] = {**form.fields, **values}
        if form.buttons and form.buttons[0].get("name"):
            data.setdefault(form.buttons[0]["name"], form.buttons[0].get("value", ""))
        return self.http.post(form.action, data={k: v for k, v in data.items() if v is not None})


def location(response: httpx.Response) -> httpx.URL:
    """Where a redirect goes."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    return httpx.URL(response.headers["location"])


def web_app(emu: Emulator, **settings: Any) -> dict[str, Any]:
    """A regular web app with ``CALLBACK`` and ``LOGOUT_URL`` registered."""
    body: dict[str, Any] = {
        "name": "Web app",
        "app_type": "regular_web",
        "callbacks": [CALLBACK],
        "allowed_logout_urls": [LOGOUT_URL],
        **settings,
    }
    return emu.create_client(**body)


def exchange(emu: Emulator, app: dict[str, Any], code: str, **fields: str | None) -> httpx.Response:
    """``POST /oauth/token`` with the ``authorization_code`` grant as ``app`` (its secret if it
    has one) for ``CALLBACK``; ``fields`` add or replace (None drops one)."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app.get("client_secret"),
        "code": code,
        "redirect_uri": CALLBACK,
        **fields,
    }
    return httpx.post(
        f"{emu.url}/oauth/token", data={k: v for k, v in form.items() if v is not None}
    )
