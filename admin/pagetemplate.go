package admin

import (
	"html/template"
	"strconv"
	"strings"
)

// pageStyle is written for a phone held at the counter: large text, one
// column, nothing wider than a 360-pixel screen, and every text at least
// 4.5:1 against its background.
const pageStyle = `
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem; background: #f4f4f4; color: #111; font-size: 1.1rem; line-height: 1.4; }
main { max-width: 36rem; margin: 0 auto; overflow-wrap: anywhere; }
.shop { margin: 0 0 0.4rem; text-align: center; font-weight: 600; color: #333; }
.state { font-size: 2.6rem; font-weight: 800; text-align: center; padding: 1.2rem 0.5rem; margin: 0; border-radius: 0.8rem; color: #fff; letter-spacing: 0.03em; line-height: 1.15; }
.ok { background: #1a7f37; } .delayed { background: #9a5b00; } .action_needed { background: #c62828; }
.say { font-size: 1.25rem; line-height: 1.45; margin: 1rem 0; }
.say p { margin: 0.4rem 0; }
.contact { font-size: 1.35rem; font-weight: 700; text-align: center; background: #fff; border: 3px solid #c62828; border-radius: 0.6rem; padding: 0.7rem; margin: 1rem 0; }
h2 { font-size: 1.3rem; margin: 1.5rem 0 0.5rem; }
label { display: block; font-weight: 700; font-size: 1.3rem; margin: 1.5rem 0 0.5rem; }
.line { display: flex; gap: 0.5rem; }
input { flex: 1 1 auto; min-width: 0; width: 100%; font: inherit; font-size: 1.6rem; padding: 0.45rem 0.7rem; border: 2px solid #555; border-radius: 0.5rem; background: #fff; color: #111; }
input::placeholder { color: #595959; }
button { flex: 0 0 auto; font: inherit; font-size: 1.3rem; font-weight: 700; padding: 0.45rem 1rem; border: 0; border-radius: 0.5rem; background: #0b57d0; color: #fff; }
.note { font-weight: 700; color: #b71c1c; margin: 0.6rem 0; }
.said { font-size: 1.25rem; font-weight: 700; margin: 0.8rem 0 0.5rem; }
.pays { list-style: none; margin: 0; padding: 0; }
.pay { background: #fff; border-radius: 0.6rem; padding: 0.6rem 0.9rem; margin: 0 0 0.6rem; border-left: 0.5rem solid #9a5b00; }
.pay.confirmed { border-left-color: #1a7f37; }
.top { display: flex; justify-content: space-between; align-items: baseline; flex-wrap: wrap; gap: 0 0.8rem; }
.amount { font-size: 1.7rem; font-weight: 800; }
.amount.unknown { font-size: 1.3rem; }
.how span { white-space: nowrap; }
.time { font-size: 1.2rem; color: #333; }
.from { font-weight: 700; color: #7a4700; }
.confirmed .from { color: #145c29; }
.how { color: #444; }
.person { color: #b71c1c; font-weight: 700; }
.none { color: #444; }
.row { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1rem; padding: 0.55rem 0; border-bottom: 1px solid #ddd; }
.row span { color: #444; flex: 1 1 8rem; }
.row b { flex: 0 0 auto; margin-left: auto; text-align: right; white-space: nowrap; }
a { color: #0b57d0; }
footer { color: #595959; font-size: 0.9rem; margin-top: 1.2rem; }
`

