"""Browser test of the reports of the demo run: headless Chromium opens the MultiQC report (and
Snakemake's own --report), checks that it loads without JavaScript errors and that every section
the run should have is present and rendered (and that sections of stages that did not run are
absent), that it gives a reader what they need (AUCs with at least 2 decimals, the "what this run
says" summary, a legend or labelled series on every plot), and saves screenshots of the top of the
page and of the diversity, guilds, TOPOSCORE and signatures sections into a temporary artifacts
folder ($ICIBIOME_ARTIFACTS, else pytest's tmp dir; the path is printed). Nothing is written into
the checkout: the Snakemake --report page goes to a tmp path too.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (NUL-separated
JSON on file descriptors 3 and 4), so no websocket client or other Python package is needed. It is
started with ``--headless --no-sandbox --disable-gpu`` and background networking off.

Where Chromium is missing, the test installs the Debian package ``chromium`` with apt-get when
it runs as root and ``CI`` or ``ICIBIOME_BROWSER_INSTALL=1`` is set; otherwise it skips with the
reason. ``ICIBIOME_REPORT_RUN=<workdir>`` points the test at an existing run instead of the
session's basic run (for checking a report quickly).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake

from icibiome.io import read_abundance
from icibiome.report.build import has_data

pytestmark = pytest.mark.e2e

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--remote-debugging-pipe",
    "--enable-logging=stderr",
    "--v=0",
    # no background networking of any kind: the reports must work offline
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
)


# ------------------------------------------------------------------------------ Chromium
def _find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = _find_chromium()
    if exe:
        return exe
    if not (os.environ.get("CI") or os.environ.get("ICIBIOME_BROWSER_INSTALL") == "1"):
        pytest.skip(
            "Chromium is not installed (apt-get install chromium); set CI=1 or "
            "ICIBIOME_BROWSER_INSTALL=1 to let this test install it as root"
        )
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Chromium is not installed and cannot be: apt-get needs root on Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    if proc.returncode != 0:
        subprocess.run(
            ["apt-get", "update"], capture_output=True, env=env, timeout=600, check=False
        )
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=900, check=False
        )
    exe = _find_chromium()
    if exe is None:
        pytest.skip(f"apt-get install chromium failed ({proc.returncode}): {proc.stderr[-500:]}")
    return exe


class DevTools:
    """A headless Chromium driven over the DevTools protocol on a pipe (fd 3 in, fd 4 out)."""

    def __init__(self, exe: str, log_path: Path, width: int = 1400, height: int = 1000):
        self._profile = tempfile.mkdtemp(prefix="icibiome-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        res_r, res_w = os.pipe()  # Chromium writes replies and events on fd 4
        # move the child's ends above 9 so that dup2 onto 3/4 can never clobber one of them
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(res_w)

        def _child_fds():
            os.dup2(child_r, 3)  # dup2 leaves the copies inheritable
            os.dup2(child_w, 4)

        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in close()
        args = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
        ]
        self.proc = subprocess.Popen(
            [*args, "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_fds,  # noqa: PLW1509 - single-threaded at this point
            close_fds=False,  # fds 3 and 4 must survive; Python's other fds are close-on-exec
        )
        os.close(child_r)
        os.close(child_w)
        self._w = cmd_w
        self._r = res_r
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.width, self.height = width, height

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cv:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cv.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout=60):
        self._next_id += 1
        mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no reply to {method} (chromium rc={self.proc.poll()})")
                self._cv.wait(min(left, 1.0))
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout=60) -> dict:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events:
                    if ev.get("method") == method:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} event within {timeout} s")
                self._cv.wait(min(left, 1.0))

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)


def _js_errors(events: list[dict]) -> list[str]:
    """Uncaught exceptions, console.error/assert calls and error-level log entries."""
    errors = []
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            desc = d.get("exception", {}).get("description") or d.get("text")
            errors.append(f"uncaught: {desc} at {d.get('url', '')}:{d.get('lineNumber')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
            )
            errors.append(f"console.{p['type']}: {args}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
    return errors


def _console_errors_in_log(log_path: Path) -> list[str]:
    """Uncaught errors that Chromium's own log (--enable-logging=stderr) shows as CONSOLE lines."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [ln for ln in text.splitlines() if "CONSOLE" in ln and re.search(r"Uncaught|Error", ln)]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Folder of the screenshots and Chromium logs: $ICIBIOME_ARTIFACTS or a pytest tmp dir."""
    env = os.environ.get("ICIBIOME_ARTIFACTS")
    path = Path(env) if env else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nreport screenshots and Chromium logs: {path}")
    return path


