// Command secretscan looks for the test suite's secrets in what the suite
// printed. It collects every secret the tests use (string values given to
// a name with secret, password, passwd or token in it, in the tests' Go
// files and TOML files), then reads every file under the output directory
// and fails, naming file, line and which secret, if one appears.
//
// Usage: go run ./internal/secretscan REPO_ROOT OUTPUT_DIR
package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// secretWords are what a name holding a secret mentions.
const secretWords = `secret|password|passwd|token`

var (
	// assigned matches `name = "value"`, `name := "value"`, `Name: "value"`
	// and TOML's `name = "value"`, where name mentions a secret.
	assigned = regexp.MustCompile(`(?i)\b(\w*(?:` + secretWords + `)\w*)"?\s*(?:=|:=|:)\s*"([^"\\]+)"`)
	// multi matches `a, b = "x", "y"`, whose values pair with the names.
	multi  = regexp.MustCompile(`^\s*(?:const |var )?(\w+(?:\s*,\s*\w+)+)\s*:?=\s*(.+)$`)
	quoted = regexp.MustCompile(`"([^"\\]*)"`)
	named  = regexp.MustCompile(`(?i)` + secretWords)
)

// minLen keeps out short values ("S", "pw") that match ordinary text.
const minLen = 8

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: secretscan REPO_ROOT OUTPUT_DIR")
		os.Exit(2)
	}
	secrets, err := collect(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "secretscan:", err)
		os.Exit(2)
	}
	files, found, err := scan(os.Args[2], secrets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "secretscan:", err)
		os.Exit(2)
	}
	if files == 0 {
		fmt.Fprintf(os.Stderr, "secretscan: no output files under %s; did the tests run with FLUXRELAY_TEST_OUTPUT set?\n", os.Args[2])
		os.Exit(2)
	}
	for _, f := range found {
		fmt.Println(f)
	}
	if len(found) > 0 {
		fmt.Printf("secretscan: %d secrets found in the test output\n", len(found))
		os.Exit(1)
	}
	fmt.Printf("secretscan: %d secrets looked for in %d output files: none found\n", len(secrets), files)
}

// collect returns each secret value with where it is defined.
func collect(root string) (map[string]string, error) {
	secrets := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "build" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".toml")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for name, v := range values(line) {
				if len(v) < minLen || strings.ContainsAny(v, " %{}") || strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_env") {
					continue // prose, a format, or where a secret is kept
				}
				if _, ok := secrets[v]; !ok {
					secrets[v] = fmt.Sprintf("%s:%d", path, i+1)
				}
			}
		}
		return nil
	})
	return secrets, err
}

// values returns the secret values a line gives, by name.
func values(line string) map[string]string {
	out := map[string]string{}
	if m := multi.FindStringSubmatch(line); m != nil {
		names := strings.Split(m[1], ",")
		vals := quoted.FindAllStringSubmatch(m[2], -1)
		if len(names) == len(vals) {
			for i, n := range names {
				if n = strings.TrimSpace(n); named.MatchString(n) {
					out[strings.ToLower(n)] = vals[i][1]
				}
			}
			return out
		}
	}
	for _, m := range assigned.FindAllStringSubmatch(line, -1) {
		out[strings.ToLower(m[1])] = m[2]
	}
	return out
}

// scan reads every file under dir and reports each line holding a secret.
func scan(dir string, secrets map[string]string) (int, []string, error) {
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			for v, where := range secrets {
				if strings.Contains(line, v) {
					found = append(found, fmt.Sprintf("%s:%d: holds the secret defined at %s", path, n, where))
				}
			}
		}
		return sc.Err()
	})
	sort.Strings(found)
	return files, found, err
}
