package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
)

const findUsage = "usage: fluxrelay find REF [--json]   (REF: a transactionRef, a paymentRef, or the start of an id)"

// cmdFind answers "the customer says she paid: where is her payment?":
// every notification with that reference, and its trail.
func cmdFind(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("find", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	args, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	ref := ""
	if len(args) == 1 {
		ref = args[0]
	}
	if ref == "" {
		fmt.Fprintln(stderr, findUsage)
		return exitUsage
	}
	var trails []admin.Trail
	if err := newAdminClient(*cfg, *socket, *addr).do("GET", "/api/find?ref="+url.QueryEscape(ref), &trails); err != nil {
		fmt.Fprintln(stderr, "fluxrelay find:", err)
		return exitFailure
	}
	if *asJSON {
		printJSON(stdout, trails)
		return exitOK
	}
	if len(trails) == 0 {
		fmt.Fprintf(stdout, "no notification has the reference %q (a transactionRef, paymentRef, the provider's reference or an id); check it on the receipt, or it has not reached this gateway\n", ref)
		return exitFailure
	}
	for i, t := range trails {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printTrail(stdout, t)
	}
	return exitOK
}

func printTrail(w io.Writer, t admin.Trail) {
	loc := zoneNamed(t.Timezone)
	at := func(x time.Time) string { return stamp(x, loc) }
	fmt.Fprintf(w, "%s  %s\n", oneLine(t.TransactionRef), strings.ToUpper(t.Where))
	fmt.Fprintf(w, "  id           %s\n", t.ID)
	fmt.Fprintf(w, "  source       %s (%s)\n", t.Source, t.Provider)
	if t.Amount != "" {
		fmt.Fprintf(w, "  amount       %s\n", oneLine(t.Amount+" "+t.PaymentMethod))
	}
	if t.PaymentRef != "" {
		fmt.Fprintf(w, "  paymentRef   %s\n", oneLine(t.PaymentRef))
	}
	if len(t.Refs) > 0 {
		fmt.Fprintf(w, "  references   %s\n", oneLine(strings.Join(t.Refs, ", ")))
	}
	from := t.Peer
	if t.Terminal != "" {
		from = "terminal " + t.Terminal
	}
	if from == "" {
		from = "unknown"
	}
	fmt.Fprintf(w, "  received     %s from %s\n", at(t.ReceivedAt), oneLine(from))
	if t.Verified != "" {
		fmt.Fprintf(w, "  verified by  %s\n", oneLine(t.Verified))
	}
	if !t.StoredAt.IsZero() {
		fmt.Fprintf(w, "  stored       %s\n", at(t.StoredAt))
	}
	if len(t.Attempts) == 0 {
		fmt.Fprintln(w, "  attempts     none")
	} else {
		fmt.Fprintf(w, "  attempts     %d\n", len(t.Attempts)+t.AttemptsLeftOut)
	}
	for i, a := range t.Attempts {
		if i == 3 && t.AttemptsLeftOut > 0 {
			fmt.Fprintf(w, "    … %d more attempts …\n", t.AttemptsLeftOut)
		}
		what := fmt.Sprintf("Fluxvend answered %d", a.Status)
		if a.Error != "" {
			what = oneLine(a.Error)
		}
		took := a.Took.Round(time.Millisecond).String()
		if a.Took < time.Millisecond {
			took = "under 1ms"
		}
		fmt.Fprintf(w, "    %s  %s (%s)\n", at(a.At), what, took)
	}
	short := t.ID[:min(12, len(t.ID))]
	switch t.Where {
	case "delivered":
		fmt.Fprintf(w, "  now          delivered to Fluxvend at %s\n", at(t.DeliveredAt))
	case "waiting":
		fmt.Fprintf(w, "  now          waiting; next attempt %s\n", at(t.NextAttempt))
	case "held":
		fmt.Fprintf(w, "  now          held for a person since %s: %s\n", at(t.DeadAt), oneLine(t.Reason))
		fmt.Fprintln(w, "               to release it: after fixing the source's config (or upgrading fluxrelay), fluxrelay dlq replay "+short+" maps it again and queues it;")
		fmt.Fprintln(w, "               or record the payment in Fluxvend by hand, then fluxrelay dlq drop "+short)
	case "dead letter":
		fmt.Fprintf(w, "  now          waits for a person since %s: %s\n", at(t.DeadAt), oneLine(t.Reason))
		fmt.Fprintln(w, "               fix the cause, then fluxrelay dlq replay "+short+" (or record it by hand and dlq drop it)")
	case "ignored":
		fmt.Fprintf(w, "  now          ignored, not relayed: %s\n", oneLine(t.Reason))
	}
}
