"""Every command's help and every argument's help, read from the extension's own command loader
(in-process: az's full command table takes minutes to load). The rules are those of
`azdev linter` that `make lint` runs, checked here so a broken help fails a unit test first:
a summary and examples for each command, help for each argument, no argument that is a test seam
(a default az cannot show or take from the command line), no HTML-like <tag> outside backticks,
and examples that run aitk commands with their own options (no shell redirect)."""

import re
import shlex
from types import SimpleNamespace

import pytest
import yaml
from azext_aitk import AitkCommandsLoader
from azext_aitk._help import helps
from azure.cli.core.mock import DummyCli

# az's options on every command (azure-cli's global arguments), which the extension does not declare.
GLOBAL_OPTIONS = {"--debug", "--help", "-h", "--only-show-errors", "--output", "-o", "--query", "--verbose"}
REDIRECTS = {">", ">>", "<", "2>", "2>&1", "&>"}
TAG = re.compile(r"<([A-Za-z][^<>\s]*)>")


def _loaded():
    cli = DummyCli()
    loader = AitkCommandsLoader(cli_ctx=cli)
    loader.load_command_table(None)
    for name, command in loader.command_table.items():
        # az loads one command's arguments per invocation: its argument contexts ask which
        cli.invocation = SimpleNamespace(data={"command_string": name}, commands_loader=loader)
        loader.command_name = name
        command.load_arguments()
        loader.load_arguments(name)
    loader._update_command_definitions()  # pylint: disable=protected-access
    return loader.command_table


COMMANDS = _loaded()


def _html_tags(text):
    """The <tag>s of `text` outside `backtick` spans."""
    return TAG.findall(re.sub(r"`[^`]*`", "", text or ""))


def test_the_loader_registers_every_command():
    assert {"aitk inference init", "aitk inference provision", "aitk inference wait"} <= set(COMMANDS)
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help(name):
    assert name in helps, f"{name} has no entry in _help.py"
    entry = yaml.safe_load(helps[name])
    assert entry["type"] == "command"
    assert entry.get("short-summary", "").strip(), f"{name}: no short-summary"
    for field in ("short-summary", "long-summary"):
        assert not _html_tags(entry.get(field)), f"{name} {field}: {_html_tags(entry.get(field))}"
    examples = entry.get("examples") or []
    assert examples, f"{name}: no example"
    assert any(f"az {name}" in e["text"] for e in examples), f"{name}: no example runs it"
    for example in examples:
        assert example.get("name", "").strip() and not _html_tags(example["name"])
        for words in _az_commands(example["text"]):
            command = next((c for c in COMMANDS if words[1 : 1 + len(c.split())] == c.split()), None)
            assert command, f"{name}: example runs an unknown aitk command: {example['text']}"
            args = words[1 + len(command.split()) :]
            assert not REDIRECTS & set(args), f"{name}: a shell redirect in the example: {example['text']}"
            options = {
                o for a in COMMANDS[command].arguments.values() for o in a.type.settings.get("options_list") or ()
            }
            unknown = {w.split("=", 1)[0] for w in args if w.startswith("-")} - options - GLOBAL_OPTIONS
            assert not unknown, f"{name}: example uses options {command} does not have: {unknown}"


def _az_commands(text):
    """The `az aitk …` commands of an example, as azdev linter reads them: lines joined at a
    trailing backslash, each command cut at a pipe or && / || (what follows is another command)."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        if "az aitk" not in line:
            continue
        start = line.index("az aitk")
        command = line[start:]
        if line[:start].endswith("$("):  # a command substitution: the command ends at its ")"
            command = command[: command.rindex(")")]
        words = shlex.split(command)
        cut = next((i for i, w in enumerate(words) if w in ("|", "&&", "||")), len(words))
        commands.append(words[:cut])
    return commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_argument_help(name):
    for dest, argument in COMMANDS[name].arguments.items():
        settings = argument.type.settings
        if settings.get("help") == "==SUPPRESS==" or dest == "cmd":
            continue
        text = settings.get("help") or ""
        assert text.strip(), f"{name} {dest}: no help"
        assert not _html_tags(text), f"{name} {dest}: {_html_tags(text)}"
        assert not callable(settings.get("default")), f"{name} {dest}: a callable default is a test seam, not an option"


def test_the_html_rule_sees_tags_and_lets_backticked_ones_be():
    assert _html_tags("kept as <name>.bak-<time>") == ["name", "time"]
    assert _html_tags("kept as `<name>.bak-<time>`") == []
