package admin

import (
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/notification"
	"github.com/fluxrelay/fluxrelay/provider"
)

// TestPaymentFrom checks, for every provider as it checks a notification
// today (its own Verification), what the cashier is told: only a body the
// provider signed says "confirmed by".
func TestPaymentFrom(t *testing.T) {
	for _, c := range []struct {
		src  config.Source
		want string
	}{
		{config.Source{Provider: "monnify", Secret: config.NewSecret("s")}, "confirmed by Monnify"},
		{config.Source{Provider: "moniepoint-pos", Secret: config.NewSecret("s")}, "confirmed by Moniepoint"},
		{config.Source{Provider: "opay", Secret: config.NewSecret("s")}, "confirmed by OPay"},
		{config.Source{Provider: "vesicash", Secret: config.NewSecret("s"), BusinessID: "1", SignatureMode: "B"}, "confirmed by Vesicash"},
		{config.Source{Provider: "vesicash", Secret: config.NewSecret("s"), BusinessID: "1", SignatureMode: "A"}, "said to be from Vesicash (not signed, so not confirmed)"},
		{config.Source{Provider: "vesicash", SignatureMode: "none"}, "said to be from Vesicash (not signed, so not confirmed)"},
		{config.Source{Provider: "opay-pos", MerchantID: "1"}, "said to be from OPay (not signed, so not confirmed)"},
		{config.Source{Provider: "core"}, "from the till (not confirmed by a bank)"},
		{config.Source{Provider: "core", Secret: config.NewSecret("s")}, "from the POS app (not confirmed by a bank)"},
	} {
		p, err := provider.New(c.src, "acme", nil)
		if err != nil {
			t.Fatalf("%+v: %v", c.src, err)
		}
		r := &notification.Record{Provider: c.src.Provider, Verified: p.Verification(), ReceivedAt: time.Now(),
			Payload:  &notification.Payload{Amount: 820000, PaymentMethod: "ACCOUNT_TRANSFER"},
			Delivery: notification.Delivery{State: notification.Delivered}}
		pay, ok := PaymentOf(r)
		if !ok || pay.From != c.want || pay.Confirmed != (c.want[:9] == "confirmed") {
			t.Errorf("%s (%s): %q, confirmed %v; want %q", c.src.Provider, r.Verified, pay.From, pay.Confirmed, c.want)
		}
		r.Payload = nil // held: it could not be read
		if pay, _ := PaymentOf(r); pay.Confirmed || pay.Amount != 0 || pay.Reached != Sent {
			t.Errorf("%s, held without a payload: %+v", c.src.Provider, pay)
		}
	}
}

func TestPaymentOf(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	r := &notification.Record{Provider: "core", ReceivedAt: at, Payload: &notification.Payload{Amount: 150050, PaymentMethod: "card",
		TransactionDate: at.Add(-time.Hour), Customer: notification.Customer{Name: "Ada"}, AccountNumber: "0123456789"}}
	for state, want := range map[notification.State]Reached{notification.Pending: Waiting, notification.Delivered: Sent, notification.Dead: NeedsPerson} {
		r.State = state
		p, ok := PaymentOf(r)
		if !ok || p.Reached != want || p.Amount != 150050 || p.Method != "card" || !p.PaidAt.Equal(at.Add(-time.Hour)) {
			t.Errorf("%s: %+v", state, p)
		}
	}
	r.Payload.DateDefaulted = true
	if p, _ := PaymentOf(r); !p.PaidAt.IsZero() {
		t.Errorf("a defaulted date is given as the time paid: %v", p.PaidAt)
	}
	r.State = notification.Ignored
	if _, ok := PaymentOf(r); ok {
		t.Error("an ignored notification is shown as a payment")
	}
}

func TestMethodWords(t *testing.T) {
	for in, want := range map[string]string{"ACCOUNT_TRANSFER": "transfer", "CARD": "card", "card": "card", "POS": "POS", "USSD": "USSD",
		"CASH": "cash", "PHONE_NUMBER": "phone number", "": "payment", "MOBILE_MONEY": "mobile money", "A_VERY_LONG_METHOD_NAME_INDEED": "a very long method n"} {
		if got := methodWords(in); got != want {
			t.Errorf("methodWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAmountQuery(t *testing.T) {
	for in, want := range map[string]notification.Amount{
		"8200": 820000, "8,200": 820000, "8200.00": 820000, "₦8,200": 820000, "₦ 8,200.00": 820000, "N8200": 820000, "n8,200": 820000,
		"NGN8200": 820000, "ngn 8200": 820000, " 8200 ": 820000, "1,234,567.5": 123456750, "0.50": 50, "82": 8200,
	} {
		if got, ok := ParseAmountQuery(in); !ok || got != want {
			t.Errorf("ParseAmountQuery(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "8,20", "82,00", ",200", "8200.", "8200.123", "-8200", "0", "1e3", "8.200,00", "abc", "₦", "8 200", "12345678901234567"} {
		if got, ok := ParseAmountQuery(in); ok {
			t.Errorf("ParseAmountQuery(%q) = %v; want it refused", in, got)
		}
	}
}

func TestRecentAndMatching(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	var all []Payment // newest first, one a minute for 90 minutes
	for i := range 90 {
		all = append(all, Payment{ReceivedAt: now.Add(-time.Duration(i) * time.Minute), Amount: notification.Amount(100 * (i%2 + 1))})
	}
	if r := recent(all, now); len(r) != RecentMax || !r[0].ReceivedAt.Equal(now) {
		t.Errorf("recent: %d payments", len(r))
	}
	if r := recent(all[25:], now); len(r) != 6 { // 25..30 minutes ago
		t.Errorf("recent from 25 minutes ago: %d payments; want 6", len(r))
	}
	m := matching(all, 200, now)
	if len(m) != 30 || !m[0].ReceivedAt.Equal(now.Add(-time.Minute)) || now.Sub(m[len(m)-1].ReceivedAt) > SearchWindow {
		t.Errorf("matching: %d payments", len(m))
	}
}
