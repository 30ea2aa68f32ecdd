package main

import (
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/fluxrelay/fluxrelay/daemon"
)

// cmdRecover re-queues what can be read from a store that was moved aside
// because Badger could not open it. The daemon must be stopped.
func cmdRecover(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := configFlag(fs)
	from := fs.String("from", "", "the moved-aside store (default: the newest data_dir/store.unreadable-…)")
	if code, stop := parseOnlyFlags(fs, args, stdout, stderr); stop {
		return code
	}
	cfg, code := loadConfig(configPath(*c), stderr)
	if cfg == nil {
		return code
	}
	res, err := daemon.Recover(cfg, *from)
	if err != nil {
		fmt.Fprintln(stderr, "fluxrelay recover:", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "read %d notifications from %s (%s):\n", res.Read, res.From, res.How)
	whats := make([]string, 0, len(res.Counts))
	for w := range res.Counts {
		whats = append(whats, w)
	}
	sort.Strings(whats)
	for _, w := range whats {
		fmt.Fprintf(stdout, "  %d %s\n", res.Counts[w], w)
	}
	fmt.Fprintf(stdout, "start fluxrelay again; once this is done the folder %s can be removed\n", res.From)
	return exitOK
}
