package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/ingest/mqttingest"
)

// runBroker runs the embedded broker until ctx ends.
func (d *Daemon) runBroker(ctx context.Context, cfg *config.Config) error {
	m := cfg.MQTT
	if m.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(m.TLSCertFile, m.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("mqtt.tls_cert_file: %w", err)
		}
		d.broker.SetTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	return d.broker.Run(ctx)
}

// runSubscriber runs the subscription to an external broker until ctx ends.
func (d *Daemon) runSubscriber(ctx context.Context, cfg *config.Config) error {
	m := cfg.MQTT
	tc, err := BrokerTLS(m)
	if err != nil {
		return err
	}
	status := ""
	if m.PublishStatus {
		status = mqttingest.StatusTopic(m.TopicPrefix, cfg.GatewayName())
	}
	sub := mqttingest.NewSubscriber(d.intake, mqttingest.SubscriberOptions{
		Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: m.Password.Value(),
		TopicPrefix: m.TopicPrefix, SharedGroup: m.SharedGroup, TLS: tc, StatusTopic: status,
		Logger: d.log.With("component", "mqtt"), Now: d.opts.Now,
		OnState: func(up bool, err error) {
			if up {
				err = nil
			} else if err == nil {
				err = errors.New("not connected")
			}
			d.setListener("mqtt-broker", m.Broker, err)
		},
	})
	d.setListener("mqtt-broker", m.Broker, errors.New("connecting"))
	return sub.Run(ctx)
}

// BrokerTLS builds the TLS settings for an external broker: its CA, and a
// client certificate when one is configured; nil when none is. The doctor
// logs in with the same.
func BrokerTLS(m config.MQTT) (*tls.Config, error) {
	if m.CAFile == "" && m.TLSCertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.ca_file %s holds no PEM certificate", m.CAFile)
		}
	}
	if m.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(m.TLSCertFile, m.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls_cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
