package upgrade

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// What a notification is meant to become.
type kind string

const (
	sale    kind = "delivered"   // the core takes it
	dead    kind = "dead letter" // the core answers 422
	ignored kind = "ignored"     // a Monnify refund: not a sale
	held    kind = "held"        // a verified Monnify event no adapter maps
	pending kind = "waiting"     // sent while the core is down
)

// Sales meant to be dead letters have this prefix: the fake core refuses
// them with 422.
const deadPrefix = "DL-"

// sent is one notification the test sent and the gateway acknowledged.
type sent struct {
	kind    kind
	ref     string // transactionRef, or the Monnify event's reference
	id      string // the id the gateway answered
	kobo    int64
	big     bool // large enough for the value log in every release
	dropped bool // a dead letter dropped with dlq drop
	by      string
}

func (s *sent) amount() string { return fmt.Sprintf("%d.%02d", s.kobo/100, s.kobo%100) }

// ledger is everything sent to one gateway, in order.
type ledger struct {
	t   *testing.T
	g   *gateway
	all []*sent
	rng *rand.Rand
	n   int
	// long and short are the shared part of a sale's note: dead letters
	// carry the long one, the rest the short one.
	long, short string
}

func newLedger(t *testing.T, g *gateway, seed uint64) *ledger {
	rng := rand.New(rand.NewPCG(seed, 25))
	return &ledger{t: t, g: g, rng: rng, long: words(rng, deadNote), short: words(rng, 200)}
}

// deadNote makes a dead letter about 50 KB as stored (its note is in the
// body and in the mapped payload). In the releases that kept records of
// 512 bytes or more in the value log, dead letters then make most of it,
// and with every other one dropped, most of each value-log file is
// garbage: well over the half that collection needs to move a file.
const deadNote = 24 << 10

// words is text that compresses about as well as a real note does.
func words(rng *rand.Rand, n int) string {
	vocab := strings.Fields("paid till shop receipt card transfer customer amount naira kobo pos terminal bank reference sale lagos ikeja yaba market stall agent cashier")
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(vocab[rng.IntN(len(vocab))])
		b.WriteByte(' ')
		if rng.IntN(8) == 0 {
			fmt.Fprintf(&b, "%d ", rng.IntN(1_000_000))
		}
	}
	return b.String()[:n]
}

// noise is text that does not compress: base64 of random bytes.
func noise(rng *rand.Rand, n int) string {
	raw := make([]byte, n*3/4)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// sale sends one core-format sale and records it.
func (l *ledger) sale(k kind, by string, big bool) *sent {
	l.t.Helper()
	l.n++
	ref := fmt.Sprintf("UP-%s-%04d", by, l.n)
	if k == dead {
		ref = deadPrefix + ref
	}
	if k == pending {
		ref = "WAIT-" + ref
	}
	s := &sent{kind: k, ref: ref, kobo: 10_000 + int64(l.n)*137, big: big, by: by}
	note := l.short
	if k == dead {
		note = l.long
	}
	if big {
		note = noise(l.rng, 100<<10) // ~75 KB compressed, over the 64 KB threshold
	}
	body, _ := json.Marshal(map[string]string{
		"transactionRef": ref, "paymentRef": "PAY-" + ref, "amount": s.amount(),
		"paymentMethod": "CARD", "note": fmt.Sprintf("%d %s", l.n, note),
	})
	s.id = l.post("/notify/till", body, nil, "queued")
	l.all = append(l.all, s)
	return s
}

// monnify sends a verified Monnify event: a refund (ignored) or an event
// no adapter maps (held, in the releases that hold).
func (l *ledger) monnify(k kind, by string) *sent {
	l.t.Helper()
	l.n++
	s := &sent{kind: k, by: by}
	var body []byte
	if k == ignored {
		s.ref = fmt.Sprintf("RFD-%s-%04d", by, l.n)
		body = fmt.Appendf(nil, `{"eventType":"SUCCESSFUL_REFUND","eventData":{"refundReference":%q,"transactionReference":"MNFY|%s","refundAmount":1500,"refundStatus":"COMPLETED"}}`, s.ref, s.ref)
	} else {
		s.ref = fmt.Sprintf("MNFY|HELD|%s|%04d", by, l.n)
		body = fmt.Appendf(nil, `{"eventType":"SUCCESSFUL_COLLECTION_V2","eventData":{"transactionReference":%q,"amountPaid":"2500.00"}}`, s.ref)
	}
	m := hmac.New(sha512.New, []byte(monnifySecret))
	m.Write(body)
	s.id = l.post("/notify/monnify", body, map[string]string{"monnify-signature": hex.EncodeToString(m.Sum(nil))}, string(k))
	l.all = append(l.all, s)
	return s
}

// post sends a body and checks the answer's status word; it returns the id.
func (l *ledger) post(path string, body []byte, header map[string]string, want string) string {
	l.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+l.g.ingest+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		l.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a struct{ Status, ID string }
	_ = json.Unmarshal(raw, &a)
	if resp.StatusCode != http.StatusOK || a.Status != want || a.ID == "" {
		l.t.Fatalf("POST %s: %d %s; want 200 %s with an id", path, resp.StatusCode, raw, want)
	}
	return a.ID
}

// of returns what was sent of kinds ks.
func (l *ledger) of(ks ...kind) []*sent {
	var out []*sent
	for _, s := range l.all {
		for _, k := range ks {
			if s.kind == k {
				out = append(out, s)
			}
		}
	}
	return out
}

// waitingPersons counts the dead letters and held notifications not dropped.
func (l *ledger) waitingPersons() int64 {
	var n int64
	for _, s := range l.of(dead, held) {
		if !s.dropped {
			n++
		}
	}
	return n
}
