"""A slow link for the web sink, inside a private network namespace (run under
`unshare -n`): loopback gets MTU 1500 and a tbf rate limit (FINDINGS: netem is missing
from this kernel), and a small TCP proxy adds a one-way delay each way (the round
trip). Chromium (Playwright, system browser) opens the page through the proxy.

Usage: slowlink.py DAQFLOW PIPELINE REPORT OUT_DIR RATE_MBIT RTT_MS SECONDS [page.py args]

The proxy's two legs both cross loopback, so tbf is set to twice RATE_MBIT: the frames
cross the link at RATE_MBIT. Prints nothing; writes OUT_DIR/slowlink.json with the
page's samples (painted frames, frame age), the server's memory (VmRSS) each second and
the tc statistics.
"""
import json, os, re, selectors, signal, socket, subprocess, sys, threading, time, heapq

daqflow, pipeline, report, out, rate, rtt_ms, seconds = sys.argv[1:8]
rate, rtt_ms, seconds = float(rate), float(rtt_ms), float(seconds)

def sh(*cmd):
    subprocess.run(cmd, check=True)

sh("ip", "link", "set", "lo", "up")
sh("ip", "link", "set", "lo", "mtu", "1500")
if rate > 0:
    sh("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", f"{int(rate * 2 * 1000)}kbit",
       "burst", "16kb", "latency", "200ms")

proc = subprocess.Popen([daqflow, "run", "--quiet", "--report", report, pipeline],
                        stderr=subprocess.PIPE, text=True)
port = None
log = []
for line in proc.stderr:
    log.append(line)
    m = re.search(r"live view at http://[^:]+:(\d+)/", line)
    if m:
        port = int(m.group(1))
        break
if port is None:
    sys.exit("no live view URL in the log:\n" + "".join(log))
threading.Thread(target=lambda: [log.append(l) for l in proc.stderr], daemon=True).start()

# The delay proxy: each chunk is forwarded one_way seconds after it arrived.
one_way = rtt_ms / 2000.0
lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(16)
proxy_port = lsock.getsockname()[1]

def pump(src, dst):
    queue, cv, done = [], threading.Condition(), [False]
    def sender():
        while True:
            with cv:
                while not queue and not done[0]:
                    cv.wait()
                if not queue and done[0]:
                    break
                due, data = queue.pop(0)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        with cv:
            if not data:
                done[0] = True
            else:
                queue.append((time.monotonic() + one_way, data))
            cv.notify()
        if not data:
            break

def accept():
    while True:
        c, _ = lsock.accept()
        s = socket.create_connection(("127.0.0.1", port))
        threading.Thread(target=pump, args=(c, s), daemon=True).start()
        threading.Thread(target=pump, args=(s, c), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()

def rss_kib():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

from playwright.sync_api import sync_playwright
samples = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                args=["--no-sandbox", "--use-angle=swiftshader",
                                      "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
    page = browser.new_page(viewport={"width": 1200, "height": 800}, bypass_csp=True)  # the page CSP forbids eval; Playwright evaluates strings
    page.goto(f"http://127.0.0.1:{proxy_port}/", timeout=90000)
    page.wait_for_function("window.daqflow && window.daqflow.painted >= 1", timeout=90000)
    t0 = time.time()
    while time.time() - t0 < seconds:
        time.sleep(1.0)
        d = page.evaluate("({ painted: window.daqflow.painted, last: window.daqflow.last })")
        s = d["last"]["stats"]
        samples.append({"t": round(time.time() - t0, 2), "painted": d["painted"],
                        "age_ms": s["age_ms"], "goodput_bps": s["goodput_bps"],
                        "codec": d["last"]["codec"], "w": d["last"]["w"], "h": d["last"]["h"],
                        "rss_kib": rss_kib()})
    page.screenshot(path=f"{out}/slowlink.png")
    errors = page.evaluate("window.daqflow.errors")
    browser.close()

proc.send_signal(signal.SIGINT)
proc.wait(timeout=60)
tc = subprocess.run(["tc", "-s", "qdisc", "show", "dev", "lo"], capture_output=True, text=True).stdout
with open(f"{out}/slowlink.json", "w") as f:
    json.dump({"samples": samples, "errors": errors, "exit": proc.returncode, "tc": tc,
               "log": "".join(log[-30:])}, f, indent=1)
