package notification

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSignatureVectors checks Sign and Verify against the golden vectors in
// testdata/SIGNATURE.txt (computed with openssl and node), both key modes.
func TestSignatureVectors(t *testing.T) {
	const apiKey, apiSecret = "FXK_demo_key_0001", "FXS_demo_secret_0001"
	for _, v := range []struct{ file, mode, want string }{
		{"core_from_monnify_reserved_account.body.json", "secret", "TaVmkvBtNF2H3I2Kz/2oNT/4AQYbS4yLMsbYTuQfaL8="},
		{"core_from_monnify_reserved_account.body.json", "key:secret", "a0N707YgX95WB01c0fO3Fa40n0P8Wrhp1PidbHPCHto="},
		{"core_from_opay_cashier_card.body.json", "secret", "zZPeqhgha71G/hBuTkINXUrxlk1tTHQYgWWF6QFi+Qg="},
		{"core_from_opay_cashier_card.body.json", "key:secret", "O1kCJS3cVyn0RBaQ9ufIXqQVAwkLj8KmT+mcS63B21Y="},
	} {
		body, err := os.ReadFile("testdata/" + v.file)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := os.ReadFile("testdata/SIGNATURE.txt")
		if !strings.Contains(string(sig), v.want) {
			t.Fatalf("vector %s is not in SIGNATURE.txt", v.want)
		}
		key := SigningKey(v.mode, apiKey, apiSecret)
		if got := Sign(key, body); got != v.want {
			t.Errorf("%s %s: Sign = %s; want %s", v.file, v.mode, got, v.want)
		}
		if !Verify(key, body, v.want) {
			t.Errorf("%s %s: Verify refused the golden signature", v.file, v.mode)
		}
		body[10] ^= 1
		if Verify(key, body, v.want) {
			t.Errorf("%s %s: Verify accepted a changed body", v.file, v.mode)
		}
	}
}

func TestAmount(t *testing.T) {
	for in, want := range map[string]string{"1000": "1000.00", "15750.5": "15750.50", "0.01": "0.01", "1500.50": "1500.50", `"180000.00"`: "180000.00"} {
		a, err := ParseAmountJSON([]byte(in))
		if err != nil || a.String() != want {
			t.Errorf("ParseAmountJSON(%s) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, bad := range []string{"0", "0.00", "-5", "1.234", "1e3", `"abc"`, `""`, "null", "true", ".5", "5.", "1,000", `"1 000"`, "99999999999999999999"} {
		if a, err := ParseAmountJSON([]byte(bad)); err == nil {
			t.Errorf("ParseAmountJSON(%s) = %v; want an error", bad, a)
		}
	}
	if a, _ := AmountFromKobo("1575050"); a.String() != "15750.50" {
		t.Errorf("AmountFromKobo = %v", a)
	}
}

// TestRenderOrder checks the wire form: every documented key present, in
// the documented order, amount with two decimals, then the extra keys.
func TestRenderOrder(t *testing.T) {
	p := &Payload{TenantID: "t", TransactionRef: "R1", Amount: 100000, TransactionDate: time.Date(2024, 8, 13, 16, 30, 0, 0, time.FixedZone("WAT", 3600)),
		Customer: Customer{Name: "Ada <&>"}, Extra: []Field{{"zeta", []byte(`1`)}, {"alpha", []byte(`{"x":true}`)}}}
	want := `{"tenantId":"t","transactionRef":"R1","paymentRef":"","paymentMethod":"","amount":1000.00,"customer":{"id":"","name":"Ada <&>","email":"","phone":""},"transactionDate":"2024-08-13T15:30:00Z","accountNumber":"","bankCode":"","bankName":"","accountName":"","zeta":1,"alpha":{"x":true}}`
	if got := string(p.Render()); got != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
	p.DateDefaulted = true
	if fp := string(p.Fingerprint()); !strings.Contains(fp, `"transactionDate":""`) {
		t.Errorf("a defaulted date is part of the fingerprint: %s", fp)
	}
}

func TestIDIsDeterministic(t *testing.T) {
	a, b := NewID("monnify", "t1", "MNFY|1"), NewID("monnify", "t1", "MNFY|1")
	if a != b || len(a) != 32 {
		t.Errorf("ids %q and %q", a, b)
	}
	for _, other := range []string{NewID("opay", "t1", "MNFY|1"), NewID("monnify", "t2", "MNFY|1"), NewID("monnify", "t1", "MNFY|2"), NewID("monnify", "t1M", "NFY|1")} {
		if other == a {
			t.Errorf("different inputs give the same id %s", a)
		}
	}
}

func TestDiffFields(t *testing.T) {
	a := (&Payload{TransactionRef: "R", Amount: 100}).Fingerprint()
	b := (&Payload{TransactionRef: "R", Amount: 250}).Fingerprint()
	if got := DiffFields(a, b); got != "amount 2.50 was 1.00" {
		t.Errorf("DiffFields = %q", got)
	}
}

// TestTrailIsBounded: a notification tried for days keeps its first and
// its last attempts, and counts those in between.
func TestTrailIsBounded(t *testing.T) {
	var d Delivery
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for i := range 50 {
		d.Note(Attempt{At: t0.Add(time.Duration(i) * time.Minute), Status: 500 + i})
	}
	if len(d.Trail) != TrailKeep || d.TrailLeftOut != 50-TrailKeep {
		t.Fatalf("trail of %d, %d left out; want %d and %d", len(d.Trail), d.TrailLeftOut, TrailKeep, 50-TrailKeep)
	}
	if d.Trail[0].Status != 500 || d.Trail[TrailFirst-1].Status != 502 || d.Trail[TrailFirst].Status != 500+50-(TrailKeep-TrailFirst) || d.Trail[TrailKeep-1].Status != 549 {
		t.Errorf("kept %v; want the first %d and the last %d", d.Trail, TrailFirst, TrailKeep-TrailFirst)
	}
}
