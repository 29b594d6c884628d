"""The web page at `/`, driven in a real headless Chromium against `vtrag serve` on loopback.

Search and open a page; ask and check that the cited box lands on the page image where the citation's bbox
says (within 2 px); upload several files, follow the job, see them listed and delete one; a bad upload shows
the server's error; keyboard only; a phone width; no request leaves the origin.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.api.web.conftest import API_KEY, Site
from tests.conftest import make_pdf

QUESTION = "When was the lighthouse built?"
WAIT_S = 120


def wait_for(driver: Any, script: str, timeout: float = WAIT_S) -> Any:
    """Wait until the JavaScript expression `script` is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script}")
    )


def fresh_page(driver: Any, site: Site) -> None:
    """The page in a clean state: no key in the tab's session."""
    driver.get(site.base_url + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(site.base_url + "/")
    wait_for(driver, "document.readyState === 'complete'")


def keys(driver: Any, *sequence: str) -> None:
    """Type into whatever has the focus, as a keyboard would."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*sequence).perform()


def active_id(driver: Any) -> str:
    return str(driver.execute_script("return document.activeElement.id"))


def geometry(driver: Any, scope: str) -> dict[str, Any]:
    """The page image and the drawn box under `scope`, in viewport CSS pixels."""
    return driver.execute_script(
        """const img = document.querySelector(arguments[0] + ' img');
        const box = document.querySelector(arguments[0] + ' .bbox');
        const a = img.getBoundingClientRect(), b = box.getBoundingClientRect();
        return {img: [a.left, a.top, a.width, a.height], box: [b.left, b.top, b.width, b.height],
                natural: [img.naturalWidth, img.naturalHeight]};""",
        scope,
    )


def assert_box_matches(geo: dict[str, Any], bbox: dict[str, Any]) -> None:
    left, top, width, height = geo["img"]
    page_w, page_h = bbox["page_size"]
    x0, y0, x1, y1 = bbox["points"]
    sx, sy = width / page_w, height / page_h
    expected = [left + x0 * sx, top + y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy]
    assert geo["box"] == pytest.approx(expected, abs=2), (geo, bbox)
    # the image is the page at the citation's raster resolution
    scale = bbox["dpi"] / 72
    assert geo["natural"] == pytest.approx([page_w * scale, page_h * scale], abs=1)


def test_search_opens_a_page_with_the_keyboard(browser: Any, site: Site, shots: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    fresh_page(browser, site)
    keys(browser, Keys.TAB)  # the skip link
    while active_id(browser) != "search-input":
        keys(browser, Keys.TAB)
    keys(browser, "lighthouse keeper storm", Keys.ENTER)
    wait_for(browser, "[...document.querySelectorAll('.card img')].some(i => i.naturalWidth > 0)")
    first = browser.execute_script(
        "const c = document.querySelector('.card'); return {source: c.querySelector('.source').textContent,"
        " marks: [...c.querySelectorAll('mark')].map(m => m.textContent.toLowerCase()),"
        " meta: c.querySelector('.meta').textContent}"
    )
    assert first["source"].endswith("harbour-lighthouse.pdf")
    assert {"keeper", "storm"} <= set(first["marks"])
    assert first["meta"].startswith("page 1")
    browser.save_screenshot(str(shots / "search.png"))

    keys(browser, Keys.TAB, Keys.TAB)  # the search button, then the first card's page
    assert browser.execute_script("return document.activeElement.classList.contains('thumb')")
    keys(browser, Keys.ENTER)
    wait_for(browser, "document.getElementById('viewer').open")
    wait_for(browser, "document.querySelector('#viewer img').naturalWidth > 0")
    title = browser.execute_script("return document.getElementById('viewer-title').textContent")
    assert title.endswith("harbour-lighthouse.pdf — page 1")
    browser.save_screenshot(str(shots / "page.png"))
    keys(browser, Keys.ESCAPE)
    wait_for(browser, "!document.getElementById('viewer').open")
    assert browser.execute_script("return document.activeElement.classList.contains('thumb')")


def test_ask_draws_the_cited_box_where_the_bbox_says(browser: Any, site: Site, shots: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    with site.http() as http:
        expected = http.post("/v1/answer", json={"question": QUESTION}).json()
    cited = expected["citations"][0]
    assert cited["bbox"] and cited["bbox"]["page_size"] == [595.0, 842.0]

    fresh_page(browser, site)
    browser.find_element("id", "tab-search").click()
    keys(browser, Keys.ARROW_RIGHT)  # tabs follow the arrow keys
    assert active_id(browser) == "tab-ask"
    browser.find_element("id", "ask-input").send_keys(QUESTION, Keys.ENTER)
    wait_for(
        browser,
        "document.querySelector('.citation img') && "
        "document.querySelector('.citation img').naturalWidth > 0 && "
        "document.querySelector('.citation .bbox')",
    )
    assert browser.find_element("id", "answer-text").text == expected["answer"] == "1871"
    assert "Extractive" in browser.find_element("id", "answer-path").text
    assert_box_matches(geometry(browser, ".citation"), cited["bbox"])
    browser.save_screenshot(str(shots / "ask.png"))
    if target := os.environ.get("VTRAG_WEB_SCREENSHOT"):  # refreshes the README's picture
        shutil.copy(shots / "ask.png", target)

    browser.find_element("css selector", ".citation .thumb").click()  # the same page, large
    wait_for(
        browser,
        "document.querySelector('#viewer img') && "
        "document.querySelector('#viewer img').naturalWidth > 0 && "
        "document.querySelector('#viewer .bbox')",
    )
    large = geometry(browser, "#viewer")
    assert large["img"][2] > geometry(browser, ".citation")["img"][2]
    assert_box_matches(large, cited["bbox"])
    browser.save_screenshot(str(shots / "ask-large.png"))
    keys(browser, Keys.ESCAPE)


def _drop_text_file(browser: Any, name: str) -> None:
    """Drop a file that is not a PDF on the drop zone, as a drag from the desktop would."""
    browser.execute_script(
        """const dt = new DataTransfer();
        dt.items.add(new File(['just some notes'], arguments[0], {type: 'application/pdf'}));
        const drop = new DragEvent('drop', {dataTransfer: dt, bubbles: true});
        document.getElementById('drop').dispatchEvent(drop);""",
        name,
    )


def test_upload_follow_list_and_delete(browser: Any, site: Site, shots: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    files = [
        make_pdf(site.root / "harvest.pdf", ["The autumn harvest festival fills the square.", "Page two."]),
        make_pdf(site.root / "tides.pdf", ["Spring tides come twice a month, at new and full moon."]),
    ]
    fresh_page(browser, site)
    browser.find_element("id", "tab-docs").click()
    wait_for(browser, "document.querySelectorAll('#docs tbody tr').length === 2")
    upload_input = browser.find_element("id", "upload-input")
    upload = browser.find_element("css selector", "#upload-form button[type=submit]")

    upload_input.send_keys("\n".join(str(f) for f in files))
    upload.click()  # no key yet: the server refuses, and the page asks for one
    error = wait_for(browser, "document.getElementById('upload-error').textContent")
    assert "API key is required" in error and "(401)" in error
    assert active_id(browser) == "key-input"
    keys(browser, API_KEY, Keys.ENTER)
    assert "key set" in browser.find_element("id", "key-state").text
    assert browser.execute_script("return sessionStorage.getItem('vtrag.apiKey')") == API_KEY
    assert browser.execute_script("return localStorage.length") == 0

    _drop_text_file(browser, "notes.pdf")
    assert "notes.pdf" in browser.find_element("id", "upload-chosen").text
    upload.click()  # a bad file: the server's 415 message is shown
    error = wait_for(browser, "document.getElementById('upload-error').textContent")
    assert "notes.pdf: not a PDF" in error and "(415)" in error
    browser.save_screenshot(str(shots / "bad-upload.png"))

    upload_input.send_keys("\n".join(str(f) for f in files))
    assert "2 chosen" in browser.find_element("id", "upload-chosen").text
    upload.click()
    status = wait_for(
        browser,
        "/Job (succeeded|partial|failed)/.test("
        "document.getElementById('job-status').textContent) && "
        "document.getElementById('job-status').textContent",
    )
    assert status.startswith("Job succeeded: 2/2 files, 3/3 pages"), status
    assert "tides.pdf: indexed, 1 page" in browser.find_element("id", "job-files").text
    assert browser.find_element("id", "upload-error").text == ""
    rows = wait_for(
        browser,
        "document.querySelectorAll('#docs tbody tr').length === 4 && "
        "[...document.querySelectorAll('#docs tbody tr')].map(r => r.innerText)",
    )
    listed = {r.split("\t")[0]: r.split("\t")[1] for r in rows}
    assert listed["harvest.pdf"] == "2" and listed["tides.pdf"] == "1"
    browser.save_screenshot(str(shots / "documents.png"))

    row = browser.find_element("xpath", "//tr[td[1][text()='tides.pdf']]")
    doc_id = row.get_attribute("data-doc-id")
    row.find_element("css selector", "button").click()
    confirm = browser.find_element("xpath", "//button[text()='Yes, delete tides.pdf']")
    assert browser.execute_script("return document.activeElement") == confirm
    keys(browser, Keys.ENTER)
    wait_for(browser, "document.querySelectorAll('#docs tbody tr').length === 3")
    assert "Deleted tides.pdf" in browser.find_element("id", "docs-status").text
    with site.http() as http:
        assert http.get(f"/v1/documents/{doc_id}").status_code == 404


def test_a_phone_width_and_no_request_leaves_the_origin(browser: Any, site: Site, shots: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    with site.http() as http:
        index = http.get("/")
    assert index.status_code == 200
    assert "default-src 'self'" in index.headers["content-security-policy"]
    browser.set_window_size(390, 844)
    try:
        fresh_page(browser, site)
        browser.find_element("id", "search-input").send_keys("country loaf flour", Keys.ENTER)
        wait_for(browser, "[...document.querySelectorAll('.card img')].some(i => i.naturalWidth > 0)")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width[0] <= width[1], "the page scrolls sideways at a phone's width"
        browser.save_screenshot(str(shots / "phone.png"))
        requested = browser.execute_script(
            "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]"
        )
    finally:
        browser.set_window_size(1280, 1000)
    outside = [u for u in requested if not u.startswith((site.base_url + "/", "blob:", "data:"))]
    assert outside == []
    assert any(u.endswith("/web/main.js") for u in requested)
