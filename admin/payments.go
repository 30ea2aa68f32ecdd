package admin

import (
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

// What the page shows of the payments: the recent ones, and a search by
// amount over a longer window.
const (
	RecentWindow = 30 * time.Minute
	RecentMax    = 20
	SearchWindow = time.Hour
	searchMax    = 50
)

// Cashier is what the status page needs, besides a Backend, to help the
// cashier confirm a payment. A Backend that is not a Cashier gets the page
// without payments and without a PIN.
type Cashier interface {
	// Payments returns the sales received in at least the last
	// SearchWindow, newest first. st is the status the page shows them
	// with: what it counts says whether anything changed since the last
	// call.
	Payments(st Status) ([]Payment, error)
	// PageGuard is the PIN guard the page shares on every listener.
	PageGuard() *Guard
	// PageContact is who to call, shown while a person is needed.
	PageContact() string
}

// Reached is how far a payment has got towards Fluxvend.
type Reached string

// How far a payment has got.
const (
	Sent        Reached = "sent to Fluxvend"
	Waiting     Reached = "waiting to be sent"
	NeedsPerson Reached = "needs a person"
)

// Payment is one sale as the cashier sees it: when it arrived, how much,
// how it was paid, who vouches for it and whether it reached Fluxvend. It
// holds no customer name, phone or account number.
type Payment struct {
	ReceivedAt time.Time
	// PaidAt is when the sender says it was paid (zero when it did not).
	PaidAt time.Time
	// Amount is zero for a payment held without one.
	Amount notification.Amount
	// Method is how it was paid, in words: transfer, card, POS, …
	Method string
	// Provider names the payment provider (Monnify, OPay, …); empty for
	// the shop's own till or POS app.
	Provider string
	// Confirmed is set when the provider signed the notification: the
	// one proof a cashier can trust against a forged alert.
	Confirmed bool
	// From says who vouches for it, in words.
	From    string
	Reached Reached
}

// providerNames are the providers as a cashier knows them.
var providerNames = map[string]string{
	"monnify": "Monnify", "moniepoint-pos": "Moniepoint", "opay": "OPay", "opay-pos": "OPay", "vesicash": "Vesicash",
}

// PaymentOf is the payment a stored notification records; false for one
// that is not a sale (ignored).
func PaymentOf(r *notification.Record) (Payment, bool) {
	if r.State == notification.Ignored {
		return Payment{}, false
	}
	p := Payment{ReceivedAt: r.ReceivedAt, Method: "payment"}
	if pay := r.Payload; pay != nil {
		p.Amount, p.Method = pay.Amount, methodWords(pay.PaymentMethod)
		if !pay.DateDefaulted {
			p.PaidAt = pay.TransactionDate
		}
	}
	p.Provider = providerNames[r.Provider]
	// A notification held because it could not be read says nothing a
	// cashier can rely on, signed or not.
	p.Confirmed = providerSigned(r) && r.Payload != nil
	switch {
	case r.Payload == nil && p.Provider != "":
		p.From = "from " + p.Provider + " (a person must check it)"
	case r.Payload == nil:
		p.From = "from the till (a person must check it)"
	case p.Confirmed:
		p.From = "confirmed by " + p.Provider
	case r.Provider == "core" && r.Verified != "" && !strings.HasPrefix(r.Verified, "not checked"):
		// Signed by the shop's own POS app: that proves where it came
		// from, not that money reached a bank.
		p.From = "from the POS app (not confirmed by a bank)"
	case r.Provider == "core" || p.Provider == "":
		p.From = "from the till (not confirmed by a bank)"
	default:
		p.From = "said to be from " + p.Provider + " (not signed, so not confirmed)"
	}
	switch r.State {
	case notification.Delivered:
		p.Reached = Sent
	case notification.Pending:
		p.Reached = Waiting
	default:
		p.Reached = NeedsPerson
	}
	return p, true
}

// providerSigned reports whether a payment provider signed the
// notification's body, as it was checked when it arrived (Record.Verified):
// an HMAC over the body with the secret the provider and the shop share.
// OPay POS headers and Vesicash's constant header (recipe A) prove no
// body, and a core source is the shop's own till or app.
func providerSigned(r *notification.Record) bool {
	return providerNames[r.Provider] != "" && strings.Contains(r.Verified, "HMAC") && !strings.HasPrefix(r.Verified, "not checked")
}

// methods are the payment methods providers and tills send, in words.
var methods = map[string]string{
	"ACCOUNT_TRANSFER": "transfer", "TRANSFER": "transfer", "BANK_TRANSFER": "transfer", "PAY_WITH_TRANSFER": "transfer",
	"TRANSFER_IN": "transfer", "INBOUND_TRANSFER": "transfer",
	"CARD": "card", "CARD_PURCHASE": "card", "PURCHASE": "card", "POS_PURCHASE": "POS", "POS": "POS",
	"USSD": "USSD", "CASH": "cash", "PHONE_NUMBER": "phone number", "DIRECT_DEBIT": "direct debit",
	"WALLET": "wallet", "QR": "QR code", "VESICASH": "Vesicash",
}

// methodWords says a payment method the way a cashier would.
func methodWords(m string) string {
	m = strings.TrimSpace(m)
	if w, ok := methods[strings.ToUpper(m)]; ok {
		return w
	}
	if m == "" {
		return "payment"
	}
	w := strings.ToLower(strings.NewReplacer("_", " ", "-", " ").Replace(m))
	if len(w) > 20 {
		w = w[:20]
	}
	return strings.ToValidUTF8(w, "")
}

// ParseAmountQuery reads an amount as a cashier types it: 8200, 8,200,
// 8200.00, ₦8,200 or N8,200.50. Commas must group thousands; at most two
// decimals. Money is never a float: the digits go to notification's parser.
func ParseAmountQuery(s string) (notification.Amount, bool) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "₦"):
		s = s[len("₦"):]
	case len(s) >= 3 && strings.EqualFold(s[:3], "NGN"):
		s = s[3:]
	case s != "" && (s[0] == 'N' || s[0] == 'n'):
		s = s[1:]
	}
	s = strings.TrimSpace(s)
	whole, frac, dot := strings.Cut(s, ".")
	if strings.Contains(whole, ",") {
		groups := strings.Split(whole, ",")
		if len(groups[0]) < 1 || len(groups[0]) > 3 {
			return 0, false
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return 0, false
			}
		}
		whole = strings.Join(groups, "")
	}
	if dot {
		whole += "." + frac
	}
	a, err := notification.ParseAmount(whole)
	return a, err == nil
}

// recent are the payments received in the RecentWindow before now, at
// most RecentMax, newest first as given.
func recent(all []Payment, now time.Time) []Payment {
	var out []Payment
	for _, p := range all {
		if now.Sub(p.ReceivedAt) <= RecentWindow && len(out) < RecentMax {
			out = append(out, p)
		}
	}
	return out
}

// matching are the payments of amount a received in the SearchWindow
// before now, newest first as given.
func matching(all []Payment, a notification.Amount, now time.Time) []Payment {
	var out []Payment
	for _, p := range all {
		if p.Amount == a && now.Sub(p.ReceivedAt) <= SearchWindow && len(out) < searchMax {
			out = append(out, p)
		}
	}
	return out
}