def render(
    exe: str, html: Path, name: str, out_dir: Path, settle_s: float = 1.5, timeout: float = 120
) -> dict:
    """Open ``html`` in headless Chromium and return what the page did.

    Returns a dict with ``errors`` (JS errors), ``ids`` (every element id in the rendered DOM),
    ``sections`` (id -> {height, plots, tables, images} for the report's section elements),
    ``title``, ``text`` (the page's visible text), ``plots`` (per Plotly plot: its section, number
    of traces, named traces, whether a legend is shown, axis titles), ``auc_cells`` (the LOCO
    table's AUC cells as shown) and ``screenshots`` (paths under ``out_dir``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    b = DevTools(exe, out_dir / f"{name}.chromium.log")
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            b.send(method, session=sid)
        b.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": b.width, "height": b.height, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        b.send("Page.navigate", {"url": html.resolve().as_uri()}, session=sid)
        b.wait_event("Page.loadEventFired", timeout=timeout)

        def evaluate(expr: str):
            res = b.send(
                "Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sid
            )
            if "exceptionDetails" in res:
                raise RuntimeError(f"evaluate failed: {res['exceptionDetails']}")
            return res["result"].get("value")

        # wait until the number of rendered plots stops changing (plots render after load)
        count_js = "document.querySelectorAll('.js-plotly-plot, svg, canvas, img, table').length"
        last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = evaluate(count_js)
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since >= settle_s:
                break
            time.sleep(0.25)
        info = evaluate(
            """(() => {
              const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);
              const sections = {};
              for (const e of document.querySelectorAll(
                  '[id^="mqc-module-section-"], [id^="mqc-section-wrapper-"], #general_stats')) {
                const r = e.getBoundingClientRect();
                sections[e.id] = {height: r.height,
                  plots: e.querySelectorAll('.js-plotly-plot, .hc-plot, .mqc_hcplot').length,
                  tables: e.querySelectorAll('table tbody tr').length,
                  images: e.querySelectorAll('img').length};
              }
              const plots = Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => {
                const sec = e.closest('[id^="mqc-module-section-"]');
                const data = e.data || [], lay = e._fullLayout || {};
                const ax = (a) => (lay[a] && lay[a].title && lay[a].title.text) || "";
                return {id: e.id, section: sec ? sec.id : "", traces: data.length,
                        named: data.filter(d => d.name && !/^trace \\d+$/.test(d.name)).length,
                        legend: !!(lay.showlegend && e.querySelector('.legend')),
                        xtitle: ax('xaxis'), ytitle: ax('yaxis')};
              });
              const auc_cells = Array.from(document.querySelectorAll(
                  '[id^="mqc-module-section-icibiome_signatures"] table td[class*="auc"]'
                  )).map(td => td.innerText.trim()).filter(s => s);
              return {ids, sections, plots, auc_cells, title: document.title,
                      text: document.body ? document.body.innerText.slice(0, 400000) : "",
                      height: document.documentElement.scrollHeight};
            })()"""
        )
        shots = []
        png = b.send("Page.captureScreenshot", {"format": "png"}, session=sid)["data"]
        top = out_dir / f"{name}.png"
        top.write_bytes(base64.b64decode(png))
        shots.append(top)
        info["errors"] = _js_errors(b.events) + _console_errors_in_log(b.log_path)
        info["screenshots"] = shots
        info["_session"] = (b, sid)
        return info
    except BaseException:
        b.close()
        raise


def screenshot_element(info: dict, element_id: str, path: Path, max_height: int = 6000) -> Path:
    """Screenshot of one element of a page opened by :func:`render`, however deep in the page.

    The viewport is made as tall as the element (up to ``max_height``) and the page scrolled so
    that the element is at its top; the clip is in page coordinates (viewport position + scroll
    offset, as Puppeteer's element screenshots). Sections more than 16,000 px down a long
    report are reached this way (a viewport as tall as the page is not: Chromium caps it).
    """
    b, sid = info["_session"]

    def evaluate(expr):
        return b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sid)[
            "result"
        ].get("value")

    get = f"document.getElementById({json.dumps(element_id)})"
    h0 = evaluate(f"{get}.getBoundingClientRect().height")
    height = int(min(max(h0, 200), max_height)) + 20
    metrics = {"width": b.width, "deviceScaleFactor": 1, "mobile": False}
    b.send("Emulation.setDeviceMetricsOverride", {**metrics, "height": height}, session=sid)
    try:
        r = evaluate(
            f"""(() => {{ const e = {get};
                window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 10);
                return true; }})()"""
        )
        time.sleep(1.0)  # plots re-layout to the new viewport and render once scrolled to
        r = evaluate(
            f"""(() => {{ const r = {get}.getBoundingClientRect();
                return {{x: r.left + window.scrollX, y: r.top + window.scrollY,
                         w: r.width, h: r.height}}; }})()"""
        )
        clip = {"x": r["x"], "y": r["y"], "width": r["w"], "height": min(r["h"], max_height),
                "scale": 1}  # fmt: skip
        data = b.send("Page.captureScreenshot", {"format": "png", "clip": clip}, session=sid)[
            "data"
        ]
    finally:
        b.send("Emulation.setDeviceMetricsOverride", {**metrics, "height": b.height}, session=sid)
    path.write_bytes(base64.b64decode(data))
    return path


# ------------------------------------------------------------------------------ the run
@pytest.fixture(scope="module")
def report_run(request) -> Path:
    """The run whose reports are checked: $ICIBIOME_REPORT_RUN or the session's basic run."""
    override = os.environ.get("ICIBIOME_REPORT_RUN")
    if override:
        wd = Path(override)
        if not (wd / "results" / "report" / "multiqc_report.html").exists():
            pytest.skip(f"ICIBIOME_REPORT_RUN={wd} has no results/report/multiqc_report.html")
        return wd
    return request.getfixturevalue("basic_run")


