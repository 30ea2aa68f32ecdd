package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/fluxrelay/fluxrelay/admin"
)

const dlqUsage = "usage: fluxrelay dlq list | show ID | replay ID… | replay --all | drop ID…   (an ID may be any unique prefix)"

func cmdDLQ(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	all := fs.Bool("all", false, "with replay: every dead letter")
	asJSON := fs.Bool("json", false, "print JSON")
	yes := fs.Bool("yes", false, "with drop: do not ask before deleting")
	args, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, dlqUsage)
		return exitUsage
	}
	sub, ids := args[0], args[1:]
	c := newAdminClient(*cfg, *socket, *addr)
	fail := func(err error) int { fmt.Fprintln(stderr, "fluxrelay dlq:", err); return exitFailure }
	switch {
	case sub == "list":
		var list []admin.DeadLetter
		if err := c.do("GET", "/api/dead-letters", &list); err != nil {
			return fail(err)
		}
		if *asJSON {
			printJSON(stdout, list)
			return exitOK
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
			return exitOK
		}
		loc := c.zone()
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tSOURCE\tTRANSACTION REF\tWHEN (%s)\tREASON\n", zoneWords(loc, time.Now()))
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Source, oneLine(d.TransactionRef), stampMinute(d.DeadAt, loc), oneLine(d.Reason))
		}
		tw.Flush()
	case sub == "show" && len(ids) == 1:
		var d admin.DeadLetterDetail
		if err := c.do("GET", "/api/dead-letters/"+url.PathEscape(ids[0]), &d); err != nil {
			return fail(err)
		}
		if *asJSON {
			printJSON(stdout, d)
			return exitOK
		}
		printDetail(stdout, d, c.zone())
	case sub == "replay" && *all && len(ids) == 0:
		var list []admin.DeadLetter
		if err := c.do("GET", "/api/dead-letters", &list); err != nil {
			return fail(err)
		}
		failed := 0
		for i, d := range list {
			var out admin.Replayed
			err := c.do("POST", "/api/dead-letters/"+d.ID+"/replay", &out)
			result := out.Message
			if err != nil {
				result, failed = "FAILED: "+err.Error(), failed+1
			}
			fmt.Fprintf(stdout, "[%d/%d] %s %s %s\n", i+1, len(list), d.ID, oneLine(d.TransactionRef), oneLine(result))
		}
		fmt.Fprintf(stdout, "%d replayed, %d failed\n", len(list)-failed, failed)
		if failed > 0 {
			return exitFailure
		}
	case (sub == "replay" || sub == "drop") && len(ids) > 0 && !*all:
		method, path, done := "POST", "/replay", "queued again"
		if sub == "drop" {
			method, path, done = "DELETE", "", "dropped"
			if !*yes {
				q := fmt.Sprintf("delete %d dead letter(s) for good? A dropped payment is never sent to Fluxvend.", len(ids))
				if ok, code := confirm(stdin, stdout, stderr, "dlq drop", q); !ok {
					if code == exitOK {
						fmt.Fprintln(stdout, "nothing dropped")
					}
					return code
				}
			}
		}
		code := exitOK
		for _, id := range ids {
			var out admin.Replayed
			if err := c.do(method, "/api/dead-letters/"+url.PathEscape(id)+path, &out); err != nil {
				fmt.Fprintf(stderr, "%s: %s\n", oneLine(id), oneLine(err.Error()))
				code = exitFailure
				continue
			}
			if out.Message != "" {
				done = out.Message
			}
			fmt.Fprintf(stdout, "%s %s\n", out.ID, oneLine(done))
		}
		return code
	default:
		fmt.Fprintln(stderr, dlqUsage)
		return exitUsage
	}
	return exitOK
}

func printDetail(w io.Writer, d admin.DeadLetterDetail, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nstate:\t%s\nsource:\t%s (%s)\ntransactionRef:\t%s\nreceived:\t%s\ndead since:\t%s\nreason:\t%s\nattempts:\t%d\n",
		d.ID, d.State, d.Source, d.Provider, oneLine(d.TransactionRef), stamp(d.ReceivedAt, loc), stamp(d.DeadAt, loc), oneLine(d.Reason), d.Attempts)
	if d.LastAnswer != "" {
		fmt.Fprintf(tw, "last answer from Fluxvend:\t%s\n", oneLine(d.LastAnswer))
	}
	if d.Peer != "" {
		fmt.Fprintf(tw, "from:\t%s\n", oneLine(d.Peer))
	}
	if d.Terminal != "" {
		fmt.Fprintf(tw, "terminal:\t%s\n", oneLine(d.Terminal))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nheaders as received (credentials redacted):")
	for _, h := range d.Headers {
		fmt.Fprintf(w, "  %s: %s\n", oneLine(h.Name), oneLine(h.Value))
	}
	fmt.Fprintf(w, "\nraw body as received:\n%s\n", clean(d.RawBody))
	if len(d.CorePayload) > 0 {
		fmt.Fprintf(w, "\nwhat is sent to Fluxvend:\n%s\n", clean(string(d.CorePayload)))
	}
}
