package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxrelay/fluxrelay/ingest"
	"github.com/fluxrelay/fluxrelay/provider"
	"github.com/fluxrelay/fluxrelay/store/storetest"
)

type panicky struct{ inVerify bool }

func (p panicky) Verify(*provider.Request) error {
	if p.inVerify {
		panic("verify broke")
	}
	return nil
}

func (panicky) Verification() string { return "none" }

func (panicky) Parse(req *provider.Request) (*provider.Parsed, error) {
	fields := bytes.Fields(req.Body)
	_ = fields[len(fields)] // read past the end: the parser's own bug
	return nil, nil
}

// TestPanicIsRefusedNotFatal: a panic in a provider's verify or parse path
// is answered 400 with a JSON error, stores nothing, is counted, and is
// logged once with the source, never the body.
func TestPanicIsRefusedNotFatal(t *testing.T) {
	for _, inVerify := range []bool{true, false} {
		var logs bytes.Buffer
		mem := storetest.NewMemory()
		in := ingest.NewIntake(mem, slog.New(slog.NewTextHandler(&logs, nil)), time.Now)
		in.SetSources([]*ingest.Source{{Name: "shop-monnify", Provider: "monnify", Verifier: panicky{inVerify: inVerify}}})
		body := []byte(`{"customer":"AMAKA EXAMPLE 08031234567"}`)
		a := in.Accept(context.Background(), "shop-monnify", &provider.Request{Body: body, Header: http.Header{}, Received: time.Now()}, ingest.Meta{})
		if a.Outcome != ingest.BadInput || a.Error == "" || a.Status != "" {
			t.Errorf("inVerify %v: answered %+v; want a 400 with an error", inVerify, a)
		}
		if n := mem.Stats().Pending + mem.Stats().Dead; n != 0 {
			t.Errorf("inVerify %v: %d stored; want none", inVerify, n)
		}
		if p := in.Stats.Source("shop-monnify").Panics.Load(); p != 1 {
			t.Errorf("inVerify %v: panics counted %d; want 1", inVerify, p)
		}
		out := logs.String()
		if strings.Count(out, "level=ERROR") != 1 || !strings.Contains(out, "source=shop-monnify") {
			t.Errorf("inVerify %v: want one ERROR line naming the source; got %s", inVerify, out)
		}
		if strings.Contains(out, "AMAKA") || strings.Contains(out, "verify broke") {
			t.Errorf("inVerify %v: the log shows the body or the panic's text: %s", inVerify, out)
		}
	}
}
