package notification

import (
	"encoding/json"
	"testing"
)

// TestParseProviderAmount pins the float-artifact rule: within 0.000001
// naira of a whole kobo amount is that amount; anything else is refused.
func TestParseProviderAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Amount // 0: refused
	}{
		{`4946.249999999999`, 494625},   // PHP's 4946.25
		{`4946.250000000001`, 494625},   // and from above
		{`"4946.249999999999"`, 494625}, // as a string too
		{`0.30000000000000004`, 30},     // JavaScript's 0.1+0.2
		{`0.009999999`, 1},              // rounds up into the first kobo
		{`15750`, 1575000},
		{`"15750.5"`, 1575050},
		{`100.000001`, 10000}, // exactly 0.000001 naira off: accepted
		{`100.0000011`, 0},    // just past it
		{`100.005`, 0},        // half a kobo is not an artifact
		{`100.249`, 0},        // three real decimals
		{`1e3`, 0},            // exponents are not guessed at
		{`-5.00`, 0},          // nor signs
		{`0.000000001`, 0},    // nothing
		{`"abc"`, 0},
		{`99999999999999999.999999`, 0}, // too large
	} {
		got, err := ParseProviderAmount(json.RawMessage(c.in))
		if c.want == 0 {
			if err == nil {
				t.Errorf("%s: got %s, want a refusal", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// TestAmountZeroRoundTrips: a record held with no amount is stored as
// 0.00 and must read back, or the record could never be shown or dropped.
func TestAmountZeroRoundTrips(t *testing.T) {
	var p Payload
	if err := json.Unmarshal([]byte(`{"amount":0.00}`), &p); err != nil || p.Amount != 0 {
		t.Fatalf("0.00 read back as %s, %v", p.Amount, err)
	}
	for _, bad := range []string{`-1.00`, `0.001`, `"abc"`} {
		var a Amount
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("%s read as %s; want an error", bad, a)
		}
	}
}