def _custom_content_header(path: Path) -> dict:
    """The header of a MultiQC custom-content file: its id and plot type ({} for versions)."""
    if path.name.endswith("_mqc_versions.yaml"):
        return {}
    stem = {"id": path.stem.removesuffix("_mqc")}
    if path.suffix in (".png", ".jpg", ".jpeg", ".gif", ".webp"):
        return {**stem, "plot_type": "image"}
    text = path.read_text(errors="replace")
    if path.suffix in (".yaml", ".yml"):
        head = yaml.safe_load(text) or {}
    elif path.suffix == ".html":
        m = re.match(r"\s*<!--(.*?)-->", text, re.S)
        head = (yaml.safe_load(m.group(1)) or {}) if m else {}
    else:
        head = yaml.safe_load("\n".join(ln[1:] for ln in text.splitlines() if ln.startswith("#")))
    return {**stem, **(head if isinstance(head, dict) else {})}


def expected_sections(wd: Path) -> tuple[set[str], set[str]]:
    """Sections the report must have, and sections it must not have, from what the run produced.

    Native modules follow their tool outputs; every custom-content file with data (any
    ``results/**/*_mqc.*``) must appear under the id it declares (``generalstats`` content as
    ``gs:<id>``: columns of the general statistics table); a custom-content file without data
    (e.g. no excluded samples) must not appear at all: absent, not empty.
    """
    res = wd / "results"
    present = {"general_stats", "multiqc_software_versions", "fastp"}
    absent = set()
    native = {
        "bowtie2": "qc/host/*.bowtie2.log",
        "sylphtax": "taxonomy/sylph/profiles/*.sylphmpa",
        "kraken": "taxonomy/kraken2/profiles/*.kreport",
    }
    for module, pattern in native.items():
        (present if any(res.glob(pattern)) else absent).add(module)
    # another run nested in this one (e.g. `make validate` writes results/validation/, a whole
    # run with its own report): its files belong to its report, not to this one
    nested = [r.parent.parent for r in res.rglob("report/multiqc_report.html")]
    nested = [n for n in nested if n != res]
    for p in sorted(res.rglob("*_mqc*")):
        if p.name.startswith(".") or "multiqc_report_data" in p.parts or not p.is_file():
            continue
        if any(n in p.parents for n in nested):
            continue
        head = _custom_content_header(p)
        if not head:
            continue
        key = f"gs:{head['id']}" if head.get("plot_type") == "generalstats" else head["id"]
        (present if has_data(p) else absent).add(key)
    return present, absent


def _found(ids: set[str], section: str) -> str | None:
    if section.startswith("gs:"):
        prefix = f"header_custom_content_{section[3:]}-"
        return next((i for i in sorted(ids) if i.startswith(prefix)), None)
    for cand in (f"mqc-module-section-{section}", f"mqc-section-wrapper-{section}", section):
        if cand in ids:
            return cand
    return None


# sections a reader looks at, screenshotted when the run has them (first per profiler)
SHOT_SECTIONS = ("diversity", "guilds", "toposcore", "signatures")


