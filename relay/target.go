package relay

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/fluxrelay/fluxrelay/health"
)

// Target is a Fluxvend core webhook and the credentials to sign for it.
type Target struct {
	URL        string
	Tenant     string
	SigningKey string
	// Raw sends the provider's body and headers unchanged (forward = "raw"),
	// to a webhook that takes the provider's own format, unsigned.
	Raw bool
}

// Mode is the state of deliveries to one target.
type Mode string

// Modes. Outside ModeOK only one delivery at a time is let through, as a
// probe, and nothing is counted against the notifications waiting.
const (
	ModeOK            Mode = health.ModeOK
	ModeOutage        Mode = health.ModeOutage        // no answer, or retryable answers only
	ModePaused        Mode = health.ModePaused        // the webhook, credentials or IP whitelist need a person
	ModeNotConfigured Mode = health.ModeNotConfigured // core.url is empty
)

// backoff is exponential from 1 s, capped at max, with jitter: the wait is
// drawn from [d/2, d].
func backoff(attempt int, maxWait time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}

// pauseReason tells a technician what a pausing answer most likely means.
func pauseReason(res result) string {
	switch res.status {
	case 401:
		return "Fluxvend answered 401: the API secret or signature key is wrong — was the secret regenerated in the portal? Update core.api_secret (and check core.signature_key), then reload"
	case 403:
		return "Fluxvend answered 403: this gateway's public IP is not whitelisted — did it change? Add it to the Fluxvend Core webhook's whitelist in the portal"
	case 404, 410:
		return fmt.Sprintf("Fluxvend answered %d: the webhook is disabled or core.url is wrong — enable it or copy the URL again from the portal, then reload", res.status)
	}
	if res.status >= 300 && res.status < 400 {
		return fmt.Sprintf("Fluxvend answered %d (a redirect): core.url is not the webhook's address — copy it again from the portal, then reload", res.status)
	}
	return res.describe() + " — check core.url and reload"
}
