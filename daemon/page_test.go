package daemon

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/relay/relaytest"
)

// layoutCheck measures the page as the browser laid it out: its language,
// its h1s, anything wider than the window (boxes and lines of text), text
// smaller than 14 px, and the contrast of every text against the
// background it is drawn on (the backgrounds of its ancestors composited),
// by the WCAG formula.
const layoutCheck = `(() => {
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TITLE", "HEAD", "META", "BR"]);
  const W = window.innerWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().replace(/\s+/g, ".") : "");
  const rgba = s => { const m = /rgba?\(([^)]*)\)/.exec(s); if (!m) return null; const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (f, b) => [0, 1, 2].map(i => f[i] * f[3] + b[i] * (1 - f[3]));
  const lum = c => { const l = c.map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
  const back = e => { const chain = []; for (let x = e; x; x = x.parentElement) chain.unshift(x); let c = [255, 255, 255]; for (const x of chain) { const b = rgba(getComputedStyle(x).backgroundColor); if (b) c = over(b, c); } return c; };
  const ratio = (f, b) => { const x = lum(f), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const out = {lang: document.documentElement.lang, h1: document.querySelectorAll("h1").length, scroll: document.documentElement.scrollWidth, width: W,
    wide: [], low: [], small: [], checked: 0, minRatio: 99, styled: getComputedStyle(document.getElementById("state")).backgroundColor !== "rgba(0, 0, 0, 0)"};
  for (const e of document.body.querySelectorAll("*")) {
    if (skip.has(e.tagName)) continue;
    const cs = getComputedStyle(e);
    if (cs.display === "none" || cs.visibility === "hidden" || (e.tagName === "INPUT" && e.type === "hidden")) continue;
    const r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > W + 0.5 || r.left < -0.5)) out.wide.push(name(e) + " spans " + Math.round(r.left) + ".." + Math.round(r.right));
    const colours = [];
    const own = [...e.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
    if (own.length) colours.push(cs.color);
    if (e.tagName === "INPUT") { colours.push(cs.color); if (e.placeholder) colours.push(getComputedStyle(e, "::placeholder").color); }
    if (colours.length && parseFloat(cs.fontSize) < 14) out.small.push(name(e) + " " + cs.fontSize);
    for (const n of own) {
      const rg = document.createRange(); rg.selectNodeContents(n);
      for (const b of rg.getClientRects()) if (b.right > W + 0.5 || b.left < -0.5) out.wide.push("the text " + JSON.stringify(n.textContent.trim().slice(0, 30)) + " in " + name(e));
    }
    for (const c of colours) {
      const bg = back(e), fg = rgba(c);
      if (!fg) { out.low.push(name(e) + " has the colour " + c); continue; }
      const k = ratio(over(fg, bg), bg);
      out.checked++; out.minRatio = Math.min(out.minRatio, k);
      if (k < 4.5) out.low.push(name(e) + " " + k.toFixed(2) + ":1");
    }
  }
  out.text = document.querySelector("main").innerText;
  return out;
})()`

type layout struct {
	Lang     string
	H1       int
	Scroll   int
	Width    int
	Wide     []string
	Low      []string
	Small    []string
	Checked  int
	MinRatio float64
	Styled   bool
	Text     string
}

// screenshots is where the page's screenshots are kept: the folder in
// FLUXRELAY_SCREENSHOTS (make test: dist/screenshots, kept by CI), else
// the test's own.
func screenshots(t *testing.T) string {
	dir := os.Getenv("FLUXRELAY_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	configKey = regexp.MustCompile(`\b[a-z]+\.[a-z_]+\b|[a-z]+_[a-z_]+\b`)
	address   = regexp.MustCompile(`https?://|\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-f:]+\]`)
)

// look checks the page the tab shows and keeps a screenshot of it named
// name: one h1, a language, nothing wider than the window, no small text,
// every text at least 4.5:1, no config key or address, the time in the
// shop's zone; it returns the text the page shows.
func (tb *tab) look(shots, name string) string {
	t := tb.b.t
	t.Helper()
	var l layout
	tb.must(layoutCheck, &l)
	tb.screenshot(filepath.Join(shots, fmt.Sprintf("%s-%d.png", name, tb.width)))
	at := fmt.Sprintf("%s at %d px", name, tb.width)
	if l.Lang != "en" || l.H1 != 1 {
		t.Errorf("%s: lang %q and %d h1; want en and one", at, l.Lang, l.H1)
	}
	if l.Width != tb.width || l.Scroll > l.Width || len(l.Wide) > 0 {
		t.Errorf("%s overflows the %d px window (%d px wide): %q", at, l.Width, l.Scroll, l.Wide)
	}
	if !l.Styled || l.Checked < 10 || len(l.Low) > 0 {
		t.Errorf("%s: styled %v, %d texts checked, under 4.5:1: %q", at, l.Styled, l.Checked, l.Low)
	}
	if len(l.Small) > 0 {
		t.Errorf("%s: text smaller than 14 px: %q", at, l.Small)
	}
	if k := configKey.FindString(l.Text); k != "" {
		t.Errorf("%s shows staff %q, a config key or error text", at, k)
	}
	if a := address.FindString(l.Text); a != "" {
		t.Errorf("%s shows staff %q, a URL or an address", at, a)
	}
	if !strings.Contains(l.Text, "WAT (UTC+01:00)") {
		t.Errorf("%s does not give the time in the shop's zone with its offset (WAT (UTC+01:00))", at)
	}
	t.Logf("%s: lowest contrast %.2f:1 over %d texts", at, l.MinRatio, l.Checked)
	return l.Text
}

// text is what the element selector names shows ("" when it is absent).
func (tb *tab) text(selector string) string {
	var s string
	tb.must(fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, selector), &s)
	return s
}

