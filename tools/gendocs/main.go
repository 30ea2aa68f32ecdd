// Command gendocs writes fluxrelay's man page and its bash, zsh and fish
// completions from what the binary itself says (`fluxrelay help` and
// `fluxrelay CMD --help`), so they cannot drift from the CLI. The package
// build runs it:
//
//	go run ./tools/gendocs -bin bin/fluxrelay -version 0.1.0 -out dist/docs
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// command is one subcommand as its help describes it.
type command struct {
	name, summary string
	usage, about  string   // the usage line and the paragraph under it
	flags         []option // from the flag list
}

type option struct{ name, arg, help string }

func main() {
	bin := flag.String("bin", "bin/fluxrelay", "the fluxrelay binary to ask")
	version := flag.String("version", "dev", "the version the man page names")
	out := flag.String("out", "dist/docs", "where to write fluxrelay.1.gz and the completions")
	flag.Parse()
	cmds, err := read(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	files := map[string][]byte{
		"fluxrelay.1.gz": gz(man(cmds, *version)),
		"fluxrelay.bash": []byte(bash(cmds)),
		"_fluxrelay":     []byte(zsh(cmds)),
		"fluxrelay.fish": []byte(fish(cmds)),
		"changelog.gz":   gz(debianChangelog(*version)),
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

var (
	commandLine = regexp.MustCompile(`^  ([a-z][a-z-]+)\s{2,}(.+)$`)
	flagLine    = regexp.MustCompile(`^  -([a-z][a-z-]*)(?: (\S+))?$`)
)

// read asks the binary for its commands, and each for its usage and flags.
func read(bin string) ([]command, error) {
	top, err := exec.Command(bin, "help").Output()
	if err != nil {
		return nil, fmt.Errorf("%s help: %v", bin, err)
	}
	var cmds []command
	for _, l := range strings.Split(string(top), "\n") {
		if m := commandLine.FindStringSubmatch(l); m != nil {
			cmds = append(cmds, command{name: m[1], summary: m[2]})
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s help lists no commands", bin)
	}
	for i := range cmds {
		c := &cmds[i]
		help, err := exec.Command(bin, c.name, "--help").Output()
		if err != nil || !bytes.HasPrefix(help, []byte("usage: ")) {
			continue // version: no flags
		}
		parts := strings.SplitN(string(help), "\nflags:\n", 2)
		head := strings.SplitN(strings.TrimPrefix(parts[0], "usage: fluxrelay "), "\n\n", 2)
		c.usage = strings.TrimSpace(head[0])
		if len(head) > 1 {
			c.about = strings.TrimSpace(head[1])
		}
		if len(parts) < 2 {
			continue
		}
		lines := strings.Split(parts[1], "\n")
		for j := 0; j < len(lines); j++ {
			m := flagLine.FindStringSubmatch(lines[j])
			if m == nil {
				continue
			}
			o := option{name: m[1], arg: m[2]}
			if o.arg == "string" || o.arg == "int" { // the flag package's type name: say what it is
				o.arg = strings.ToUpper(o.name)
				if o.name == "c" {
					o.arg = "FILE"
				}
			}
			for j+1 < len(lines) && strings.HasPrefix(lines[j+1], "    \t") {
				o.help = strings.TrimSpace(o.help + " " + strings.TrimSpace(lines[j+1]))
				j++
			}
			c.flags = append(c.flags, o)
		}
	}
	return cmds, nil
}

// roff escapes text for a man page.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func man(cmds []command, version string) string {
	var b strings.Builder
	date := buildTime().Format("2006-01-02")
	fmt.Fprintf(&b, ".TH FLUXRELAY 1 %q \"fluxrelay %s\" \"fluxrelay manual\"\n", date, version)
	b.WriteString(".SH NAME\nfluxrelay \\- store\\-and\\-forward relay for payment notifications\n")
	b.WriteString(".SH SYNOPSIS\n.B fluxrelay\n.I command\n[\\fB\\-c\\fR \\fIFILE\\fR] [\\fIflags\\fR]\n")
	b.WriteString(".SH DESCRIPTION\nfluxrelay takes payment notifications from POS terminals and payment providers over HTTP and MQTT, " +
		"stores each durably before acknowledging it, and delivers it, signed, to the Fluxvend core webhook, retrying through outages. " +
		"The service runs \\fBfluxrelay run\\fR; the other commands talk to it or check its setup.\n")
	b.WriteString(".PP\nThe config file is \\fB\\-c\\fR \\fIFILE\\fR, else \\fB$FLUXRELAY_CONFIG\\fR, else \\fI/etc/fluxrelay/fluxrelay.toml\\fR. " +
		"Flags may come before or after a command's other arguments; every command takes \\fB\\-h\\fR.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".SS %s\n", roff(c.name))
		if c.usage != "" {
			fmt.Fprintf(&b, ".B fluxrelay %s\n.PP\n", roff(c.usage))
		}
		about := c.about
		if about == "" {
			about = c.summary
		}
		fmt.Fprintf(&b, "%s\n", roff(about))
		for _, o := range c.flags {
			arg := ""
			if o.arg != "" && o.arg != "value" {
				arg = " \\fI" + roff(o.arg) + "\\fR"
			}
			fmt.Fprintf(&b, ".TP\n\\fB\\-%s\\fR%s\n%s\n", roff(o.name), arg, roff(o.help))
		}
	}
	b.WriteString(".SH EXIT STATUS\n0 success; 1 failure (the daemon is not running, a check failed); 2 wrong usage or an invalid config.\n")
	b.WriteString(".SH FILES\n.TP\n/etc/fluxrelay/fluxrelay.toml\nthe config\n.TP\n/etc/default/fluxrelay\nsecrets for the config's *_env keys\n" +
		".TP\n/var/lib/fluxrelay\nthe queue\n.TP\n/run/fluxrelay/admin.sock\nthe admin socket (group fluxrelay)\n" +
		".TP\n/usr/share/doc/fluxrelay/fluxrelay.example.toml\nevery key, explained\n")
	b.WriteString(".SH SEE ALSO\n.BR systemctl (1),\n.BR journalctl (1),\n.BR mosquitto_pub (1)\n")
	return b.String()
}

func gz(b string) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write([]byte(b))
	w.Close()
	return buf.Bytes()
}

func names(cmds []command) []string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.name)
	}
	sort.Strings(n)
	return n
}

