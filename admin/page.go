package admin

import (
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// pageData is what the status page shows: no customer data, only the
// state and what to do about it.
type pageData struct {
	Word, Class  string
	Waiting      int64
	Oldest       string
	LastDelivery string
	DiskFree     string
	DeadLetters  int64
	Reasons      []string
	Clock        string
	Version      string
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="15">
<title>Payments relay: {{.Word}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 1.2rem; background: #f4f4f4; color: #111; }
.state { font-size: 3rem; font-weight: 800; text-align: center; padding: 1.6rem 0.5rem; border-radius: 0.8rem; color: #fff; letter-spacing: 0.04em; }
.ok { background: #1a7f37; } .delayed { background: #b26a00; } .action_needed { background: #c62828; }
dl { display: grid; grid-template-columns: 3fr 2fr; gap: 0.7rem 1rem; font-size: 1.15rem; margin: 1.4rem 0; }
dt { color: #444; } dd { margin: 0; font-weight: 700; text-align: right; }
.todo { background: #fff; border-left: 0.4rem solid #c62828; padding: 0.8rem 1rem; font-size: 1.1rem; }
.todo.delayed { border-color: #b26a00; }
.todo li { margin: 0.4rem 0; }
footer { color: #666; font-size: 0.85rem; margin-top: 1.5rem; }
</style>
</head>
<body>
<div class="state {{.Class}}" id="state">{{.Word}}</div>
<dl>
<dt>Payments waiting to send</dt><dd id="waiting">{{.Waiting}}</dd>
<dt>Oldest waiting payment</dt><dd id="oldest">{{.Oldest}}</dd>
<dt>Last payment sent to Fluxvend</dt><dd id="last">{{.LastDelivery}}</dd>
<dt>Payments needing a person</dt><dd id="dead">{{.DeadLetters}}</dd>
<dt>Free disk space</dt><dd id="disk">{{.DiskFree}}</dd>
</dl>
{{if .Reasons}}<div class="todo {{.Class}}" id="todo"><strong>What to do</strong><ul>{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>Call your technician if you cannot fix it.</div>{{end}}
<footer>Updated {{.Clock}} · refreshes every 15 seconds · fluxrelay {{.Version}}</footer>
</body>
</html>
`))

func pageHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := b.Status()
		d := pageData{Class: st.State, Waiting: st.QueueDepth, DeadLetters: st.DeadLetters, Reasons: st.Reasons,
			DiskFree: bytesWords(st.DiskFreeBytes), Clock: st.Clock.Format("15:04:05 UTC"), Version: st.Version,
			Oldest: "none", LastDelivery: "not yet"}
		switch st.State {
		case StateOK:
			d.Word = "OK"
		case StateDelayed:
			d.Word = "DELAYED"
		default:
			d.Word = "ACTION NEEDED"
		}
		if st.QueueDepth > 0 {
			d.Oldest = ago(time.Duration(st.OldestPendingAgeSeconds) * time.Second)
		}
		if st.LastDeliveryAt != nil {
			d.LastDelivery = ago(st.Clock.Sub(*st.LastDeliveryAt)) + " ago"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, d)
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

func bytesWords(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", n>>20)
	default:
		return fmt.Sprintf("%d KB", n>>10)
	}
}
