#!/usr/bin/python3
"""Drives a real headless Chromium through the DevTools protocol to check the bench page.

usage: bench-page-chromium.py BASE_URL OUT_DIR NEW_EVENT_PATH NEW_MAC [ADMIN_TOKEN REARM_MAC]

Loads BASE_URL/, waits (bounded) for the rows, takes a screenshot, marks the page's
JavaScript state, asks the server for NEW_EVENT_PATH (a real boot request that writes a
new event), then waits (bounded) for a row with NEW_MAC to appear in the same page, and
takes a second screenshot. With ADMIN_TOKEN and REARM_MAC, clicks that row's re-arm button,
answers the token dialog first with a wrong token, then (clicking again) with ADMIN_TOKEN,
and reports the page's notices and what the tab kept in sessionStorage. Prints one JSON object: the rows before and after, whether the
marker survived (no reload happened) and the screenshot paths. Exit 0 even when the row
never appears: the Swift test decides from the JSON.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import websocket  # python3-websocket

base, out_dir, event_path, new_mac = sys.argv[1:5]
profile = os.path.join(out_dir, "chromium-profile")
os.makedirs(profile, exist_ok=True)
log = open(os.path.join(out_dir, "chromium.log"), "wb")
result = {"error": None}
chromium = None


def deadline_loop(seconds, step=0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield
        time.sleep(step)


try:
    chromium = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
         "--user-data-dir=" + profile, "--window-size=1280,640", "about:blank"],
        stdout=log, stderr=log)
    # Chromium writes the port it picked into the profile folder.
    port = None
    for _ in deadline_loop(30):
        try:
            port = int(open(os.path.join(profile, "DevToolsActivePort")).readline())
            break
        except (OSError, ValueError):
            pass
    if port is None:
        raise RuntimeError("chromium did not open its DevTools port within 30 s")
    page = None
    for _ in deadline_loop(10):
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5))
        page = next((t for t in targets if t.get("type") == "page"), None)
        if page:
            break
    if page is None:
        raise RuntimeError("no page target in chromium")
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=15, suppress_origin=True)
    next_id = [0]

    def call(method, **params):
        next_id[0] += 1
        ws.send(json.dumps({"id": next_id[0], "method": method, "params": params}))
        while True:  # bounded by the socket's timeout
            message = json.loads(ws.recv())
            if message.get("id") == next_id[0]:
                if "error" in message:
                    raise RuntimeError("%s: %s" % (method, message["error"]))
                return message.get("result", {})

    def evaluate(expression):
        return call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    rows_js = """JSON.stringify([...document.querySelectorAll('#machines tr')].map(tr => ({
        mac: tr.dataset.mac, stage: tr.dataset.stage, result: tr.dataset.result,
        failed: tr.classList.contains('failed'), stalled: tr.classList.contains('stalled'), text: tr.innerText })))"""

    def rows():
        return json.loads(evaluate(rows_js) or "[]")

    def screenshot(name):
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
        return path

    call("Page.enable")
    call("Runtime.enable")
    call("Page.navigate", url=base + "/")
    for _ in deadline_loop(15):
        if evaluate("document.readyState") == "complete" and rows():
            break
    result["header"] = evaluate("[...document.querySelectorAll('thead th')].map(th => th.textContent)")
    result["live"] = evaluate("document.getElementById('live').textContent")
    result["before"] = rows()
    result["screenshots"] = [screenshot("bench-page.png")]
    # Survives only if the page is never reloaded or navigated away.
    evaluate("window.benchMarker = 'same page'; 'set'")

    status = urllib.request.urlopen(base + event_path, timeout=10).status
    result["new_event_status"] = status
    appeared_after = None
    start = time.monotonic()
    for _ in deadline_loop(10):
        if any(r["mac"] == new_mac for r in rows()):
            appeared_after = time.monotonic() - start
            break
    result["appeared_after_seconds"] = appeared_after
    result["after"] = rows()
    result["marker"] = evaluate("window.benchMarker || null")
    result["screenshots"].append(screenshot("bench-page-after.png"))

    if len(sys.argv) > 6:
        admin_token, rearm_mac = sys.argv[5:7]
        click_js = """(() => { const b = document.querySelector('#machines tr[data-mac="%s"] button.rearm');
            if (!b) return false; b.click(); return true; })()""" % rearm_mac
        notice_js = "(() => { const n = document.getElementById('notice'); return n.hidden ? null : n.textContent; })()"

        def rearm_with(token, expect):
            evaluate("document.getElementById('notice').hidden = true; 'cleared'")
            clicked = False
            for _ in deadline_loop(10):
                clicked = evaluate(click_js)
                if clicked:
                    break
            if not clicked:
                return None
            for _ in deadline_loop(10):
                if evaluate("document.getElementById('token-dialog').open"):
                    break
            evaluate("document.getElementById('admin-token').value = %s; document.getElementById('token-ok').click(); 'sent'"
                     % json.dumps(token))
            for _ in deadline_loop(10):
                text = evaluate(notice_js)
                if text and expect in text:
                    return text
            return evaluate(notice_js)

        result["rearm_wrong_notice"] = rearm_with("0" * 64, "refusé")
        result["rearm_kept_after_wrong"] = evaluate("sessionStorage.getItem('garage-pxe-admin-token')")
        result["rearm_notice"] = rearm_with(admin_token, "réarmé")
        result["rearm_kept"] = evaluate("sessionStorage.getItem('garage-pxe-admin-token') === %s" % json.dumps(admin_token))
    try:
        call("Browser.close")
    except Exception:
        pass
    ws.close()
except Exception as error:  # reported in the JSON; the Swift test fails on it
    result["error"] = "%s: %s" % (type(error).__name__, error)
finally:
    if chromium is not None:
        if result["error"]:
            chromium.terminate()  # Browser.close was never sent
        try:
            chromium.wait(timeout=5)
        except subprocess.TimeoutExpired:
            chromium.send_signal(signal.SIGKILL)
            chromium.wait(timeout=5)
    log.close()

with open(os.path.join(out_dir, "result.json"), "w") as f:
    json.dump(result, f, ensure_ascii=False, indent=1)
print(json.dumps(result))
