#!/usr/bin/env python3
"""The partner portal in a real browser (Debian's headless Chromium, driven by Selenium).

Starts `pactwatch serve` on a fresh SQLite store with the shipped example rules and demo items,
creates a partner token and a finance token with `pactwatch token create`, then signs in through
the login form as a user does. Checks that the partner's scorecard shows its KPIs, the trend
charts and its statement; that no other partner's name or id appears anywhere in the page; that
another partner's scorecard answers "not found"; that the page fits a phone's width; that
finance sees every partner and the report; and that contoso-eu's partner, to whom the brand
proposed contoso-resale v1 (as `make demo` does), finds the proposal in its contracts, reviews its
comparison and thread and approves it through the form; and that northwind's partner, whose
contract (here) allows disputes, disputes an evidence item through its form, finds it open on the
disputes page, and sees it accepted once the brand accepts it from the command line; then accepts a
correction the brand declared from the command line, through its form. Screenshots
of the scorecard (laptop and phone), the report, the proposal and the disputes page are written
to the output directory.

usage: portal_test.py PACTWATCH_BINARY SOURCE_DIR OUTPUT_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

OTHERS = ["contoso", "Contoso", "fabrikam", "Fabrikam", "tailspin", "Tailspin"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, config, *args):
    out = subprocess.run([binary, "--config", config, "--log-level", "warn", *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SystemExit(f"pactwatch {' '.join(args)} failed: {out.stderr}")
    return out.stdout.strip()


def browser(width, height):
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def sign_in(driver, base, token):
    driver.get(base + "/portal/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "/portal/login" not in d.current_url)


def main(binary, source, outdir):
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pactwatch-portal-")
    port = free_port()
    config = os.path.join(work, "pactwatch.yaml")
    # The examples, with dispute terms in northwind-support v3: a window long enough for October
    # to stay disputable whenever the test runs, and the file's approvals re-signed over the new
    # content hash (what both parties would approve), so that adopting them enforces it.
    rules = os.path.join(work, "rules")
    shutil.copytree(os.path.join(source, "rules", "examples"), rules)
    v3 = os.path.join(rules, "contracts", "northwind-support-v3.yaml")
    with open(v3) as f:
        text = f.read()
    with open(v3, "w") as f:
        f.write(text + "disputes: {window: 365d, categories: [misattributed, customer_caused, data_error]}\n")
    with open(config, "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\ndatabase:\n  url: sqlite://{work}/p.db\nrules_dir: {rules}\n"
                "evaluation:\n  full_interval: 1h\n")
    digest = run(binary, config, "contract", "hash", v3).split()[0]
    with open(v3, "w") as f:
        f.write(re.sub(r"sha256: [0-9a-f]{64}", "sha256: " + digest, text) +
                "disputes: {window: 365d, categories: [misattributed, customer_caused, data_error]}\n")
    for kind in ("tickets", "deals", "surveys", "events"):
        run(binary, config, "import", kind, f"{source}/demo/items/{kind}.ndjson")
    # The examples' approvals recorded once (only recorded approvals enforce).
    run(binary, config, "contract", "adopt", "--all", "--vouched-by", "portal-test")
    # contoso-resale v1 proposed to its partner, for review in the portal (as `make demo` does).
    if '"state": "draft"' in run(binary, config, "contract", "status", "contoso-resale", "--format", "json"):
        run(binary, config, "contract", "propose", "contoso-resale", "1", "--by", "portal-test@brand.example",
            "--comment", "first resale terms for review")
    partner = run(binary, config, "token", "create", "--role", "partner", "--partner", "northwind")
    reseller = run(binary, config, "token", "create", "--role", "partner", "--partner", "contoso-eu")
    finance = run(binary, config, "token", "create", "--role", "finance")
    server = subprocess.Popen([binary, "--config", config, "serve"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        driver = browser(1280, 900)
        sign_in(driver, base, partner)
        check(driver.current_url.endswith("/portal/partners/northwind"), f"a partner lands on its scorecard ({driver.current_url})")
        driver.get(base + "/portal/partners/northwind?period=2026-10")
        html = driver.page_source
        check("Northwind Support Ltd" in html, "the scorecard names the partner")
        check("p1_first_reply" in html and "66.67%" in html, "KPIs show with their values")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg.trend")) >= 5, "trend charts are drawn as inline SVG")
        check(len(driver.find_elements(By.CSS_SELECTOR, ".badge")) >= 5, "each rule has a status badge")
        check("42000.00" in html, "the partner's own statement shows")
        check(len(driver.find_elements(By.CSS_SELECTOR, "nav.periods a")) >= 2, "past periods are a click away")
        for other in OTHERS:
            check(other not in html, f"no trace of another partner ({other}) in the page")
        driver.save_screenshot(os.path.join(outdir, "portal-scorecard.png"))
        driver.get(base + "/portal/partners/contoso-eu")
        check("Not found" in driver.page_source, "another partner's scorecard is not found")
        driver.get(base + "/portal/report?period=2026-10")
        check("Forbidden" in driver.page_source, "a partner cannot open the finance report")
        # Evidence drill-down from the scorecard link.
        driver.get(base + "/portal/partners/northwind?period=2026-10")
        driver.find_element(By.PARTIAL_LINK_TEXT, "Evidence (1)").click()
        check("northwind-N2" in driver.page_source, "the evidence page lists the failing ticket")

        # A dispute of that ticket through its form: the version's categories only, a reason with
        # markup in it (shown as text), then listed as open on the disputes page.
        row = driver.find_element(By.XPATH, "//tr[td[contains(., 'northwind-N2')]]")
        row.find_element(By.CSS_SELECTOR, "details.dispute summary").click()
        options = [o.get_attribute("value") for o in row.find_elements(By.CSS_SELECTOR, "select[name=category] option")]
        check(options == ["misattributed", "customer_caused", "data_error"], f"the form offers the version's categories ({options})")
        row.find_element(By.CSS_SELECTOR, "select[name=category] option[value=customer_caused]").click()
        row.find_element(By.CSS_SELECTOR, "textarea[name=reason]").send_keys("the customer asked us to <b>wait</b>")
        row.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: "/portal/disputes" in d.current_url)
        card = driver.find_element(By.CSS_SELECTOR, "section[id^=dispute-]")
        check(card.find_element(By.CSS_SELECTOR, "h2 .badge").text == "open", "the new dispute is listed as open")
        check("the customer asked us to <b>wait</b>" in card.text, "the reason shows as the partner typed it, as text")
        check(len(driver.find_elements(By.XPATH, "//form[input[@name='act' and @value='withdraw']]")) == 1, "the partner may withdraw it")
        check(not driver.find_elements(By.XPATH, "//form[input[@name='act' and @value='accept']]"), "the partner may not accept it")
        driver.save_screenshot(os.path.join(outdir, "portal-disputes.png"))
        # The brand accepts it from the command line; the partner's page shows it accepted.
        disputes = json.loads(run(binary, config, "dispute", "list", "--partner", "northwind", "--json"))
        check(len(disputes) == 1 and disputes[0]["state"] == "open", "the command line lists the open dispute")
        run(binary, config, "dispute", "accept", str(disputes[0]["id"]), "--comment", "the ticket log agrees")
        driver.get(base + "/portal/disputes")
        state = driver.find_element(By.CSS_SELECTOR, "section[id^=dispute-] h2 .badge").text
        check(state == "accepted", f"after the brand accepts it, the partner's page shows it accepted ({state})")
        check("the ticket log agrees" in driver.page_source, "the brand's comment is in the thread")
        # The brand declares a correction (an outage of its own) from the command line; the partner
        # finds it on the same page and accepts it through its form.
        run(binary, config, "correction", "declare", "--partner", "northwind", "--contract", "northwind-support",
            "--version", "3", "--rules", "p1_first_reply", "--from", "2026-10-14T11:00:00Z", "--until", "2026-10-14T15:30:00Z",
            "--category", "force_majeure", "--reason", "brand platform <b>outage</b>")
        driver.get(base + "/portal/disputes")
        card = driver.find_element(By.CSS_SELECTOR, "section[id^=correction-]")
        check(card.find_element(By.CSS_SELECTOR, "h2 .badge").text == "open", "the correction awaits the partner")
        check("brand platform <b>outage</b>" in card.text, "the brand's reason shows as text")
        accept = card.find_element(By.CSS_SELECTOR, "form[action$='/act'] input[name=act][value=accept]").find_element(By.XPATH, "..")
        accept.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: "/portal/disputes" in d.current_url)
        state = driver.find_element(By.CSS_SELECTOR, "section[id^=correction-] h2 .badge").text
        check(state == "accepted", f"the partner accepted the correction ({state})")
        corrections = json.loads(run(binary, config, "correction", "list", "--partner", "northwind", "--json"))
        check(len(corrections) == 1 and corrections[0]["state"] == "accepted", "the command line sees it accepted")
        driver.quit()

        # A phone: nothing wider than the screen.
        driver = browser(390, 844)
        sign_in(driver, base, partner)
        driver.get(base + "/portal/partners/northwind?period=2026-10")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 1, f"the scorecard fits a phone's width (overflow {overflow} px)")
        driver.save_screenshot(os.path.join(outdir, "portal-scorecard-phone.png"))
        driver.quit()

        # Finance: every partner and the report.
        driver = browser(1280, 900)
        sign_in(driver, base, finance)
        html = driver.page_source
        check(all(n in html for n in ("Northwind", "Contoso", "Fabrikam", "Tailspin")), "finance sees every partner")
        driver.get(base + "/portal/report?period=2026-10")
        html = driver.page_source
        check("132000.00" in html and "Download CSV" in html, "finance sees the period report with totals and the CSV link")
        driver.save_screenshot(os.path.join(outdir, "portal-report.png"))
        driver.quit()

        # A proposal under review: the partner finds it among its contracts, reads what it changes
        # and the thread, and approves the content shown.
        driver = browser(1280, 900)
        sign_in(driver, base, reseller)
        driver.find_element(By.LINK_TEXT, "Contracts").click()
        html = driver.page_source
        check("Awaits your review" in html, "the partner's contracts show the proposal waiting for it")
        driver.find_element(By.LINK_TEXT, "v1").click()
        check(driver.current_url.endswith("/portal/contracts/contoso-resale/versions/1"), f"the proposal page opens ({driver.current_url})")
        html = driver.page_source
        check(len(driver.find_elements(By.CSS_SELECTOR, "table.comparison tbody th[scope=rowgroup]")) >= 1,
              "the comparison groups the terms by rule")
        check("win_rate" in html, "the comparison names the proposal's KPIs")
        check("first resale terms for review" in html, "the thread shows the brand's proposal")
        for other in ("northwind", "Northwind", "fabrikam", "Fabrikam", "tailspin", "Tailspin"):
            check(other not in html, f"no trace of another partner ({other}) on the proposal")
        driver.save_screenshot(os.path.join(outdir, "portal-proposal.png"))
        approve = driver.find_element(By.XPATH, "//form[input[@name='act' and @value='approve']]//button")
        approve.click()
        WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.XPATH, "//form[input[@name='act' and @value='approve']]"))
        state = driver.find_element(By.CSS_SELECTOR, "h1 .badge").text
        check(state in ("approved", "approved by partner"), f"after approving, the page shows the new state ({state})")
        check(len(driver.find_elements(By.XPATH, "//table//td[normalize-space()='approve']")) >= 1, "the approval is in the thread")
        driver.quit()

        # The proposal on a phone: nothing wider than the screen.
        driver = browser(390, 844)
        sign_in(driver, base, reseller)
        driver.get(base + "/portal/contracts/contoso-resale/versions/1")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 1, f"the proposal page fits a phone's width (overflow {overflow} px)")
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s); screenshots in {outdir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
