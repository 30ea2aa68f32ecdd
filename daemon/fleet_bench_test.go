package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	prompb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/fluxrelay/fluxrelay/remotewrite"
)

// BenchmarkRemoteWriteWire measures what one push costs on the wire, for
// docs/fleet.md: a gateway with four sources (two in the Fluxvend format,
// Monnify, Moniepoint POS) and a [[remote_write]] of its own, that has
// received and delivered payments, pushes what it would push to a
// receiver behind TLS (HTTP/2, a leaf and
// an intermediate certificate of RSA 2048, like Let's Encrypt's). Every
// byte of the receiver's connections is counted both ways (TLS records:
// the TCP payload). keepalive: one connection serves every push;
// resumed: each push on a new connection, its TLS session resumed (a NAT
// that forgot the connection); full: a new connection and a full
// handshake each time (no session to resume). Run in a network namespace
// of its own (docs/fleet.md), it also counts the TCP segments, and with
// their IP and TCP headers the bytes on the wire.
func BenchmarkRemoteWriteWire(b *testing.B) {
	for _, mode := range []string{"keepalive", "resumed", "full"} {
		b.Run(mode, func(b *testing.B) { benchWire(b, mode) })
	}
}

func benchWire(b *testing.B, mode string) {
	e := newEnv(b, nil)
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	b.Cleanup(own.Close)
	e.writeConfig(testSecret, `[[remote_write]]
url = "`+own.URL+`"
[[source]]
name = "monnify"
provider = "monnify"
secret = "MONNIFY_bench_secret"
allow = ["35.242.133.146/32"]
[[source]]
name = "moniepoint"
provider = "moniepoint-pos"
secret = "MONIEPOINT_bench_secret"
allow = ["141.147.77.31/32"]
`)
	e.named("Ikeja City Mall")
	r := e.start()
	for i := range 40 { // a morning's sales, a few sent twice
		post(b, r.url+"/notify/till", fmt.Sprintf(`{"transactionRef":"W-%d","amount":"%d.50","paymentMethod":"CARD"}`, i%35, 1000+i*37))
	}
	for deadline := time.Now().Add(15 * time.Second); len(e.core.Accepted()) < 35; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the sales were not delivered")
		}
	}

	recv := &wireReceiver{t: b}
	srv := httptest.NewUnstartedServer(recv)
	srv.Listener = &countingListener{Listener: srv.Listener, n: &recv.bytes}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{benchChain(b)}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	tr := remotewrite.NewTransport() // what a gateway pushes through
	tr.TLSClientConfig.RootCAs = benchRoots
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr) // prometheus.example.com is this receiver
	}
	if mode == "full" {
		tr.TLSClientConfig.ClientSessionCache = nil
	}
	p := remotewrite.New(remotewrite.Options{Gatherer: r.d.metrics.Registry(), Prefix: "fluxrelay_", UserAgent: "fluxrelay/0.2.0",
		Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}})
	p.Set("Ikeja City Mall", []remotewrite.Endpoint{{URL: "https://prometheus.example.com/api/v1/write", Interval: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })

	sent := func(n int64) {
		for deadline := time.Now().Add(30 * time.Second); p.Status()[0].Sent < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("push %d did not arrive: %+v", n, p.Status())
			}
		}
		if mode != "keepalive" {
			tr.CloseIdleConnections() // the next push comes on a new connection
		}
	}
	sent(1) // the first connection, its full handshake and the clock probe are not counted
	onlyLoopback := alone()
	segs0, bytes0, body0, pushes0 := tcpOutSegs(), recv.bytes.Load(), recv.body.Load(), recv.pushes.Load()
	b.ResetTimer()
	for i := range b.N {
		sent(int64(i) + 2)
	}
	b.StopTimer()
	n := float64(recv.pushes.Load() - pushes0)
	payload := float64(recv.bytes.Load()-bytes0) / n
	b.ReportMetric(payload, "tcp-payload-B/push")
	b.ReportMetric(float64(recv.body.Load()-body0)/n, "body-B/push")
	b.ReportMetric(float64(recv.series.Load()), "series/push")
	if onlyLoopback {
		segs := float64(tcpOutSegs()-segs0) / n
		b.ReportMetric(segs, "segments/push")
		b.ReportMetric(payload+segs*52, "wire-B/push") // IPv4 (20) and TCP with timestamps (32) per segment
	}
}

// wireReceiver takes pushes: it checks each is a WriteRequest and counts
// them, their bodies and the bytes its connections carry.
type wireReceiver struct {
	t                   testing.TB
	bytes, body, pushes atomic.Int64
	series              atomic.Int64 // in the last push
}

func (w *wireReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	compressed, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, compressed)
	req := &prompb.WriteRequest{}
	if err == nil {
		err = proto.Unmarshal(raw, req)
	}
	if err != nil {
		w.t.Errorf("a push is not a WriteRequest: %v", err)
	}
	if len(req.GetTimeseries()) > 0 {
		w.body.Add(int64(len(compressed)))
		w.series.Store(int64(len(req.GetTimeseries())))
		w.pushes.Add(1)
	}
	rw.WriteHeader(http.StatusNoContent)
}

// countingListener counts the bytes its connections read and write.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// alone reports whether this process has only the loopback interface (a
// network namespace of its own), where the kernel's TCP counters count
// nothing but the benchmark's segments.
func alone() bool {
	ifs, err := net.Interfaces()
	return err == nil && len(ifs) == 1 && ifs[0].Flags&net.FlagLoopback != 0
}

// tcpOutSegs is the kernel's count of TCP segments sent (Linux).
func tcpOutSegs() int64 {
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		return 0
	}
	defer f.Close()
	var names []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "OutSegs" && i < len(fields) {
				n, _ := strconv.ParseInt(fields[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

var (
	chainOnce  sync.Once
	benchCert  tls.Certificate
	benchRoots *x509.CertPool
)

// benchChain returns a receiver's certificate for prometheus.example.com,
// with the intermediate that signed it, under a root that is not sent:
// RSA 2048 below an RSA 4096 root, like a Let's Encrypt chain.
func benchChain(t testing.TB) tls.Certificate {
	chainOnce.Do(func() {
		issue := func(tmpl *x509.Certificate, bits int, parent *x509.Certificate, parentKey *rsa.PrivateKey) (*x509.Certificate, *rsa.PrivateKey) {
			key, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			if parent == nil {
				parent, parentKey = tmpl, key
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
			if err != nil {
				t.Fatal(err)
			}
			cert, _ := x509.ParseCertificate(der)
			return cert, key
		}
		now := time.Now()
		ca := func(serial int64, cn string) *x509.Certificate {
			return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Bench Trust"}, CommonName: cn},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
		}
		root, rootKey := issue(ca(1, "Bench Root X1"), 4096, nil, nil)
		inter, interKey := issue(ca(2, "R11"), 2048, root, rootKey)
		leaf, leafKey := issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "prometheus.example.com"},
			DNSNames: []string{"prometheus.example.com"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			OCSPServer: []string{"http://r11.o.lencr.org"}, IssuingCertificateURL: []string{"http://r11.i.lencr.org/"}}, 2048, inter, interKey)
		benchCert = tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.Raw}, PrivateKey: leafKey, Leaf: leaf}
		benchRoots = x509.NewCertPool()
		benchRoots.AddCert(root)
	})
	return benchCert
}
