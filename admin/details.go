package admin

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// details is the technician's page on admin.listen: everything status
// says, in words, with the fixes.
var details = template.Must(template.New("details").Funcs(template.FuncMap{"word": stateWord}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15">
<title>fluxrelay details: {{word .State}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem; background: #fafafa; color: #111; }
main { max-width: 60rem; margin: 0 auto; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.ok { color: #1a7f37; } .delayed { color: #9a5b00; } .action_needed { color: #c62828; }
</style>
</head>
<body>
<main>
<h1 class="{{.State}}">{{word .State}}</h1>
{{if .Reasons}}<h2>What to do</h2><ul>{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Queue</h2>
<table>
<tr><th>waiting</th><td>{{.QueueDepth}} (oldest {{.OldestPendingAgeSeconds}} s)</td></tr>
<tr><th>dead letters</th><td>{{.DeadLetters}} (fluxrelay dlq list)</td></tr>
<tr><th>last delivery</th><td>{{with .LastDeliveryAt}}{{.}}{{else}}none yet{{end}}</td></tr>
<tr><th>last error</th><td>{{.LastError}}</td></tr>
<tr><th>disk</th><td>{{.DiskFreeBytes}} bytes free, the store uses {{.DiskUsedBytes}}</td></tr>
<tr><th>clock</th><td>{{.Clock}}{{if not .ClockOK}} — implausible{{end}}</td></tr>
<tr><th>config reload</th><td>{{if .ConfigReload.OK}}ok{{else}}failed: {{.ConfigReload.Error}}{{end}} at {{.ConfigReload.At}}{{with .ConfigReload.RestartNeeded}}; restart needed for {{.}}{{end}}</td></tr>
</table>
<h2>Webhooks</h2>
<table><tr><th>URL</th><th>mode</th><th>reason</th><th>last error</th></tr>
{{range .Targets}}<tr><td>{{.URL}}</td><td>{{.Mode}}</td><td>{{.Reason}}</td><td>{{.LastError}}</td></tr>{{end}}
</table>
<h2>Listeners</h2>
<table><tr><th>name</th><th>key</th><th>address</th><th>up</th><th>error</th></tr>
{{range $n, $l := .Listeners}}<tr><td>{{$n}}</td><td>{{$l.Key}}</td><td>{{$l.Addr}}</td><td>{{$l.Up}}</td><td>{{$l.Error}}</td></tr>{{end}}
</table>
<h2>Sources</h2>
<table><tr><th>source</th><th>received</th><th>queued</th><th>duplicates</th><th>ignored</th><th>held</th><th>rejected</th><th>delivered</th></tr>
{{range $n, $s := .Sources}}<tr><td>{{$n}}</td><td>{{$s.Received}}</td><td>{{$s.Queued}}</td><td>{{$s.Duplicates}}</td><td>{{$s.Ignored}}</td><td>{{$s.Held}}</td><td>{{$s.Rejected}}</td><td>{{$s.Delivered}}</td></tr>{{end}}
</table>
<p>fluxrelay {{.Version}}, started {{.StartedAt}}</p>
</main>
</body>
</html>
`))

func detailsHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = details.Execute(w, b.Status())
	})
}

// ago says a duration the way a person would.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < 2*time.Minute:
		return "1 minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 2*time.Hour:
		return "1 hour"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}

// naira writes a sum as staff read it: ₦15,750.50.
func naira(sum string) string {
	whole, kobo, _ := strings.Cut(sum, ".")
	if whole == "" {
		whole, kobo = "0", "00"
	}
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return "₦" + b.String() + "." + kobo
}

// stateWord is the state in one word or two, as the page shows it.
func stateWord(state string) string {
	switch state {
	case StateOK:
		return "OK"
	case StateDelayed:
		return "DELAYED"
	default:
		return "ACTION NEEDED"
	}
}
