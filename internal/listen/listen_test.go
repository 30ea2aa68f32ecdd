package listen

import (
	"context"
	"net"
	"testing"
)

func TestRetryStopsWithContext(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var failures []error
	ln, err := Retry(ctx, taken.Addr().String(), func(err error) { failures = append(failures, err); cancel() })
	if ln != nil || err != nil || len(failures) != 1 {
		t.Fatalf("a taken port gave %v, %v after %d failures; want nothing once ctx ends after the first", ln, err, len(failures))
	}
	ln, err = Retry(context.Background(), "127.0.0.1:0", nil)
	if err != nil || ln == nil {
		t.Fatalf("a free port: %v", err)
	}
	ln.Close()
}
