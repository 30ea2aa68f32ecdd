package daemon

import (
	"github.com/fluxrelay/fluxrelay/admin"
	"github.com/fluxrelay/fluxrelay/config"
	"github.com/fluxrelay/fluxrelay/remotewrite"
)

// newPusher returns the remote-write pusher: it pushes the fluxrelay_*
// families of the registry /metrics serves, so that what a central
// Prometheus stores and what /metrics shows never disagree.
func (d *Daemon) newPusher() *remotewrite.Pusher {
	return remotewrite.New(remotewrite.Options{
		Gatherer:  d.metrics.Registry(),
		Prefix:    "fluxrelay_",
		UserAgent: "fluxrelay/" + d.opts.Version,
		Logger:    d.log.With("component", "remote_write"),
		Now:       d.opts.Now,
	})
}

// endpoints turns the [[remote_write]] tables into the pusher's endpoints.
func endpoints(cfg *config.Config) []remotewrite.Endpoint {
	var out []remotewrite.Endpoint
	for _, rw := range cfg.RemoteWrite {
		out = append(out, remotewrite.Endpoint{URL: rw.URL.Value(), Interval: rw.Interval.D(),
			BearerToken: rw.BearerToken.Value(), Username: rw.Username, Password: rw.Password.Value()})
	}
	return out
}

// remoteWriteStatus is what status shows of each endpoint.
func (d *Daemon) remoteWriteStatus() []admin.RemoteWriteStatus {
	out := []admin.RemoteWriteStatus{}
	if d.pusher == nil {
		return out
	}
	for _, s := range d.pusher.Status() {
		out = append(out, admin.RemoteWriteStatus(s))
	}
	return out
}
