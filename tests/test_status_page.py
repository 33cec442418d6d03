"""The status page in a real browser (Debian's chromium, headless, driven by Playwright)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests import lab

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
SHOT = os.environ.get("FAILOVERD_STATUS_SHOT")  # where to keep a screenshot (README image)


@pytest.fixture
async def browser():
    playwright = pytest.importorskip("playwright.async_api")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    async with playwright.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


async def test_the_page_shows_every_service_and_turns_blue_on_a_failover(daemon, sides, browser):
    primary, _ = sides
    cfg = daemon.config(interval="500ms")
    cfg["services"]["second"] = {
        **cfg["services"]["webapp"],
        "traffic": {
            "rfc2136": {
                **cfg["services"]["webapp"]["traffic"]["rfc2136"],
                "name": f"second.{lab.ZONE}",
            }
        },
    }
    d = await daemon.start(cfg)
    await d.wait_for("side_ready", side="standby", service="webapp")
    page = await browser.new_page(viewport={"width": 1200, "height": 760})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{d.api}/")
    webapp = 'section[data-service="webapp"]'
    await page.wait_for_selector(f'{webapp}[data-state="primary_active"]', timeout=15_000)
    assert await page.locator("section.service").count() == 2
    assert await page.locator("#role").text_content() == "leader"
    green = await page.eval_on_selector(webapp, "e => getComputedStyle(e).borderLeftColor")
    await primary.down()
    await d.wait_for("plan_done", service="webapp")
    await page.wait_for_selector(f'{webapp}[data-state="standby_active"]', timeout=15_000)
    blue = await page.eval_on_selector(webapp, "e => getComputedStyle(e).borderLeftColor")
    assert green != blue, "the state's colour changed"
    text = await page.locator(webapp).text_content()
    assert "traffic on the standby" in text and "Last failover (auto): success" in text
    events = await page.locator("#event-rows tr").count()
    assert events >= 2
    if SHOT:
        await page.screenshot(path=SHOT, full_page=False)
    await page.close()
    assert problems == [], problems


async def test_the_page_is_self_contained_and_read_only(daemon, sides, http):
    d = await daemon.start(interval="500ms")
    async with http.get(f"{d.api}/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "http://" not in html and "https://" not in html, "no external assets"
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "POST" not in html and "method:" not in html, "the page never writes"
    async with http.get(f"{d.api}/", headers={"Host": "rebound.example"}) as r:
        assert r.status == 421
