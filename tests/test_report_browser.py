"""The report page in a real browser (Debian ``chromium``, headless, 1400 px wide): it renders,
no table is wider than the page (with every folded section opened), every image loads, nothing
scrolls sideways, no number in the decision table wraps, and the page opens short (the secondary
sections folded). Slow: it reads the session's small report (tests/conftest.py)."""

import json
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

WIDTH = 1400
# appended to a copy of the page: measures the laid-out page and writes the result into the DOM,
# which --dump-dom prints
PROBE = """<script>
window.addEventListener('load', () => {
  const folded_height = document.documentElement.scrollHeight;
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  // a number cell whose text lies on more than one line has wrapped
  const lines = td => { const r = document.createRange(); r.selectNodeContents(td);
    return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; };
  const wrapped = [...document.querySelectorAll('#decision td.num')].filter(td => lines(td) > 1)
    .map(td => td.innerText);
  const wide = [...document.querySelectorAll('table')]
    .filter(t => t.getBoundingClientRect().right > %d).map(t => t.id || t.rows[0].innerText.slice(0, 40));
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({tables: document.querySelectorAll('table').length,
    images: document.images.length, wide, broken, scroll_width: document.documentElement.scrollWidth,
    folded_height, open_height: document.documentElement.scrollHeight, wrapped,
    verdict: (document.querySelector('.verdict') || {}).className});
  document.body.appendChild(out);
});
</script>""" % WIDTH


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    return path


def test_the_page_renders_at_1400_px(small_report, tmp_path):
    browser = _chromium()
    folder, code = small_report
    assert code == 0
    page = folder / "index.html"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},1000",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180)
    dom = result.stdout
    assert "id=\"probe\"" in dom, result.stderr[-2000:]
    found = json.loads(dom.split("id=\"probe\">")[1].split("</pre>")[0].replace("&quot;", '"'))
    assert found["tables"] >= 5 and found["images"] == 5
    assert found["broken"] == [], found
    assert found["wide"] == [], found
    assert found["scroll_width"] <= WIDTH, found
    assert found["verdict"] == "verdict PASS"
    assert found["wrapped"] == [], found
    # folded, the page is the first screen's sections and the section titles: far shorter than
    # the whole page (15,682 px before the sections were folded, at 37 designs)
    assert found["folded_height"] < found["open_height"] / 2, found
