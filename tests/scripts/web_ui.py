"""Load Transmission's web interface from a Transmission RPC server in
headless Chromium (Debian's chromium and chromium-driver, through
selenium), and use it as a person would: see a torrent in the list with
its progress moving, then pause it with its row's button.

Usage: web_ui.py URL TORRENT_NAME SCREENSHOT_DIR
Prints one JSON object with what the page showed; exits non-zero when the
page does not behave.
"""
import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            value = fn()
        except Exception:  # the page is still being built
            value = None
        if value:
            return value
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def main():
    url, name, shots = sys.argv[1:4]
    os.makedirs(shots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="riffle-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    seen = {}
    try:
        driver.get(url)
        seen["title"] = driver.title

        def row():
            for r in driver.find_elements(By.CSS_SELECTOR, "li.torrent"):
                if r.find_element(By.CLASS_NAME, "torrent_name").text == name:
                    return r
            return None

        r = wait_for("the torrent in the list", row)
        driver.save_screenshot(os.path.join(shots, "1-listed.png"))
        first = r.find_element(By.CLASS_NAME, "torrent_progress_details").text
        seen["first_progress"] = first
        moved = wait_for(
            "the progress to move",
            lambda: (lambda t: t if t != first else None)(
                row().find_element(By.CLASS_NAME, "torrent_progress_details").text
            ),
        )
        seen["later_progress"] = moved
        driver.save_screenshot(os.path.join(shots, "2-moving.png"))
        button = row().find_element(By.CLASS_NAME, "torrent_pause")
        button.click()
        wait_for(
            "the row to show it paused",
            lambda: row().find_elements(By.CLASS_NAME, "torrent_resume"),
        )
        seen["paused_details"] = row().find_element(By.CLASS_NAME, "torrent_progress_details").text
        driver.save_screenshot(os.path.join(shots, "3-paused.png"))
    finally:
        driver.quit()
    print(json.dumps(seen))


main()
