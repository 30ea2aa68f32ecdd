package provider

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestHeldKeepsProviderRefs: a notification that is held, whether its
// parser could not map it or it had nothing to send, carries the
// provider's references where they can be read, so that find finds it.
func TestHeldKeepsProviderRefs(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Provider
		body string
		want []string
	}{
		{"Monnify, an amount that cannot be read", &Monnify{}, `{"eventType":"SUCCESSFUL_TRANSACTION","eventData":{"transactionReference":"MNFY|99|1","paymentReference":"INV-7","amountPaid":"ten"}}`, []string{"MNFY|99|1", "INV-7"}},
		{"Moniepoint, an unknown status", &Moniepoint{}, `{"eventId":"ev-1","data":{"transactionReference":"MP-42","transactionStatus":"WEIRD"}}`, []string{"MP-42"}},
		{"Vesicash, a success without an amount", &Vesicash{Mode: "none"}, `{"event":"payment.success","data":{"reference":"VSC-9"}}`, []string{"VSC-9"}},
		{"nothing to read", &Monnify{}, `{"eventType":"SOMETHING_NEW","eventData":[1,2]}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Holding(c.p, "acme")
			parsed, err := p.Parse(&Request{Body: []byte(c.body), Header: http.Header{}, Received: time.Now()})
			if err != nil || parsed.Held == "" {
				t.Fatalf("not held: %+v, %v", parsed, err)
			}
			if !slices.Equal(parsed.Refs, c.want) {
				t.Errorf("refs %q; want %q", parsed.Refs, c.want)
			}
		})
	}
}
