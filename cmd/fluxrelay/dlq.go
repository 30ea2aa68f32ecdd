package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

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
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSOURCE\tTRANSACTION REF\tWHEN\tREASON")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Source, d.TransactionRef, d.DeadAt.Format("2006-01-02 15:04"), oneLine(d.Reason))
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
		printDetail(stdout, d)
	case sub == "replay" && *all && len(ids) == 0:
		var list []admin.DeadLetter
		if err := c.do("GET", "/api/dead-letters", &list); err != nil {
			return fail(err)
		}
		failed := 0
		for i, d := range list {
			err := c.do("POST", "/api/dead-letters/"+d.ID+"/replay", nil)
			result := "queued again"
			if err != nil {
				result, failed = "FAILED: "+err.Error(), failed+1
			}
			fmt.Fprintf(stdout, "[%d/%d] %s %s %s\n", i+1, len(list), d.ID, d.TransactionRef, result)
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
			var out struct{ ID string }
			if err := c.do(method, "/api/dead-letters/"+url.PathEscape(id)+path, &out); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", id, err)
				code = exitFailure
				continue
			}
			fmt.Fprintf(stdout, "%s %s\n", out.ID, done)
		}
		return code
	default:
		fmt.Fprintln(stderr, dlqUsage)
		return exitUsage
	}
	return exitOK
}

func printDetail(w io.Writer, d admin.DeadLetterDetail) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nstate:\t%s\nsource:\t%s (%s)\ntransactionRef:\t%s\nreceived:\t%s\ndead since:\t%s\nreason:\t%s\nattempts:\t%d\n",
		d.ID, d.State, d.Source, d.Provider, d.TransactionRef, d.ReceivedAt.Format("2006-01-02 15:04:05 MST"), d.DeadAt.Format("2006-01-02 15:04:05 MST"), oneLine(d.Reason), d.Attempts)
	if d.LastAnswer != "" {
		fmt.Fprintf(tw, "last answer from Fluxvend:\t%s\n", oneLine(d.LastAnswer))
	}
	if d.Peer != "" {
		fmt.Fprintf(tw, "from:\t%s\n", d.Peer)
	}
	if d.Terminal != "" {
		fmt.Fprintf(tw, "terminal:\t%s\n", d.Terminal)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nheaders as received (credentials redacted):")
	for _, h := range d.Headers {
		fmt.Fprintf(w, "  %s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(w, "\nraw body as received:\n%s\n", d.RawBody)
	if len(d.CorePayload) > 0 {
		fmt.Fprintf(w, "\nwhat is sent to Fluxvend:\n%s\n", d.CorePayload)
	}
}
