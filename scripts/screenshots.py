"""Take Chromium screenshots of vulndesk's main pages, to look at them.

Usage: python scripts/screenshots.py BASE_URL EMAIL PASSWORD [OUT_DIR]
Needs a running server (vulndesk serve --demo) and Debian's chromium at /usr/bin/chromium.
Submits one report through the public form, then visits the staff pages.
"""

import base64
import sys
from pathlib import Path

from django_otp.oath import totp
from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[1] in {"-h", "--help"}:
        print(__doc__)
        raise SystemExit(0 if len(sys.argv) > 1 and sys.argv[1] in {"-h", "--help"} else 2)
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    out = Path(sys.argv[4] if len(sys.argv) > 4 else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/p/demo/demo-app/report/")
        page.screenshot(path=out / "01-report-form.png", full_page=True)
        page.get_by_label("Summary").fill("Stored XSS in comment preview <script>alert(1)</script>")
        page.get_by_label("Affected version").fill("1.4.2")
        page.get_by_label("What did you find?").fill("The preview renders <img src=x onerror=alert(1)> unescaped.")
        page.get_by_label("Steps to reproduce").fill("1. Open a post\n2. Paste the payload\n3. Click preview")
        page.get_by_label("Attachments").set_input_files(
            files=[{"name": "request.txt", "mimeType": "text/plain", "buffer": b"POST /preview HTTP/1.1\n"}])
        page.get_by_role("button", name="Send report").click()
        page.wait_for_selector("text=was received")
        page.screenshot(path=out / "02-tracking-after-submit.png", full_page=True)
        page.goto(f"{base}/accounts/login/")
        page.screenshot(path=out / "03-login.png", full_page=True)
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        if page.get_by_role("heading", name="Set up two-factor authentication").count():
            page.screenshot(path=out / "03b-two-factor-setup.png", full_page=True)
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            key = base64.b32decode(secret + "=" * (-len(secret) % 8))
            page.get_by_label("Code from your app").fill(str(totp(key)).zfill(6))
            page.get_by_role("button", name="Turn on two-factor authentication").click()
            page.screenshot(path=out / "03c-recovery-codes.png", full_page=True)
            page.get_by_role("link", name="I saved them — continue").click()
        page.wait_for_selector("text=Triage queue")
        page.screenshot(path=out / "04-queue.png", full_page=True)
        page.locator("table.queue td.title a").first.click()
        page.wait_for_selector("text=Report as submitted")
        page.screenshot(path=out / "05-report.png", full_page=True)
        page.get_by_label("CVSS vector", exact=True).fill("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
        page.get_by_role("button", name="Accept", exact=True).click()
        page.wait_for_selector("text=is now accepted")
        page.get_by_role("link", name="Draft advisory").click()
        page.get_by_label("Title").fill("Stored XSS in the comment preview")
        page.get_by_role("button", name="Create draft").click()
        page.wait_for_selector("text=Affected versions")
        page.get_by_label("Summary").fill("The comment preview renders HTML from the comment body.")
        page.get_by_label("Details").fill("## Impact\n\nAn attacker can run script in a moderator's browser.\n\n"
                                         "<script>alert(1)</script> stays text. See [the fix](https://example.org/fix).")
        page.wait_for_timeout(800)
        page.screenshot(path=out / "09-advisory-editor.png", full_page=True)
        page.goto(f"{base}/o/demo/products/demo-app/")
        page.screenshot(path=out / "06-product.png", full_page=True)
        page.goto(f"{base}/o/demo/members/")
        page.screenshot(path=out / "07-members.png", full_page=True)
        page.goto(f"{base}/api/docs/")
        page.wait_for_timeout(1500)
        page.screenshot(path=out / "08-api-docs.png")
        browser.close()
    print(f"screenshots in {out}/")
    for error in errors:
        print("console error:", error)


if __name__ == "__main__":
    main()