@pytest.fixture(scope="module")
def multiqc_page(report_run, chromium, artifacts):
    html = report_run / "results" / "report" / "multiqc_report.html"
    info = render(chromium, html, "multiqc_report", artifacts)
    try:
        info["section_shots"] = {}
        for name in SHOT_SECTIONS:
            ids = sorted(
                i for i in info["ids"] if i.startswith(f"mqc-module-section-icibiome_{name}")
            )
            if ids:
                shot = screenshot_element(info, ids[0], artifacts / f"multiqc_report_{name}.png")
                info["screenshots"].append(shot)
                info["section_shots"][name] = shot
        print(f"\nscreenshots: {[str(s) for s in info['screenshots']]}")
        yield info
    finally:
        info["_session"][0].close()


# ------------------------------------------------------------------------------ tests
def test_multiqc_report_loads_without_js_errors(multiqc_page):
    assert multiqc_page["errors"] == [], "\n".join(multiqc_page["errors"])
    assert "icibiome" in multiqc_page["title"].lower() or "multiqc" in multiqc_page["title"].lower()
    assert multiqc_page["height"] > 2000  # a real report, not an error page


def test_multiqc_report_has_every_expected_section(multiqc_page, report_run):
    present, absent = expected_sections(report_run)
    ids = set(multiqc_page["ids"])
    missing = sorted(s for s in present if not _found(ids, s))
    assert not missing, (
        f"missing sections {missing}; report has {sorted(i for i in ids if 'section' in i)}"
    )
    unexpected = sorted(s for s in absent if _found(ids, s))
    assert not unexpected, f"sections of stages without data must be absent: {unexpected}"


def test_multiqc_sections_are_rendered_not_empty(multiqc_page, report_run):
    present, _ = expected_sections(report_run)
    ids = set(multiqc_page["ids"])
    for s in sorted(present):
        el = _found(ids, s)
        box = multiqc_page["sections"].get(el)
        if box is None:  # an anchor that is not a section element (e.g. general_stats)
            continue
        assert box["height"] > 40, (s, box)
        assert box["plots"] + box["tables"] + box["images"] > 0, (s, box)


def test_multiqc_screenshot_saved(multiqc_page):
    for shot in multiqc_page["screenshots"]:
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, shot
        # not a blank page: a rendered report has many distinct colours
        assert len(set(data[2000:60000:7])) > 50, shot


def _diversity_dirs(wd: Path) -> list[Path]:
    dirs = sorted(p.parent for p in (wd / "results" / "diversity").glob("*/permanova.tsv"))
    if not dirs:
        pytest.skip("the diversity stage did not run (rules/diversity.smk not included, or off)")
    return dirs


def test_diversity_results_match_the_demo_truth(report_run):
    """Beta diversity of the profiles reproduces the truth's between-sample structure."""
    truth_tab = report_run / "data" / "truth" / "abundance_species.tsv"
    for d in _diversity_dirs(report_run):
        profiler = d.name
        alpha = pd.read_csv(d / "alpha.tsv", sep="\t", index_col="sample_id")
        counts = read_abundance(
            report_run / "results" / "taxonomy" / profiler / "counts_species.tsv"
        )
        assert (alpha.loc[counts.index, "observed"] == (counts > 0).sum(axis=1)).all()
        assert (alpha["shannon"] > 0).all() and alpha["simpson"].between(0, 1).all()
        bc = pd.read_csv(d / "beta_braycurtis.tsv", sep="\t", index_col="sample_id")
        np.testing.assert_allclose(bc.to_numpy(), bc.to_numpy().T)
        perm = pd.read_csv(d / "permanova.tsv", sep="\t", keep_default_na=False)
        assert {("response", "cohort"), ("response", "none"), ("cohort", "none")} <= set(
            zip(perm["term"], perm["strata"], strict=True)
        )
        if truth_tab.exists():
            from icibiome.ecology.diversity import bray_curtis

            truth = read_abundance(truth_tab).loc[bc.index]
            tb = bray_curtis(truth).to_numpy()
            iu = np.triu_indices(len(tb), 1)
            r = np.corrcoef(tb[iu], bc.to_numpy()[iu])[0, 1]
            # measured on the demo (8 samples): r = 0.97 for sylph, 0.999 for kraken2 + Bracken
            # method; a profile unrelated to the truth gives r ~ 0
            assert r > 0.85, (profiler, r)


