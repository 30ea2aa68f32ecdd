package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fluxrelay/fluxrelay/internal/listen"
)

// listener is one listening address and whether it is up.
type listener struct {
	name, key, addr string
	up              bool
	err             string
}

var listenerKey = map[string]string{"http": "http.listen", "admin": "admin.listen", "page": "admin.page_listen",
	"mqtt": "mqtt.listen", "mqtt-broker": "mqtt.broker", "socket": "admin.socket"}

// serve runs an HTTP server on addr until ctx ends. A port that cannot be
// bound does not stop the daemon: it is tried again every few seconds and
// the state says what to do meanwhile. On ctx end it stops accepting and
// waits (a few seconds at most) for requests in flight.
func (d *Daemon) serve(ctx context.Context, name, addr string, h http.Handler, certFile, keyFile string) error {
	ln, err := listen.Retry(ctx, addr, func(err error) {
		d.setListener(name, addr, err)
		d.log.Error("cannot listen; trying again", "key", listenerKey[name], "addr", addr, "err", err)
	})
	if ln == nil {
		return err
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	d.setListener(name, ln.Addr().String(), nil)
	err = serveUntil(ctx, h, ln)
	d.setListener(name, "", errors.New("stopped"))
	return err
}

// serveUntil serves h on ln until ctx ends, then stops accepting and waits
// (5 s at most) for the requests in flight.
func serveUntil(ctx context.Context, h http.Handler, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx) // a Serve that fails by itself ends the shutdown goroutine too
	defer cancel()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	cancel()
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serveSocket serves the admin API on a Unix socket that only root and the
// group fluxrelay may use (mode 0660): what `fluxrelay status` and
// `fluxrelay dlq` talk to.
func (d *Daemon) serveSocket(ctx context.Context, path string, h http.Handler) error {
	_, statErr := os.Stat(filepath.Dir(path))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		d.setListener("socket", path, err)
		return nil
	}
	if os.IsNotExist(statErr) {
		_ = os.Chmod(filepath.Dir(path), 0o750) // the group fluxrelay reaches the socket, whatever the umask
	}
	_ = os.Remove(path) // a stale socket from a crash
	ln, err := net.Listen("unix", path)
	if err != nil {
		d.setListener("socket", path, err)
		d.log.Error("cannot open the admin socket", "key", "admin.socket", "path", path, "err", err)
		return nil
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return err
	}
	if g, err := user.LookupGroup("fluxrelay"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			_ = os.Chown(path, -1, gid)
		}
	}
	d.setListener("socket", path, nil)
	err = serveUntil(ctx, h, ln)
	d.setListener("socket", "", errors.New("stopped"))
	_ = os.Remove(path)
	return err
}

func (d *Daemon) setListener(name, addr string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := &listener{name: name, key: listenerKey[name], addr: addr, up: err == nil}
	if err != nil {
		l.err = err.Error()
	}
	d.listeners[name] = l
	select {
	case d.boundCh <- struct{}{}:
	default:
	}
}

// Addr returns the address the named listener ("http", "admin") is bound
// to, waiting up to timeout for it to come up. Tests listen on port 0.
func (d *Daemon) Addr(name string, timeout time.Duration) string {
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		l := d.listeners[name]
		d.mu.Unlock()
		if l != nil && l.up {
			return l.addr
		}
		select {
		case <-d.boundCh:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			return ""
		}
	}
}
