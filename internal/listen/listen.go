// Package listen binds a TCP listener that does not give up: a port that
// is taken (or an address not yet up) is tried again every few seconds,
// so that a listener that cannot bind never stops the daemon.
package listen

import (
	"context"
	"net"
	"time"
)

// Every is how long to wait before trying a taken port again.
const Every = 5 * time.Second

// Retry listens on addr, trying again every Every until it can or ctx
// ends (then it returns nil, nil). failed, when set, is told each failure,
// so that the state can say what to do meanwhile.
func Retry(ctx context.Context, addr string, failed func(error)) (net.Listener, error) {
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if failed != nil {
			failed(err)
		}
		t := time.NewTimer(Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
	}
}