// pageScript refreshes the open page every PageRefresh without a reload:
// it fetches the page again and swaps in the parts that change, so that
// what the cashier is typing stays. A change between needing the PIN and
// not reloads the page. Without scripts, a meta refresh does it.
var pageScript = strings.Replace(`
(function () {
  var ids = ["live", "result", "recent", "today", "queue", "updated"];
  function swap() {
    if (document.hidden) return;
    fetch(location.href, { cache: "no-store", credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (t) {
      var n = new DOMParser().parseFromString(t, "text/html"), m = n.querySelector("main"), o = document.querySelector("main");
      if (!m || m.getAttribute("data-locked") !== o.getAttribute("data-locked")) { location.replace(location.href); return; }
      ids.forEach(function (id) { var a = document.getElementById(id), b = n.getElementById(id); if (a && b) a.innerHTML = b.innerHTML; });
      document.title = n.title;
    }).catch(function () {});
  }
  setInterval(swap, EVERY);
  document.addEventListener("visibilitychange", swap);
})();
`, "EVERY", strconv.Itoa(int(PageRefresh.Milliseconds())), 1)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<title>{{.Word}}{{with .Gateway}} · {{.}}{{end}}</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main data-locked="{{.Locked}}">
<div id="live">
{{with .Gateway}}<p class="shop" id="shop">{{.}}</p>{{end}}
<h1 class="state {{.Class}}" id="state">{{.Word}}</h1>
<div class="say" id="say">{{range .Sentences}}<p>{{.}}</p>{{end}}</div>
{{with .Contact}}<p class="contact" id="contact">{{.}}</p>{{end}}
</div>
{{if .Locked}}
<form method="post" action="/" id="pin-form">
<label for="pin">Enter the shop PIN to see the payments</label>
{{with .PINNote}}<p class="note" id="pin-note" role="alert">{{.}}</p>{{end}}
<div class="line"><input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="current-password" maxlength="8" required><button type="submit">Show</button></div>
<input type="hidden" name="amount" value="{{.Query}}">
</form>
{{else}}
<form method="get" action="/" id="find" role="search">
<label for="amount">Find a payment by its amount</label>
<div class="line"><input id="amount" name="amount" value="{{.Query}}" inputmode="decimal" autocomplete="off" placeholder="8,200"><button type="submit">Find</button></div>
</form>
<div id="result">{{with .Search}}<p class="said" id="said" role="status">{{.Said}}</p>
{{with .Rows}}<ol class="pays">{{range .}}{{template "pay" .}}{{end}}</ol>{{end}}
<p><a href="/">Clear the search</a></p>{{end}}</div>
<section id="recent">
<h2>Payments in the last 30 minutes</h2>
{{with .Unreadable}}<p class="note">{{.}}</p>{{else}}{{with .Recent}}<ol class="pays">{{range .}}{{template "pay" .}}{{end}}</ol>{{else}}<p class="none">No payments in the last 30 minutes.</p>{{end}}{{end}}
</section>
<section id="today">
<h2>Today</h2>
<div class="row"><span>Received today</span><b id="received">{{.Received}}</b></div>
<div class="row"><span>Sent to Fluxvend today</span><b id="sent">{{.Sent}}</b></div>
</section>
{{end}}
<section id="queue">
<h2>Sending to Fluxvend</h2>
<div class="row"><span>Payments waiting to be sent</span><b id="waiting">{{.Waiting}}</b></div>
<div class="row"><span>Oldest waiting payment</span><b id="oldest">{{.Oldest}}</b></div>
<div class="row"><span>Last payment sent</span><b id="last">{{.LastDelivery}}</b></div>
<div class="row"><span>Payments needing a person</span><b id="dead">{{.DeadLetters}}</b></div>
</section>
<footer id="updated">Updated {{.Clock}} · fluxrelay {{.Version}}</footer>
</main>
<script>` + pageScript + `</script>
</body>
</html>
{{define "pay"}}<li class="pay{{if .Confirmed}} confirmed{{end}}"><div class="top"><span class="amount{{if not .Known}} unknown{{end}}">{{.Amount}}</span><span class="time">{{.Time}}</span></div><div class="from">{{if .Confirmed}}✓ {{end}}{{.From}}</div><div class="how">{{.Method}}{{with .Paid}} · {{.}}{{end}} · <span class="{{.ReachedClass}}">{{.Reached}}</span></div></li>{{end}}`))
