"""A real browser for the report pages: Debian's headless Chromium driven by selenium through
/usr/bin/chromedriver (selenium's own driver download cannot work offline).

Tests that use the ``browser`` fixture are marked ``browser`` and are skipped, with the reason, on a machine
without chromium, chromedriver or selenium; CI installs all three (.ci/run), so CI runs them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


CHROMEDRIVER = Path("/usr/bin/chromedriver")
ALLOWED_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


def missing_browser() -> str | None:
    """Why a real browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not CHROMEDRIVER.exists() or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "no chromium/chromedriver (apt-get install -y chromium chromium-driver)"
    return None


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1600", "--disable-background-networking", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


class Page:
    """One report page open in the browser, with what a test asks of it."""

    def __init__(self, driver, path: Path):
        self.driver = driver
        driver.get(Path(path).resolve().as_uri())
        driver.execute_script("return document.readyState")  # the page's script has run when get() returns

    def requests(self) -> list[str]:
        """Every URL the page asked for (Chrome's performance log)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests() if not u.startswith(ALLOWED_SCHEMES)]

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def data(self) -> dict:
        return self.driver.execute_script("return JSON.parse(document.getElementById('page-data').textContent)")

    def point_offset(self, div_id: str, head: str) -> tuple[int, int]:
        """Pixel offset, from the centre of plot ``div_id``, of the marker whose customdata is ``head``."""
        return tuple(self.driver.execute_script("""
            const gd = document.getElementById(arguments[0]);
            for (const trace of gd._fullData) {
              const i = (trace.customdata || []).indexOf(arguments[1]);
              if (i < 0) continue;
              const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
              const r = gd.getBoundingClientRect();
              return [Math.round(xa._offset + xa.l2p(trace.x[i]) - r.width / 2),
                      Math.round(ya._offset + ya.l2p(trace.y[i]) - r.height / 2)];
            }
            return null;""", div_id, head))

    def cell_offset(self, div_id: str, layer: int, head: int) -> tuple[int, int]:
        """Pixel offset, from the centre of heatmap ``div_id``, of cell (row ``layer``, column ``head``)."""
        return tuple(self.driver.execute_script("""
            const gd = document.getElementById(arguments[0]);
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const r = gd.getBoundingClientRect();
            return [Math.round(xa._offset + xa.l2p(arguments[2]) - r.width / 2),
                    Math.round(ya._offset + ya.l2p(arguments[1]) - r.height / 2)];""", div_id, layer, head))

    def hover(self, div_id: str, offset: tuple[int, int]) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.ID, div_id)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        ActionChains(self.driver).move_to_element_with_offset(element, *offset).pause(0.3).perform()

    def click(self, div_id: str, offset: tuple[int, int]) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.ID, div_id)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        ActionChains(self.driver).move_to_element_with_offset(element, *offset).pause(0.2).click().pause(0.5).perform()

    def text(self, element_id: str) -> str:
        return self.driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : null",
                                          element_id)

    def heatmap_labels(self, div_id: str = "head-heatmap") -> dict:
        """The drawn heatmap's tick labels and title, as plotly laid them out."""
        return self.driver.execute_script("""
            const gd = document.getElementById(arguments[0]);
            if (!gd || !gd._fullLayout) return null;
            return {x: gd._fullLayout.xaxis.ticktext, y: gd._fullLayout.yaxis.ticktext,
                    title: gd._fullLayout.title.text, n: gd.data[0].z.length};""", div_id)

    def screenshot(self, path: Path, element_id: str | None = None, around: str = "parent") -> None:
        """An element's picture (``around``: "self", its "parent", or its whole "section"), else the window."""
        from selenium.webdriver.common.by import By

        if element_id is None:
            self.driver.save_screenshot(str(path))
            return
        xpath = {"self": "", "parent": "/..", "section": "/ancestor::section"}[around]
        element = self.driver.find_element(By.XPATH, f"//*[@id='{element_id}']{xpath}")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
        element.screenshot(str(path))
