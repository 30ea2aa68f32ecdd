package notification

import (
	"crypto/sha256"
	"encoding/hex"
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
	a, b := NewID("monnify", "monnify", "t1", "MNFY|1"), NewID("monnify", "monnify", "t1", "MNFY|1")
	if a != b || len(a) != 32 {
		t.Errorf("ids %q and %q", a, b)
	}
	for _, other := range []string{NewID("shop2", "monnify", "t1", "MNFY|1"), NewID("monnify", "opay", "t1", "MNFY|1"),
		NewID("monnify", "monnify", "t2", "MNFY|1"), NewID("monnify", "monnify", "t1", "MNFY|2"), NewID("monnify", "monnify", "t1M", "NFY|1"),
		LegacyID("monnify", "t1", "MNFY|1")} {
		if other == a {
			t.Errorf("different inputs give the same id %s", a)
		}
	}
}

// TestLegacyIDIsTheOldScheme pins LegacyID to the id earlier releases
// computed (sha256 of "len:part;" for provider, tenant and dedup key).
func TestLegacyIDIsTheOldScheme(t *testing.T) {
	sum := sha256.Sum256([]byte("4:core;4:acme;6:SALE-1;"))
	if got, want := LegacyID("core", "acme", "SALE-1"), hex.EncodeToString(sum[:16]); got != want {
		t.Errorf("LegacyID = %s; want %s", got, want)
	}
}

func TestDiffFields(t *testing.T) {
	a := (&Payload{TransactionRef: "R", Amount: 820000, Customer: Customer{Name: "AMAKA EXAMPLE", Phone: "08031234567"}}).Fingerprint()
	b := (&Payload{TransactionRef: "R", Amount: 100, Customer: Customer{Name: "MALLAM FAKE", Phone: "08099999999"}, AccountNumber: "0123456789"}).Fingerprint()
	got := DiffFields(a, b)
	if got != "amount 1.00 was 8200.00; customer, accountNumber differ" {
		t.Errorf("DiffFields = %q", got)
	}
	for _, leak := range []string{"AMAKA", "MALLAM", "0803", "0809", "0123456789"} {
		if strings.Contains(got, leak) {
			t.Errorf("the conflict names customer data %q: %s", leak, got)
		}
	}
}

// TestFingerprintIsCanonical: a resend whose extra keys come in another
// order, or whose numbers are spelled otherwise, has the same fingerprint;
// another value does not.
func TestFingerprintIsCanonical(t *testing.T) {
	p := func(extra ...Field) *Payload { return &Payload{TransactionRef: "R", Amount: 820000, Extra: extra} }
	a := p(Field{"till", []byte(`{"b":1,"a":[1.50,"x"]}`)}, Field{"lane", []byte(`7`)}).Fingerprint()
	b := p(Field{"lane", []byte(`7.0`)}, Field{"till", []byte(`{ "a" : [ 15e-1 , "\u0078" ] , "b" : 1 }`)}).Fingerprint()
	if string(a) != string(b) {
		t.Errorf("the same content in another order or spelling:\n%s\n%s", a, b)
	}
	c := p(Field{"lane", []byte(`8`)}, Field{"till", []byte(`{"a":[1.5,"x"],"b":1}`)}).Fingerprint()
	if string(a) == string(c) {
		t.Errorf("another value has the same fingerprint: %s", c)
	}
	r := &Record{Payload: p(Field{"lane", []byte(`7`)})}
	fps := r.Fingerprints()
	if len(fps) != 2 || string(fps[0]) != string(r.Fingerprint()) || string(fps[1]) != string(r.Payload.render(true)) {
		t.Errorf("Fingerprints = %q; want the canonical form, then the form earlier releases stored", fps)
	}
	ignored := &Record{Delivery: Delivery{Reason: "not a sale"}}
	if fps := ignored.Fingerprints(); len(fps) != 1 || string(fps[0]) != `{"ignored":"not a sale"}` {
		t.Errorf("an ignored record's fingerprints: %q", fps)
	}
}

func TestCanonicalNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "0.000": "0", "8200.00": "8200", "8.2e3": "8200", "82E+2": "8200", "1500.50": "1500.5",
		"0.05": "0.05", "5e-2": "0.05", "-12.340": "-12.34", "100": "100", "1e2": "100",
		"123456789012345678901234567890": "123456789012345678901234567890", "1e60": "1e60", "1e-60": "1e-60",
		"99999999999999999999.99": "99999999999999999999.99",
	} {
		if got := string(Canonical([]byte(in))); got != want {
			t.Errorf("Canonical(%s) = %s; want %s", in, got, want)
		}
	}
}

// TestCredentialHeader: every header that may carry a credential is
// recognised, and the signatures a raw forward needs are not.
func TestCredentialHeader(t *testing.T) {
	for _, h := range []string{"X-Vesicash-Webhook-Secret", "mor-signature", "VESI_SEC", "Authorization", "Proxy-Authorization",
		"Cookie", "X-Api-Key", "x-auth-token", "X-Merchant-Key", "Private-Key", "X-Session-Id"} {
		if !CredentialHeader(h) {
			t.Errorf("%s is not redacted", h)
		}
	}
	for _, h := range []string{"monnify-signature", "moniepoint-webhook-signature", "Signature", "Content-Type", "merchantId", "X-Opay-Tranid", "Idempotency-Key"} {
		if CredentialHeader(h) {
			t.Errorf("%s is redacted", h)
		}
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
