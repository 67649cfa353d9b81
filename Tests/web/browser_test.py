"""The approver's web app in a real browser (Debian's Chromium through Playwright).

Usage: python3 browser_test.py COUNTERSIGN_BINARY [SCREENSHOT_DIR]

Starts `countersign serve` on a fresh data directory and a free port, with an agent, an approver
without an authenticator (bob) and one with (carol), then drives Chromium: sign-in (password, and
password then TOTP), a request appearing live in the inbox, a Medium approved, a High approved only
with the right confirmation text, a Critical approved only with step-up, a denial whose reason the
agent receives, a cross-site POST and a framed page that change nothing, keyboard shortcuts, a phone-
sized viewport, and an axe-core accessibility check with no serious or critical violations. Each step
saves a screenshot.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def totp(secret: str, offset: int = 0) -> str:
    """RFC 6238 (HMAC-SHA1, 30-second steps, six digits), `offset` steps from now."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30 + offset), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[start:start + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class Countersign:
    """A served Countersign with an agent and two approvers."""

    def __init__(self, binary: str):
        self.binary = binary
        self.data = tempfile.mkdtemp(prefix="countersign-web-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.run("users", "add", "bob@acme.test", stdin=PASSWORD + "\n")
        self.run("users", "add", "carol@acme.test", "--role", "admin", stdin=PASSWORD + "\n")
        enrolled = self.run("users", "totp", "carol@acme.test", "--no-qr")
        self.carol_secret = re.search(r"secret: ([A-Z2-7]+)", enrolled).group(1)
        self.key = re.search(r"csk_[0-9a-f_]+", self.run("agents", "create", "web-agent")).group(0)
        os.makedirs(f"{self.data}/workspace/build", exist_ok=True)
        with open(f"{self.data}/workspace/build/out.txt", "w") as f:
            f.write("x")
        self.log = open(f"{self.data}/serve.log", "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--port", str(self.port)], stdout=self.log, stderr=self.log
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.url}/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("countersign serve did not start")

    def run(self, *arguments: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [self.binary, *arguments, "--data", self.data], input=stdin, capture_output=True, text=True, check=True
        )
        return done.stdout

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            return json.load(error)

    def propose(self, operation: str, arguments: dict, reason: str | None = None) -> dict:
        body = {"operation": operation, "arguments": arguments, "onBehalfOf": "ana@acme.test"}
        if reason:
            body["reason"] = reason
        return self.api("POST", "/v1/actions", body)

    def state(self, request_id: str, until: str | None = None) -> dict:
        for _ in range(50):
            request = self.api("GET", f"/v1/actions/{request_id}?wait=1")
            if until is None or request["state"] == until:
                return request
        return request

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