// payments are the payments a list shows, one line each.
func (tb *tab) payments(selector string) []string {
	var rows []string
	tb.must(fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.innerText.replace(/\s+/g, " ").trim())`, selector+" .pay"), &rows)
	return rows
}

// pageConfig sets the shop's zone and name, a page listener, and the PIN
// and the contact when given.
func (e *env) pageConfig(pin, contact string) {
	e.t.Helper()
	cfg := readFile(e.t, e.cfgPath)
	cfg = strings.Replace(cfg, `data_dir = "data"`, "data_dir = \"data\"\ntimezone = \"Africa/Lagos\"\ngateway = \"Mama Nkechi Stores, Ikeja\"", 1)
	admin := "[admin]\nsocket = \"\"\nlisten = \"127.0.0.1:0\"\npage_listen = \"127.0.0.1:0\""
	if pin != "" {
		admin += fmt.Sprintf("\npage_pin = %q", pin)
	}
	if contact != "" {
		admin += fmt.Sprintf("\npage_contact = %q", contact)
	}
	cfg = strings.Replace(cfg, "[admin]\nsocket = \"\"\nlisten = \"127.0.0.1:0\"", admin, 1)
	writeFile(e.t, e.cfgPath, cfg)
}

func (r *running) page(t *testing.T) string {
	t.Helper()
	addr := r.d.Addr("page", 10*time.Second)
	if addr == "" {
		t.Fatal("the page listener did not come up")
	}
	return "http://" + addr
}

// TestStatusPageInBrowser shows the page in headless Chromium in each
// state, at 360 and 1280 px: the state in one word, the staff's sentences,
// who to call when a person is needed, and none of the technician's words.
func TestStatusPageInBrowser(t *testing.T) {
	chromiumPath(t)
	core := switchable(http.StatusOK)
	var refused atomic.Bool
	e := newEnv(t, func(n int, d relaytest.Delivery) int {
		if refused.Load() && strings.Contains(string(d.Body), `"P-R"`) {
			return http.StatusUnprocessableEntity
		}
		return core.answer(n, d)
	})
	e.pageConfig("", pageContact)
	r := e.start()
	page := r.page(t)
	shots := screenshots(t)
	b := newBrowser(t)
	tabs := []*tab{b.tab(360), b.tab(1280)}
	check := func(state, word string, says ...string) {
		t.Helper()
		for _, tb := range tabs {
			tb.open(page + "/")
			text := tb.look(shots, state)
			if got := tb.text("#state"); got != word {
				t.Errorf("%s at %d px says %q, not %s", state, tb.width, got, word)
			}
			for _, s := range says {
				if !strings.Contains(text, s) {
					t.Errorf("%s at %d px does not say %q:\n%s", state, tb.width, s, text)
				}
			}
			if contact := tb.text("#contact"); (word == "OK") != (contact == "") {
				t.Errorf("%s at %d px shows the contact %q", state, tb.width, contact)
			}
		}
	}

	post(t, r.url+"/notify/till", `{"transactionRef":"P-1","amount":10}`)
	waitFor(t, "a delivery", func() bool { return len(e.core.Accepted()) == 1 })
	check("ok", "OK", "All payments are reaching Fluxvend.", "₦10.00")

	refused.Store(true) // Fluxvend refuses one payment (422), takes the others
	post(t, r.url+"/notify/till", `{"transactionRef":"P-R","amount":10}`)
	waitFor(t, "a dead letter", func() bool { return r.status(t).DeadLetters == 1 })
	check("dead_letter", "ACTION NEEDED", "1 payment could not be sent to Fluxvend. Call your technician.", "2 · ₦20.00", "1 · ₦10.00",
		pageContact, "needs a person")
	if resp := r.change(t, http.MethodDelete, "/api/dead-letters/"+notification.NewID("till", "core", "acme", "P-R")); resp.StatusCode != 200 {
		t.Fatalf("dropping the dead letter: %v", resp.Status)
	}

	core.set(http.StatusServiceUnavailable) // Fluxvend down: payments wait
	for i := range 3 {
		post(t, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"P-D%d","amount":10}`, i))
	}
	waitFor(t, "an outage", func() bool { return r.status(t).State == StateDelayed })
	check("delayed", "DELAYED", "Fluxvend cannot be reached right now.", "kept safely", "Keep selling.", "waiting to be sent")

	core.set(http.StatusForbidden) // the gateway's IP is no longer whitelisted
	waitFor(t, "the pause", func() bool { st := r.status(t); return len(st.Targets) > 0 && st.Targets[0].Mode == "paused" })
	check("paused", "ACTION NEEDED", "cannot be sent to Fluxvend. Call your technician.")

	// The technician's detail is on /details, on the admin listener only.
	if code, body := get(t, r.admin+"/details", ""); code != 200 || !strings.Contains(body, "not whitelisted") || !strings.Contains(body, "http.listen") {
		t.Errorf("/details: %d, without the technician's reasons", code)
	}
	if code, _ := get(t, page+"/details", ""); code != http.StatusNotFound {
		t.Errorf("the page listener serves /details: %d", code)
	}
}
