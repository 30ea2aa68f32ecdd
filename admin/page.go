package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PageRefresh is how often the open page fetches itself again.
const PageRefresh = 4 * time.Second

// pageData is what the status page shows shop staff: the state in one
// word, what it means in plain sentences, who to call, and, once the PIN
// is given, the recent payments, a search by amount and today's totals. No
// customer name, phone or account, config key, error text, URL or address.
type pageData struct {
	Word, Class, Gateway string
	Sentences            []string
	Contact              string // shown while a person is needed
	// Locked is set while the PIN is needed; PINNote says why the last
	// try failed.
	Locked  bool
	PINNote string
	Query   string // the amount searched for, as typed
	Search  *searchResult
	Recent  []paymentRow
	// Unreadable says the payments could not be read.
	Unreadable   string
	Waiting      int64
	Oldest       string
	LastDelivery string
	DeadLetters  int64
	Received     string // today's sales received: "12 · ₦15,750.50"
	Sent         string // … and sent to Fluxvend
	Clock        string
	Version      string
}

// paymentRow is one payment as the page prints it.
type paymentRow struct {
	Amount, Time, Paid, Method, From, Reached string
	Known, Confirmed                          bool
	ReachedClass                              string
}

// searchResult is the answer to a search by amount.
type searchResult struct {
	Said string // "2 payments of ₦8,200.00 in the last hour"
	Rows []paymentRow
}

// pageHandler serves the page (GET /).
func pageHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		renderPage(w, r, b, "", http.StatusOK)
	})
}

// pinHandler takes the PIN (POST /, a form with pin and the amount being
// searched for): the device is remembered and sent back to the page.
func pinHandler(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "want a form with the PIN", http.StatusBadRequest)
			return
		}
		back := "/"
		if q := strings.TrimSpace(r.PostFormValue("amount")); q != "" && len(q) <= 40 {
			back += "?" + url.Values{"amount": {q}}.Encode()
		}
		c, ok := b.(Cashier)
		if !ok || !c.PageGuard().Needed() {
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
		cookie, err := c.PageGuard().Try(r, strings.TrimSpace(r.PostFormValue("pin")))
		switch {
		case errors.Is(err, ErrLocked):
			renderPage(w, r, b, "Too many wrong tries. Wait a minute, then try again.", http.StatusTooManyRequests)
		case errors.Is(err, ErrWrongPIN):
			renderPage(w, r, b, "That PIN is not right. Try again.", http.StatusForbidden)
		case err != nil:
			renderPage(w, r, b, "The PIN cannot be checked right now. Call your technician.", http.StatusInternalServerError)
		default:
			http.SetCookie(w, cookie)
			http.Redirect(w, r, back, http.StatusSeeOther)
		}
	})
}

// renderPage writes the page for r with code; pinNote says why a PIN was
// refused.
func renderPage(w http.ResponseWriter, r *http.Request, b Backend, pinNote string, code int) {
	st := b.Status()
	loc := st.Location
	if loc == nil {
		loc = time.Local
	}
	d := statePart(st, loc)
	c, cashier := b.(Cashier)
	if cashier && st.State != StateOK {
		d.Contact = c.PageContact()
	}
	d.Query = strings.TrimSpace(r.URL.Query().Get("amount"))
	if r.Method == http.MethodPost {
		d.Query = strings.TrimSpace(r.PostFormValue("amount"))
	}
	if len(d.Query) > 40 {
		d.Query = strings.ToValidUTF8(d.Query[:40], "")
	}
	if cashier && !c.PageGuard().Allowed(r) {
		d.Locked, d.PINNote = true, pinNote
	} else {
		today := b.Today(st)
		d.Received = fmt.Sprintf("%d · %s", today.Total.Received.Count, naira(today.Total.Received.Sum))
		d.Sent = fmt.Sprintf("%d · %s", today.Total.Delivered.Count, naira(today.Total.Delivered.Sum))
		if cashier {
			paymentsPart(&d, c, st, loc)
		}
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, d); err != nil {
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// statePart is what the page shows to anyone: the state and the queue.
func statePart(st Status, loc *time.Location) pageData {
	d := pageData{Word: stateWord(st.State), Class: st.State, Gateway: st.Gateway, Sentences: st.Staff, Waiting: st.QueueDepth,
		DeadLetters: st.DeadLetters, Clock: st.Clock.In(loc).Format("15:04 MST (UTC-07:00)"), Version: st.Version,
		Oldest: "none", LastDelivery: "not yet"}
	if st.QueueDepth > 0 {
		d.Oldest = ago(time.Duration(st.OldestPendingAgeSeconds)*time.Second) + " ago"
	}
	if at := st.LastDeliveryAt; at != nil {
		since := st.Clock.Sub(*at)
		switch {
		case since < time.Minute:
			d.LastDelivery = at.In(loc).Format("15:04") + ", just now"
		case since > 20*time.Hour:
			d.LastDelivery = at.In(loc).Format("2 Jan 15:04")
		default:
			d.LastDelivery = at.In(loc).Format("15:04") + ", " + ago(since) + " ago"
		}
	}
	return d
}

// paymentsPart fills in the recent payments and the search.
func paymentsPart(d *pageData, c Cashier, st Status, loc *time.Location) {
	all, err := c.Payments(st)
	if err != nil {
		d.Unreadable = "The payments cannot be shown right now. Call your technician."
		return
	}
	now := st.Clock
	for _, p := range recent(all, now) {
		d.Recent = append(d.Recent, row(p, now, loc))
	}
	if d.Query == "" {
		return
	}
	a, ok := ParseAmountQuery(d.Query)
	if !ok {
		d.Search = &searchResult{Said: "Type an amount such as 8200 or 8,200.50."}
		return
	}
	found := matching(all, a, now)
	s := &searchResult{Said: fmt.Sprintf("No payment of %s in the last hour.", naira(a.String()))}
	if len(found) > 0 {
		s.Said = fmt.Sprintf("%d %s of %s in the last hour, newest first:", len(found), plural(len(found), "payment", "payments"), naira(a.String()))
	}
	for _, p := range found {
		s.Rows = append(s.Rows, row(p, now, loc))
	}
	d.Search = s
}

// row prints a payment: the time it arrived, and when it was paid if that
// was well before (a provider resending an old payment).
func row(p Payment, now time.Time, loc *time.Location) paymentRow {
	r := paymentRow{Amount: "amount not known", Time: p.ReceivedAt.In(loc).Format("15:04"), Method: p.Method, From: p.From,
		Reached: string(p.Reached), Confirmed: p.Confirmed}
	if p.Amount > 0 {
		r.Amount, r.Known = naira(p.Amount.String()), true
	}
	if !p.PaidAt.IsZero() && p.ReceivedAt.Sub(p.PaidAt) > 10*time.Minute {
		r.Paid = "paid " + p.PaidAt.In(loc).Format("15:04")
		if p.PaidAt.In(loc).Format(time.DateOnly) != now.In(loc).Format(time.DateOnly) {
			r.Paid = "paid " + p.PaidAt.In(loc).Format("2 Jan 15:04")
		}
	}
	switch p.Reached {
	case Sent:
		r.ReachedClass = "sent"
	case Waiting:
		r.ReachedClass = "waiting"
	default:
		r.ReachedClass = "person"
	}
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pagePolicy lets the page run only its own style and script, fetch only
// itself and post only to itself.
var pagePolicy = "default-src 'none'; style-src " + digest(pageStyle) + "; script-src " + digest(pageScript) +
	"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}
