package provider

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/notification"
)

var received = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

func coreReq(body string) *Request {
	return &Request{Body: []byte(body), Header: http.Header{}, Received: received}
}

func TestCoreParse(t *testing.T) {
	c := &Core{Tenant: "acme"}
	p, err := c.Parse(coreReq(`{"transactionRef":"R1","amount":"1500.5","zeta":[1, 2],"customer":{"name":"Ada","id":null},"paymentMethod":"CARD","alpha":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tenantId":"acme","transactionRef":"R1","paymentRef":"","paymentMethod":"CARD","amount":1500.50,"customer":{"id":"","name":"Ada","email":"","phone":""},"transactionDate":"2026-03-14T10:00:00Z","accountNumber":"","bankCode":"","bankName":"","accountName":"","zeta":[1,2],"alpha":null}`
	if got := string(p.Payload.Render()); got != want {
		t.Errorf("render =\n%s\nwant\n%s", got, want)
	}
	if p.DedupKey != "R1" || p.Tenant != "acme" || !p.Payload.DateDefaulted {
		t.Errorf("parsed = %+v", p)
	}
	p, err = c.Parse(coreReq(`{"tenantId":"acme","transactionRef":"R2","amount":10,"transactionDate":"2024-08-13T16:30:00+01:00"}`))
	if err != nil || !p.Payload.TransactionDate.Equal(time.Date(2024, 8, 13, 15, 30, 0, 0, time.UTC)) || p.Payload.DateDefaulted {
		t.Errorf("given date: %+v, %v", p, err)
	}
}

// TestCoreBadInput checks that each malformed body is a 400 whose message
// names what is wrong.
func TestCoreBadInput(t *testing.T) {
	c := &Core{Tenant: "acme"}
	for body, want := range map[string]string{
		``:                                                   "not JSON",
		`{"transactionRef":"R1",`:                            "not valid JSON",
		`[1,2]`:                                              "not a JSON object",
		`{"amount":5}`:                                       "transactionRef: missing",
		`{"transactionRef":"  ","amount":5}`:                 "transactionRef: missing",
		`{"transactionRef":"R"}`:                             "amount: missing",
		`{"transactionRef":"R","amount":0}`:                  "amount: got 0",
		`{"transactionRef":"R","amount":-1}`:                 "amount: got -1",
		`{"transactionRef":"R","amount":1.234}`:              "amount: got 1.234",
		`{"transactionRef":"R","amount":"ten"}`:              "amount: got \"ten\"",
		`{"transactionRef":"R","amount":1e3}`:                "amount: got 1e3",
		`{"transactionRef":5,"amount":5}`:                    "transactionRef: got 5, want a string",
		`{"transactionRef":"R","amount":5,"customer":"Ada"}`: "customer: got \"Ada\"",
		`{"transactionRef":"R","amount":5,"customer":{"phone":234}}`:      "customer.phone: got 234",
		`{"transactionRef":"R","amount":5,"tenantId":"other"}`:            `tenantId: got "other", but this source belongs to tenant "acme"`,
		`{"transactionRef":"R","amount":5,"transactionDate":"yesterday"}`: "transactionDate: got \"yesterday\"",
		`{"transactionRef":"R","amount":5,"amount":6}`:                    "amount: given twice",
		`{"transactionRef":"R","amount":5} {}`:                            "more after the JSON object",
	} {
		_, err := c.Parse(coreReq(body))
		var pe *Error
		if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
			t.Errorf("Parse(%s) = %v; want a 400", body, err)
			continue
		}
		if !strings.Contains(pe.Msg, want) {
			t.Errorf("Parse(%s) message %q does not say %q", body, pe.Msg, want)
		}
	}
}

func TestCoreVerify(t *testing.T) {
	body := `{"transactionRef":"R1","amount":5}`
	c := &Core{Secret: "till-secret"}
	good := coreReq(body)
	good.Header.Set("Signature", notification.Sign("till-secret", []byte(body)))
	if err := c.Verify(good); err != nil {
		t.Errorf("good signature refused: %v", err)
	}
	changed := coreReq(body[:len(body)-2] + "6}")
	changed.Header = good.Header
	for name, req := range map[string]*Request{"missing": coreReq(body), "changed body": changed} {
		var pe *Error
		if err := c.Verify(req); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
			t.Errorf("%s: Verify = %v; want 401", name, err)
		}
	}
	if err := (&Core{}).Verify(coreReq(body)); err != nil {
		t.Errorf("a source without a secret refused an unsigned request: %v", err)
	}
}
