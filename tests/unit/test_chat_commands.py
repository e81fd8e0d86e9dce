"""The chat's slash commands and what it prints of model output (core/endpoint/chat_session.py)."""

import pytest
from azext_aitk.core.endpoint import chat_session


class _Script:
    def __init__(self, *items):
        self.items, self.out = list(items), []

    def read(self, prompt):
        self.out.append(prompt)
        if not self.items:
            raise EOFError
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def write(self, text):
        self.out.append(text)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain text, é and 漢字", "plain text, é and 漢字"),
        ("line\n\tindented", "line\n\tindented"),
        ("windows\r\nline", "windows\nline"),
        ("\x1b[2J\x1b]0;title\x07", "^[[2J^[]0;title^G"),
        ("nul\x00 del\x7f", "nul^@ del^?"),
        ("csi\x9b31m", "csi\\x9b31m"),
    ],
)
def test_visible_keeps_text_and_shows_control_characters(raw, shown):
    assert chat_session.visible(raw) == shown


def test_visible_leaves_no_control_character_but_newline_and_tab():
    every = "".join(chr(c) for c in range(0, 0xA0))
    out = chat_session.visible(every)
    assert all(ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) for ch in out)


def test_slash_commands_are_handled_locally_and_never_sent():
    script = _Script(
        "/help", "/system be brief", "hello", "/clear", "/model other", "again", "/model nope", "/bogus", "//x", "/exit"
    )
    conv = chat_session.Conversation("base")
    sent = []

    def send(body, on_piece):
        sent.append(body)
        on_piece("ok\x1b[2J")
        return "ok"

    turns = chat_session.run_terminal(conv, send, script.read, script.write, models=["base", "other"])
    out = "".join(script.out)
    assert turns == 3
    assert [b["messages"][-1]["content"] for b in sent] == ["hello", "again", "/x"]
    assert "/model NAME" in out and "base, other" in out  # /help lists commands and models
    # /system set the system message; /clear dropped the turn but kept it; /model switched
    assert sent[0]["messages"][0] == {"role": "system", "content": "be brief"} and sent[0]["model"] == "base"
    assert [m["role"] for m in sent[1]["messages"]] == ["system", "user"] and sent[1]["model"] == "other"
    assert "model 'nope' is not served" in out and "unknown command /bogus" in out
    assert "\x1b" not in out and "ok^[[2J" in out  # model output is made visible


def test_system_alone_removes_it_and_model_alone_says_which():
    conv = chat_session.Conversation("base", system="s")
    assert chat_session.slash_command(conv, "/system", ["base"]) == (False, "(system message removed)\n")
    assert conv.messages == []
    leave, said = chat_session.slash_command(conv, "/model", ["base", "b2"])
    assert not leave and "model: base" in said and "b2" in said
    assert chat_session.slash_command(conv, "/QUIT", []) == (True, None)


def test_visible_line_shows_every_control_character_on_one_line():
    from azext_aitk.core.endpoint.chat_session import visible_line, visible_names

    assert visible_line("a\x1b]0;t\x07\n\tb\r\x9b") == "a^[]0;t^G^J^Ib^M\\x9b"
    assert visible_names(["base", "x\x1b[2J"]) == "base, x^[[2J" and visible_names([]) == "-"