def test_snakemake_report_with_captions(report_run, chromium, artifacts, tmp_path):
    """`snakemake --report` works on the run, has the captions, and opens without JS errors."""
    # never into the run (or the checkout, with $ICIBIOME_REPORT_RUN)
    out = tmp_path / "report.html"
    # the run's own configuration (its snapshot): a `make demo` checkout ran with
    # --configfile config/config_demo.yaml, and config/config.yaml alone is the template
    snapshot = report_run / "results" / "run_info" / "config.yaml"
    extra = ["--configfile", str(snapshot)] if snapshot.exists() else []
    proc = run_snakemake(report_run, "--report", str(out), *extra, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text(errors="replace")
    assert "multiqc_report.html" in text
    if "rules/diversity.smk" in (ROOT / "Snakefile").read_text():
        # captions of the diversity outputs, with config values rendered into them
        assert "PERMANOVA (Anderson 2001)" in text and "Alpha diversity per sample" in text
        assert "pcoa.png" in text
    info = render(chromium, out, "snakemake_report", artifacts)
    try:
        assert info["errors"] == [], "\n".join(info["errors"])
        # the result categories of the rules' report() outputs are in the rendered menu
        assert "Report" in info["text"], info["text"][:2000]
        if "rules/diversity.smk" in (ROOT / "Snakefile").read_text():
            assert "Diversity" in info["text"], info["text"][:2000]
        assert info["screenshots"][0].stat().st_size > 10_000
    finally:
        info["_session"][0].close()


# ------------------------------------------------------------------------------ the reader's view
def _signatures_dirs(wd: Path) -> list[Path]:
    return sorted(p.parent for p in (wd / "results" / "signatures").glob("*/loco_auc.tsv"))


def test_auc_cells_show_at_least_two_decimals(multiqc_page, report_run):
    dirs = _signatures_dirs(report_run)
    if not dirs:
        pytest.skip("the signatures stage did not run")
    finite = any(pd.read_csv(d / "loco_auc.tsv", sep="\t")["auc"].notna().any() for d in dirs)
    cells = [c for c in multiqc_page["auc_cells"] if re.fullmatch(r"-?\d+(\.\d+)?", c)]
    if not finite:
        assert cells == []  # no AUC was estimable: no column of empty cells either
        return
    assert cells, "the LOCO table shows no AUC"
    short = [c for c in cells if len(c.partition(".")[2]) < 2]
    assert not short, f"AUCs shown with fewer than 2 decimals: {short[:10]}"


def test_what_this_run_says_summary_is_shown(multiqc_page, report_run):
    if not _signatures_dirs(report_run):
        pytest.skip("the signatures stage did not run")
    text = multiqc_page["text"]
    assert "What this run says" in text
    assert re.search(r"permutation p|no permutation reference computed", text)


def test_every_plot_has_a_legend_or_labelled_series(multiqc_page):
    plots = [p for p in multiqc_page["plots"] if p["traces"]]
    assert plots, "no Plotly plot rendered"
    bad = [
        p for p in plots
        if p["traces"] > 1 and not p["legend"] and p["named"] < p["traces"]
    ]  # fmt: skip
    assert not bad, f"plots with several unlabelled series and no legend: {bad}"
    # line plots of the signatures (ROC, Kaplan-Meier) must show their legend
    sig = [p for p in plots if "icibiome_signatures" in p["section"] and p["traces"] > 1]
    for p in sig:
        assert p["legend"], f"signatures plot without a legend: {p}"


def test_section_screenshots_saved(multiqc_page, report_run):
    res = report_run / "results"
    expected = {
        "guilds": any(res.glob("guilds/*/guilds.tsv")),
        "toposcore": any(res.glob("signatures/*/toposcore.tsv")),
        "signatures": any(res.glob("signatures/*/loco_auc.tsv")),
    }
    for name, ran in expected.items():
        if not ran:
            continue
        shot = multiqc_page["section_shots"].get(name)
        assert shot is not None, f"no screenshot of the {name} section"
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, shot
        assert len(set(data[2000:40000:7])) > 20, f"blank screenshot: {shot}"


def test_expected_sections_ignore_a_nested_run(tmp_path):
    """`make validate` writes a whole run into results/validation/: its sections are not ours."""
    res = tmp_path / "results"
    own = res / "signatures" / "sylph" / "signatures_meta_mqc.tsv"
    nested = res / "validation" / "results" / "signatures" / "imported" / "signatures_meta_mqc.tsv"
    for p, ident in ((own, "icibiome_signatures_meta_sylph"), (nested, "icibiome_x_imported")):
        p.parent.mkdir(parents=True)
        p.write_text(f"# id: {ident}\n# plot_type: table\nSample\tv\nS1\t1\n")
    (res / "validation" / "results" / "report").mkdir(parents=True)
    (res / "validation" / "results" / "report" / "multiqc_report.html").write_text("<html/>")
    present, absent = expected_sections(tmp_path)
    assert "icibiome_signatures_meta_sylph" in present
    assert "icibiome_x_imported" not in present | absent
