"""The new-key page's snippets are valid code that names the key, the base URL and the model."""

from __future__ import annotations

import ast
import shlex

from portal.apikeys.snippets import PLACEHOLDER_MODEL, gateway_snippets

SECRET = "acme_sk_" + "A" * 43


def test_the_python_snippet_is_python_calling_the_gateway():
    snippets = gateway_snippets("https://portal.example.com/", SECRET, "openai/gpt-4o-mini")
    assert snippets.base_url == "https://portal.example.com/v1"
    tree = ast.parse(snippets.python)
    call = next(
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "OpenAI"
    )
    assert {k.arg: ast.literal_eval(k.value) for k in call.keywords} == {
        "base_url": "https://portal.example.com/v1",
        "api_key": SECRET,
    }
    assert 'model="openai/gpt-4o-mini"' in snippets.python


def test_the_curl_snippet_is_one_shell_command():
    snippets = gateway_snippets("http://127.0.0.1:8000", SECRET, "anthropic/claude-haiku-4-5")
    words = shlex.split(snippets.curl.replace("\\\n", " "))
    assert words[:2] == ["curl", "http://127.0.0.1:8000/v1/chat/completions"]
    assert words[words.index("-H") + 1] == f"Authorization: Bearer {SECRET}"
    body = ast.literal_eval(words[words.index("-d") + 1].replace("true", "True"))
    assert body["model"] == "anthropic/claude-haiku-4-5" and body["messages"][0]["role"] == "user"


def test_without_a_usable_model_a_placeholder():
    snippets = gateway_snippets("http://127.0.0.1:8000", SECRET, None)
    assert snippets.model == PLACEHOLDER_MODEL and not snippets.has_model
