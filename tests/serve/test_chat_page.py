"""The chat page at `/`, in headless Chromium (Debian's chromium + chromedriver through
selenium), against the real launcher-started vLLM server: key asked once, models listed,
a streamed reply equal to what the API returns for the same request."""

import os
import shutil
import subprocess
import tempfile

import pytest

from serve.conftest import API_KEY, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
]


def ensure_chromium():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.geteuid() != 0:
            pytest.fail("chromium/chromedriver missing: run scripts/ensure_chromium.sh as root")
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], check=True, timeout=900)
    return shutil.which("chromium"), shutil.which("chromedriver")


def start_browser(extra_flags=()):
    """Headless Chromium with its own profile; returns (driver, profile folder) — quit_browser ends both."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = ensure_chromium()
    profile = tempfile.mkdtemp(prefix="aitk-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in [*CHROME_FLAGS, *extra_flags]:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts), profile


def quit_browser(driver, profile):
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    driver, profile = start_browser()
    try:
        yield driver
    finally:
        quit_browser(driver, profile)


def wait(driver, condition, timeout=120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def send(driver, text, n):
    """Type and send a message; return the n-th (1-based) finished assistant message."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "prompt").send_keys(text)
    driver.find_element(By.ID, "send").click()
    sel = ".msg.assistant[data-done='true'], .msg.error"
    done = wait(
        driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, sel)) >= n and d.find_elements(By.CSS_SELECTOR, sel)
    )
    last = done[n - 1]
    assert "error" not in last.get_attribute("class"), last.text
    return last


def test_a_chat_round_trip_in_a_real_browser(browser, llama_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(llama_server.url + "/")
    # The API answers 401 without the key: the page asks for it.
    dialog = wait(d, lambda d: d.find_element(By.ID, "key-dialog"))
    wait(d, lambda d: "open" in dialog.get_attribute("class"))
    assert API_KEY not in d.page_source
    d.find_element(By.ID, "api-key").send_keys(API_KEY)
    d.find_element(By.ID, "key-save").click()
    wait(d, lambda d: d.execute_script("return document.body.dataset.status") == "Ready")
    options = [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#model option")]
    assert options == ["tiny-llama", "run-all64", "run-q"]  # base first, then its adapters

    Select(d.find_element(By.ID, "model")).select_by_value("run-q")
    for field, value in (("temperature", "0"), ("max-tokens", "10")):
        box = d.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    first = send(d, "Hello, how are you?", 1)
    status, body = llama_server.api(
        "POST",
        "/v1/chat/completions",
        {
            "model": "run-q",
            "messages": [{"role": "user", "content": "Hello, how are you?"}],
            "max_tokens": 10,
            "temperature": 0,
        },
    )
    assert status == 200, body
    want = body["choices"][0]["message"]["content"]
    assert first.text.strip() == want.strip() and want.strip()
    assert int(first.get_attribute("data-chunks")) > 1  # it streamed

    # The key is asked once: the next message goes straight through, with the history.
    second = send(d, "Tell me more.", 2)
    assert "open" not in d.find_element(By.ID, "key-dialog").get_attribute("class")
    status, body = llama_server.api(
        "POST",
        "/v1/chat/completions",
        {
            "model": "run-q",
            "max_tokens": 10,
            "temperature": 0,
            "messages": [
                {"role": "user", "content": "Hello, how are you?"},
                {"role": "assistant", "content": want},
                {"role": "user", "content": "Tell me more."},
            ],
        },
    )
    assert second.text.strip() == body["choices"][0]["message"]["content"].strip()
    assert d.execute_script("return sessionStorage.getItem('aitk-api-key')") == API_KEY
