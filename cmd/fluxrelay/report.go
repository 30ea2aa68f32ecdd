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

const reportUsage = "usage: fluxrelay report [--day 2026-03-14 | --from 2026-03-01 [--to 2026-03-14]] [--json]   (default: today, in the gateway's time zone; --from alone: up to today)"

// cmdReport prints, per day, source and payment method, the count and the
// exact sum of the sales received, delivered, waiting and needing a person.
func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, socket, addr := clientFlags(fs)
	day := fs.String("day", "", "one day")
	from := fs.String("from", "", "the first day")
	to := fs.String("to", "", "the last day (with --from alone: today)")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	if len(rest) > 0 || (*day != "" && (*from != "" || *to != "")) {
		fmt.Fprintln(stderr, reportUsage)
		return exitUsage
	}
	if *day != "" {
		*from, *to = *day, *day
	}
	var rep admin.Report
	q := url.Values{"from": {*from}, "to": {*to}}
	if err := newAdminClient(*cfg, *socket, *addr).do("GET", "/api/report?"+q.Encode(), &rep); err != nil {
		fmt.Fprintln(stderr, "fluxrelay report:", err)
		return exitFailure
	}
	if *asJSON {
		printJSON(stdout, rep)
		return exitOK
	}
	loc := zoneNamed(rep.Timezone)
	if rep.Timezone == "the gateway's time zone" {
		loc = time.Local
	}
	if len(rep.Days) == 0 {
		fmt.Fprintf(stdout, "no sales received on those days (%s)\n", zoneWords(loc, time.Now()))
		return exitOK
	}
	tally := func(t admin.Tally) string { return fmt.Sprintf("%d  %s", t.Count, t.Sum) }
	for i, d := range rep.Days {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		noon, _ := time.ParseInLocation("2006-01-02 15:04", d.Day+" 12:00", loc)
		fmt.Fprintf(stdout, "%s (%s)\n", d.Day, zoneWords(loc, noon))
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "SOURCE\tMETHOD\tRECEIVED\tDELIVERED\tWAITING\tNEEDS A PERSON\t")
		for _, r := range append(d.Rows, d.Total) {
			method := r.Method
			if method == "" {
				method = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Source, oneLine(method), tally(r.Received), tally(r.Delivered), tally(r.Waiting), tally(r.NeedsPerson))
		}
		tw.Flush()
	}
	return exitOK
}
