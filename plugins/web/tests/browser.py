"""Drives the web sink's page in Debian's headless Chromium (Playwright, system browser).

Usage: browser.py URL OUT_DIR [SECONDS]

Loads the page, waits for painted frames, switches to viridis with a manual contrast
window, reads the canvas pixels back (RGBA, top row first) and the header of the frame
on screen, keeps a screenshot, and, for SECONDS, samples how many frames were painted
(the page keeps updating) and the frame ages the page shows. Writes OUT_DIR/pixels.rgba,
OUT_DIR/result.json and OUT_DIR/page.png. With DAQFLOW_PID: stops that pipeline, waits
for "pipeline stopped", then for the page to reconnect to the restarted one, and reads
the pixels again (OUT_DIR/pixels-restart.rgba).
"""
import base64, json, os, signal, sys, time
from playwright.sync_api import sync_playwright

url, out = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0
low, high = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("100", "700")

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
              "--ignore-gpu-blocklist"],
    )
    page = browser.new_page(viewport={"width": 1200, "height": 800}, bypass_csp=True)  # the page CSP forbids eval; Playwright evaluates strings
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(url)
    page.wait_for_function("window.daqflow && window.daqflow.painted >= 3", timeout=90000)
    page.select_option("#colormap", "viridis")
    page.fill("#low", low)
    page.dispatch_event("#low", "change")   # switches to manual contrast
    page.fill("#high", high)
    page.dispatch_event("#high", "change")
    # Frames painted after the change use the new mapping.
    n = page.evaluate("window.daqflow.painted")
    page.wait_for_function(f"window.daqflow.painted >= {n + 2}", timeout=90000)
    # One consistent snapshot: pixels and the header of the frame they show.
    def snapshot(name):
        s = page.evaluate("(() => ({ px: window.daqflowPixels(), header: window.daqflow.last }))()")
        with open(f"{out}/{name}", "wb") as f:
            f.write(base64.b64decode(s["px"]["rgba"]))
        return s
    snap = snapshot("pixels.rgba")
    page.screenshot(path=f"{out}/page.png")
    samples = []
    t0 = time.time()
    while time.time() - t0 < seconds:
        time.sleep(1.0)
        d = page.evaluate("({ painted: window.daqflow.painted, last: window.daqflow.last })")
        samples.append({"t": time.time() - t0, "painted": d["painted"],
                        "age_ms": d["last"]["stats"]["age_ms"], "codec": d["last"]["codec"],
                        "goodput_bps": d["last"]["stats"]["goodput_bps"],
                        "w": d["last"]["w"], "h": d["last"]["h"]})
    if seconds:
        page.screenshot(path=f"{out}/page-end.png")
    # Restart: stop the pipeline (SIGINT, like Ctrl-C); the page says so; the test starts
    # it again on the same port; the page reconnects by itself and paints again.
    restart = {}
    if os.environ.get("DAQFLOW_PID"):
        os.kill(int(os.environ["DAQFLOW_PID"]), signal.SIGINT)
        page.wait_for_function(
            "document.getElementById('overlay').textContent.includes('pipeline stopped')",
            timeout=90000)
        page.screenshot(path=f"{out}/stopped.png")
        restart["stopped_shown"] = True
        n = page.evaluate("window.daqflow.painted")
        page.wait_for_function(
            f"window.daqflow.painted > {n} && !document.getElementById('overlay').classList.contains('show')",
            timeout=90000)
        restart["reconnected"] = True
        n = page.evaluate("window.daqflow.painted")
        page.wait_for_function(f"window.daqflow.painted >= {n + 2}", timeout=90000)
        again = snapshot("pixels-restart.rgba")
        restart.update({"w": again["px"]["w"], "h": again["px"]["h"], "header": again["header"]})
    result = {"w": snap["px"]["w"], "h": snap["px"]["h"], "header": snap["header"],
              "samples": samples, "errors": page.evaluate("window.daqflow.errors"), "restart": restart,
              "console": console[-20:]}
    with open(f"{out}/result.json", "w") as f:
        json.dump(result, f)
    browser.close()
