"""Read the forms of a server-rendered page the way a browser would submit them (no JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, text)
    inputs: list[str] = field(default_factory=list)  # names of visible inputs

    def submit(self, button: str | None = None, **values: str) -> dict[str, str]:
        """The body a click on the button whose text contains ``button`` sends."""
        data = {**self.fields, **values}
        exact = any(text == button for _, _, text in self.buttons)
        for name, value, text in self.buttons:
            if button is None or (text == button if exact else button in text):
                if name:
                    data[name] = value
                return data
        raise AssertionError(f"no button {button!r} in form {self.buttons}")


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: list[str] | None = None
        self._attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms:
            if a.get("type") == "hidden":
                self.forms[-1].fields[a["name"]] = a.get("value", "")
            elif "name" in a:
                self.forms[-1].inputs.append(a["name"])
        elif tag == "button" and self.forms:
            self._button, self._attrs = [], a

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            text = " ".join("".join(self._button).split())
            self.forms[-1].buttons.append((self._attrs.get("name", ""), self._attrs.get("value", ""), text))
            self._button = None


def forms(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, button: str) -> Form:
    """The one form holding a button labelled ``button`` (or, failing that, whose label contains it)."""
    every = forms(html)
    found = [f for f in every if any(text == button for _, _, text in f.buttons)]
    found = found or [f for f in every if any(button in text for _, _, text in f.buttons)]
    assert len(found) == 1, f"{len(found)} forms with a button {button!r}"
    return found[0]