func flagWords(c command) []string {
	var w []string
	for _, o := range c.flags {
		w = append(w, dash(o.name))
	}
	return w
}

// dash is how a flag is written: -c, --json (the flag package takes both).
func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func bash(cmds []command) string {
	var b strings.Builder
	b.WriteString("# bash completion for fluxrelay (generated from its help)\n_fluxrelay() {\n")
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}\n")
	b.WriteString("  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\")); return\n  fi\n", strings.Join(append(names(cmds), "help"), " "))
	b.WriteString("  case \"${COMP_WORDS[COMP_CWORD-1]}\" in\n    -c|--c) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n  esac\n")
	b.WriteString("  case \"$cmd\" in\n")
	for _, c := range cmds {
		words := flagWords(c)
		switch c.name {
		case "dlq":
			words = append(words, "list", "show", "replay", "drop")
		case "service":
			words = append(words, "install", "uninstall", "start", "stop", "restart", "status")
		}
		if c.name == "check-config" {
			fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -f -W %q -- \"$cur\"));;\n", c.name, strings.Join(words, " "))
			continue
		}
		fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\"));;\n", c.name, strings.Join(words, " "))
	}
	fmt.Fprintf(&b, "    help) COMPREPLY=($(compgen -W %q -- \"$cur\"));;\n", strings.Join(names(cmds), " "))
	b.WriteString("  esac\n}\ncomplete -F _fluxrelay fluxrelay\n")
	return b.String()
}

func zsh(cmds []command) string {
	var b strings.Builder
	b.WriteString("#compdef fluxrelay\n# zsh completion for fluxrelay (generated from its help)\n_fluxrelay() {\n  local -a cmds\n  cmds=(\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %q\n", c.name+":"+strings.ReplaceAll(c.summary, ":", `\:`))
	}
	b.WriteString("  )\n  if (( CURRENT == 2 )); then\n    _describe command cmds\n    return\n  fi\n  case $words[2] in\n")
	for _, c := range cmds {
		if len(c.flags) == 0 {
			continue
		}
		fmt.Fprintf(&b, "    %s) _arguments", c.name)
		for _, o := range c.flags {
			spec := dash(o.name) + "[" + strings.NewReplacer("[", "(", "]", ")", "'", "").Replace(o.help) + "]"
			if o.arg != "" {
				spec += ":" + o.arg + ":"
				if o.name == "c" {
					spec += "_files"
				}
			}
			fmt.Fprintf(&b, " '%s'", spec)
		}
		b.WriteString(" '*:argument:_files';;\n")
	}
	b.WriteString("  esac\n}\n_fluxrelay \"$@\"\n")
	return b.String()
}

func fish(cmds []command) string {
	var b strings.Builder
	b.WriteString("# fish completion for fluxrelay (generated from its help)\ncomplete -c fluxrelay -f\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c fluxrelay -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
		for _, o := range c.flags {
			kind := "-l"
			if len(o.name) == 1 {
				kind = "-s"
			}
			line := fmt.Sprintf("complete -c fluxrelay -n '__fish_seen_subcommand_from %s' %s %s -d %s", c.name, kind, o.name, fishQuote(o.help))
			if o.arg != "" {
				line += " -r"
				if o.name == "c" {
					line += " -F"
				}
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func fishQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// debianChangelog is the package's changelog in Debian's format: one entry
// for this version, pointing at the project's own changelog.
func debianChangelog(version string) string {
	when := buildTime()
	return fmt.Sprintf("fluxrelay (%s) stable; urgency=medium\n\n  * Release %s. What changed, for technicians: CHANGELOG.md in the\n    project's source.\n\n -- fluxrelay team <dev@fluxrelay.invalid>  %s\n",
		version, version, when.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// buildTime is $SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func buildTime() time.Time {
	var sec int64
	if _, err := fmt.Sscan(os.Getenv("SOURCE_DATE_EPOCH"), &sec); err == nil {
		return time.Unix(sec, 0).UTC()
	}
	return time.Now().UTC()
}