class CrossSite:
    """Another origin: a page that posts to Countersign and one that frames it."""

    def __init__(self, target: str, request_id: str):
        pages = {
            "/post": f"""<!doctype html><html><body><form id="f" method="post" action="{target}/approvals/{request_id}/approve">
                <input name="digest" value="x"><input name="csrf" value="guess"></form>
                <script>document.getElementById('f').submit()</script></body></html>""",
            "/frame": f"""<!doctype html><html><body><h1>Win a prize</h1>
                <iframe id="victim" src="{target}/approvals/{request_id}" width="800" height="600"></iframe></body></html>""",
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                page = pages.get(self.path, "").encode()
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        # Another site: localhost (not 127.0.0.1) on another port.
        self.url = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main(binary: str, shots: str) -> None:
    os.makedirs(shots, exist_ok=True)
    app = Countersign(binary)
    axe = Axe()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
            page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            page.on("dialog", lambda dialog: dialog.accept())

            def shot(name: str, target=None):
                (target or page).screenshot(path=f"{shots}/{name}.png", full_page=True)

            def accessible(name: str):
                serious = [v for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
                assert not serious, f"{name}: " + "; ".join(f"{v['id']}: {v['help']}" for v in serious)

            # Sign-in: a wrong password is refused; the right one opens the inbox.
            page.goto(f"{app.url}/inbox")
            expect(page).to_have_url(re.compile(r"/sign-in\?next="))
            accessible("sign-in")
            page.fill("#email", "bob@acme.test")
            page.fill("#password", "wrong password entirely")
            page.click("button[type=submit]")
            expect(page.locator("[role=alert]")).to_contain_text("do not match")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{app.url}/inbox")
            expect(page.locator("h1")).to_have_text("Waiting for a decision")
            cookies = {c["name"]: c for c in page.context.cookies()}
            session = cookies["__Host-countersign"]
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict", session
            print("web: sign-in with a password: OK")

            # A new request appears live, without a reload.
            medium = app.propose("files.write", {"path": "notes/plan.md", "content": "hello <b>world</b>"},
                                 reason="<script>alert('the agent')</script> wants this")
            row = page.locator(f"tr[data-id='{medium['id']}']")
            expect(row).to_be_visible(timeout=10_000)
            expect(row.locator(".badge")).to_have_text("Medium")
            # A fuller inbox for the screenshot: these two stay pending.
            app.propose("shell.run", {"program": "make", "arguments": ["release"]})
            app.propose("files.delete", {"paths": ["notes/old"], "recursive": True})
            expect(page.locator("#rows tr")).to_have_count(3, timeout=10_000)
            shot("inbox")
            accessible("inbox")
            print("web: a new request appeared live in the inbox: OK")

            # The request page: payload, impact, the agent's words marked as such; approve a Medium.
            row.locator("a").click()
            expect(page.locator("h1")).to_contain_text("files.write")
            expect(page.locator(".impact")).to_contain_text("notes/plan.md")
            expect(page.locator(".agent-words blockquote")).to_have_text("<script>alert('the agent')</script> wants this")
            expect(page.locator(".payload").first).to_contain_text('"content": "hello <b>world</b>"')
            expect(page.locator(".digest code")).to_have_text(medium["digest"])
            accessible("request")
            shot("medium-request")
            page.keyboard.press("d")
            expect(page.locator("#reason")).to_be_focused()
            page.locator("#reason").blur()
            page.click("#approve")
            expect(page.locator(".state-line")).not_to_contain_text("waiting for a decision")
            assert app.state(medium["id"], "executed")["state"] == "executed"
            print("web: a Medium approved; the agent's action ran: OK")

            # High: only the right confirmation text approves.
            high = app.propose("files.delete", {"paths": ["build"], "recursive": True})
            page.goto(f"{app.url}/approvals/{high['id']}")
            page.fill("#confirm", "buil")
            page.click("#approve")
            expect(page.locator("[role=alert]")).to_contain_text("confirmation text does not match")
            assert app.state(high["id"])["state"] == "pending"
            shot("high-wrong-confirmation")
            page.fill("#confirm", "build")
            page.click("#approve")
            expect(page.locator(".state-line")).not_to_contain_text("waiting for a decision")
            assert app.state(high["id"], "executed")["state"] == "executed"
            print("web: a High approved only with the right confirmation text: OK")

            # Edit before approving: the diff is shown, and the agent receives the edited result.
            draft = app.propose("files.write", {"path": "notes/draft.md", "content": "first draft"})
            page.goto(f"{app.url}/approvals/{draft['id']}")
            page.click("#edit-details summary")
            page.fill("#arguments", '{"path": "notes/final.md", "content": "final text"}')
            page.click("#save-edit")
            expect(page.locator(".edited h2")).to_have_text("Edited by bob@acme.test")
            expect(page.locator(".diff tbody tr")).to_have_count(2)
            expect(page.locator(".diff")).to_contain_text('"first draft"')
            expect(page.locator(".impact")).to_contain_text("notes/final.md")
            shot("edited-request")
            page.click("#edit-details summary")
            page.fill("#arguments", '{"path": "notes/final.md", "content": 42}')
            page.click("#save-edit")
            expect(page.locator("[role=alert]")).to_contain_text("not accepted")
            page.goto(f"{app.url}/approvals/{draft['id']}")
            page.click("#approve")
            expect(page.locator(".state-line")).not_to_contain_text("waiting for a decision")
            seen = app.state(draft["id"], "executed")
            assert seen["state"] == "executed" and seen["arguments"]["path"] == "notes/final.md", seen
            assert seen["edited"]["changed"] == ["/content", "/path"], seen["edited"]
            assert os.path.exists(f"{app.data}/workspace/notes/final.md")
            assert not os.path.exists(f"{app.data}/workspace/notes/draft.md")
            print("web: an edit before approval showed its diff; the agent got the edited result: OK")

            # Deny with a reason: the agent receives it.
            denied = app.propose("files.write", {"path": "notes/other.md", "content": "x"})
            page.goto(f"{app.url}/approvals/{denied['id']}")
            page.fill("#reason", "not this week")
            page.click("#deny")
            expect(page.locator(".state-line")).to_contain_text("denied")
            seen = app.state(denied["id"], "denied")
            assert seen["state"] == "denied" and "not this week" in seen["failure"], seen
            print("web: a denial's reason reached the agent: OK")

            # Cross-site: a forged POST and a framed page change nothing.
            target = app.propose("files.write", {"path": "notes/target.md", "content": "x"})
            other = CrossSite(app.url, target["id"])
            attacker = browser.new_context().new_page() if False else page.context.new_page()
            attacker.goto(f"{other.url}/post")
            attacker.wait_for_load_state()
            time.sleep(0.5)
            shot("cross-site-post", attacker)
            attacker.goto(f"{other.url}/frame")
            attacker.wait_for_load_state()
            time.sleep(0.5)
            framed = [f for f in attacker.frames if f.url.startswith(app.url)]
            assert not framed or framed[0].locator("#approve").count() == 0, "the approval page rendered in a frame"
            shot("framed", attacker)
            attacker.close()
            assert app.state(target["id"])["state"] == "pending"
            print("web: a cross-site POST and a framed page changed nothing: OK")

            # Sign out; carol signs in with password then TOTP.
            page.click(".signout button")
            expect(page).to_have_url(re.compile(r"/sign-in"))
            page.goto(f"{app.url}/sign-in")
            page.fill("#email", "carol@acme.test")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Your authenticator code")
            page.fill("#code", totp(app.carol_secret))
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{app.url}/inbox")
            print("web: sign-in with a password then an authenticator code: OK")

            # Critical: refused without step-up, approved with a fresh code.
            critical = app.propose("shell.run", {"program": "ls", "arguments": ["-la"]})
            page.goto(f"{app.url}/approvals/{critical['id']}")
            expect(page.locator("h1 .badge")).to_have_text("Critical")
            shot("critical-request")
            page.evaluate("document.getElementById('otp').remove()")
            page.click("#approve")
            expect(page.locator("[role=alert]")).to_contain_text("step-up")
            assert app.state(critical["id"])["state"] == "pending"
            # The code used at sign-in cannot be used again; the next step's code is fresh.
            page.fill("#otp", totp(app.carol_secret, offset=1))
            page.click("#approve")
            expect(page.locator(".state-line")).not_to_contain_text("waiting for a decision")
            executed = app.state(critical["id"], "executed")
            assert executed["state"] == "executed", executed
            print("web: a Critical approved only with step-up: OK")

            # Agents (carol is an admin): a key is shown once; the audit log verifies.
            page.goto(f"{app.url}/agents")
            page.fill("#agent-name", "browser-bot")
            page.click("text=Create and show its key")
            key = page.locator("#new-key").inner_text()
            assert re.fullmatch(r"csk_[0-9a-f_]+", key), key
            accessible("agents")
            page.goto(f"{app.url}/agents")
            assert key not in page.content()
            page.goto(f"{app.url}/connections")
            expect(page.locator("h1")).to_have_text("Connected accounts")
            accessible("connections")
            page.goto(f"{app.url}/audit?request={critical['id']}")
            expect(page.locator("[role=status]")).to_contain_text("Intact")
            expect(page.locator("table.audit")).to_contain_text("action.approved")
            accessible("audit")
            shot("audit")
            assert key not in page.content()
            print("web: agents (key shown once), accounts and the verified audit log: OK")

            # A run: its plan with each step's risk; its Medium steps approved together, the Critical not.
            run = app.api("POST", "/v1/runs", {
                "goal": "Write the two release notes, then clean the build",
                "onBehalfOf": "ana@acme.test",
                "plan": [
                    {"operation": "files.write", "arguments": {"path": "notes/one.md", "content": "1"},
                     "rationale": "Write the first note"},
                    {"operation": "files.write", "arguments": {"path": "notes/two.md", "content": "2"},
                     "rationale": "Write the second note"},
                    {"operation": "shell.run", "arguments": {"program": "make", "arguments": ["clean"]},
                     "rationale": "Clean the build"},
                ],
            })
            assert run["state"] == "running", run
            page.goto(f"{app.url}/runs")
            page.click(f"a[href='/runs/{run['id']}']")
            expect(page.locator("h1")).to_have_text("Write the two release notes, then clean the build")
            expect(page.locator("tr[data-step='2'] .badge")).to_have_text("Critical")
            expect(page.locator("tr[data-step='2']")).to_contain_text("Decide on its page")
            expect(page.locator("input[type=checkbox]")).to_have_count(2)
            accessible("run")
            shot("run")
            page.click("text=Approve the ticked Low and Medium steps")
            expect(page.locator("[role=alert]")).to_contain_text("Approved steps 0, 1.")
            steps = run["steps"]
            assert app.state(steps[0]["requestID"], "executed")["state"] == "executed"
            assert app.state(steps[1]["requestID"], "executed")["state"] == "executed"
            assert app.state(steps[2]["requestID"])["state"] == "pending"
            print("web: a run's Medium steps approved together, the Critical one left to its page: OK")

            # History, and a phone-sized screen.
            page.goto(f"{app.url}/history")
            expect(page.locator("tbody tr")).not_to_have_count(0)
            accessible("history")
            phone = browser.new_context(viewport={"width": 360, "height": 780}, storage_state=page.context.storage_state()).new_page()
            phone.goto(f"{app.url}/approvals/{target['id']}")
            expect(phone.locator("#approve")).to_be_visible()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"the request page is {width} px wide on a 360 px screen"
            shot("phone-request", phone)
            print("web: readable at 360 px: OK")
            browser.close()
    finally:
        app.stop()
    with open(f"{app.data}/serve.log") as f:
        log = f.read()
    assert app.key not in log and PASSWORD not in log, "a secret appeared in the server log"
    print("web: browser tests passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ".build/browser-screenshots")
