package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// minPasswordLen is the shortest terminal password mqtt-passwd hashes.
const minPasswordLen = 8

// cmdMQTTPasswd hashes a terminal's password with bcrypt, as
// mosquitto_passwd does, and prints the [[mqtt.user]] table to paste into
// the config. The password is asked twice without echo on a terminal, or
// read as the first line of standard input.
func cmdMQTTPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqtt-passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (each step doubles the time a login takes)")
	configFlag(fs) // every command takes -c; this one reads no config
	args, code, stop := parseFlags(fs, args, stdout)
	if stop {
		return code
	}
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		fs.Usage()
		return exitUsage
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "mqtt-passwd: --cost must be between %d and %d\n", bcrypt.MinCost, bcrypt.MaxCost)
		return exitUsage
	}
	user := args[0]
	password, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mqtt-passwd:", err)
		return exitFailure
	}
	if len(password) < minPasswordLen {
		fmt.Fprintf(stderr, "mqtt-passwd: the password is shorter than %d characters; choose a longer one\n", minPasswordLen)
		return exitUsage
	}
	hash, err := bcrypt.GenerateFromPassword(password, *cost)
	if err != nil {
		fmt.Fprintln(stderr, "mqtt-passwd:", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "[[mqtt.user]]\nusername = %q\npassword_hash = %q\n", user, hash)
	return exitOK
}

// readPassword asks twice on a terminal, without echo; otherwise it reads
// one line.
func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(stderr, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if string(first) != string(second) {
			return nil, fmt.Errorf("the two passwords differ; nothing was made")
		}
		return first, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return nil, fmt.Errorf("no password on standard input")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}
