package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluxrelay/fluxrelay/daemon"
)

// probeTimeout bounds each network probe.
const probeTimeout = 10 * time.Second

// probeCore resolves Fluxvend's host, connects to its port and, for https,
// completes a TLS handshake and checks the certificate. It sends no HTTP
// request: Fluxvend would answer one without a valid signature with a 401,
// in its logs as a failed delivery from this gateway.
func probeCore(e *doctorEnv) []check {
	if e.cfg == nil {
		return nil
	}
	if e.cfg.Core.URL == "" {
		return []check{{"WARN", "core", "core.url is empty: notifications are stored, not delivered — copy the Fluxvend Core webhook URL from the portal into [core]"}}
	}
	u, err := url.Parse(e.cfg.Core.URL)
	if err != nil {
		return []check{{"FAIL", "core", "core.url is not a URL — copy it again from the portal"}}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return []check{{"FAIL", "core", fmt.Sprintf("cannot resolve %s (%v) — check DNS (resolvectl status) and the internet connection", host, err)}}
	}
	out := []check{{"OK", "core dns", fmt.Sprintf("%s is %s", host, strings.Join(addrs, ", "))}}
	target := net.JoinHostPort(host, port)
	conn, err := (&net.Dialer{Timeout: probeTimeout}).DialContext(ctx, "tcp", target)
	if err != nil {
		return append(out, check{"FAIL", "core", fmt.Sprintf("cannot connect to %s (%v) — check the internet connection and the firewall", target, err)})
	}
	if u.Scheme != "https" {
		conn.Close()
		return append(out, check{"OK", "core", fmt.Sprintf("%s accepts connections (connected and closed; no request sent)", target)})
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host})
	tc.SetDeadline(time.Now().Add(probeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return append(out, check{"FAIL", "core tls", fmt.Sprintf("TLS to %s failed (%v) — is the clock right? is a proxy intercepting HTTPS?", host, err)})
	}
	cert := tc.ConnectionState().PeerCertificates[0]
	tc.Close()
	return append(out, check{"OK", "core tls", fmt.Sprintf("%s: TLS handshake done, certificate valid until %s (no request sent)", target, cert.NotAfter.Format("2006-01-02"))})
}

// probeMQTT checks the way terminals reach the gateway over MQTT.
func probeMQTT(e *doctorEnv) []check {
	if e.cfg == nil {
		return nil
	}
	m := e.cfg.MQTT
	switch m.Mode {
	case "embedded":
		out := []check{listenCheck(e, "mqtt", "mqtt", "mqtt.listen", m.Listen)}
		if len(m.Users) == 0 {
			out = append(out, check{"WARN", "mqtt", "no [[mqtt.user]]: no terminal can publish — add one per terminal"})
		}
		return out
	case "external":
		if e.st != nil {
			l := e.st.Listeners["mqtt-broker"]
			if l.Up {
				return []check{{"OK", "mqtt", "the running daemon is connected to the broker " + m.Broker}}
			}
			return []check{{"FAIL", "mqtt", fmt.Sprintf("the running daemon cannot reach the broker %s (%s) — check that it runs and is reachable, and mqtt.username and mqtt.password", m.Broker, l.Error)}}
		}
		return []check{brokerLogin(e)}
	}
	return nil
}

// brokerLogin logs in to the external broker as the daemon would, under a
// client id of its own (the daemon's would take over its session), with a
// clean session, and disconnects cleanly: the broker logs a client that
// came and went, not a fault.
func brokerLogin(e *doctorEnv) check {
	m := e.cfg.MQTT
	tc, err := daemon.BrokerTLS(m)
	if err != nil {
		return check{"FAIL", "mqtt", err.Error()}
	}
	id := fmt.Sprintf("fluxrelay-doctor-%d", os.Getpid())
	o := paho.NewClientOptions().AddBroker(m.Broker).SetClientID(id).SetCleanSession(true).
		SetUsername(m.Username).SetPassword(m.Password.Value()).SetConnectTimeout(probeTimeout).
		SetAutoReconnect(false).SetConnectRetry(false).SetTLSConfig(tc)
	c := paho.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(probeTimeout + time.Second) {
		return check{"FAIL", "mqtt", fmt.Sprintf("the broker %s did not answer a login within %s — check that it runs and is reachable from this gateway", m.Broker, probeTimeout)}
	}
	if err := t.Error(); err != nil {
		return check{"FAIL", "mqtt", fmt.Sprintf("cannot log in to the broker %s (%v) — check that it runs, mqtt.username and mqtt.password", m.Broker, err)}
	}
	c.Disconnect(250)
	return check{"OK", "mqtt", fmt.Sprintf("logged in to the broker %s as %q (client id %s) and disconnected", m.Broker, m.Username, id)}
}
