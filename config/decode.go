package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// decoder fills the Config from the parsed tree, strictly: an unknown key
// or a wrong type is a Problem at its position, and decoding goes on so
// that every problem is found in one run.
type decoder struct {
	file     string
	dir      string
	pos      map[string]Pos      // key path as shown to the technician → where it is
	elems    map[string][]string // array of tables → each element's key path
	problems Problems
}

func (d *decoder) add(pos Pos, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(pos Pos, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: pos, Key: key, Msg: fmt.Sprintf(format, args...), Warn: true})
}

// at returns where key is, or the nearest enclosing table's position.
func (d *decoder) at(key string) Pos {
	for k := key; ; {
		if p, ok := d.pos[k]; ok {
			return p
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			return Pos{1, 1}
		}
		k = k[:i]
	}
}

func (d *decoder) decodeConfig(root *table, c *Config) {
	d.decodeTable("", root, reflect.ValueOf(c).Elem())
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
	secretType   = reflect.TypeFor[Secret]()
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields maps a struct's toml keys to field indexes.
func fields(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		m[tag] = i
		names = append(names, tag)
		if t.Field(i).Type == secretType {
			names = append(names, tag+"_file", tag+"_env")
		}
	}
	return m, names
}

func (d *decoder) decodeTable(path string, t *table, rv reflect.Value) {
	d.pos[path] = t.pos
	idx, names := fields(rv.Type())
	inline := map[string]bool{}
	for _, k := range t.keys {
		v := t.values[k]
		key := join(path, k)
		d.pos[key] = v.pos
		if i, ok := idx[k]; ok {
			if rv.Field(i).Type() == secretType {
				inline[k] = true
			}
			d.decodeValue(key, v, rv.Field(i))
			continue
		}
		base, how := k, ""
		if b, ok := strings.CutSuffix(k, "_file"); ok {
			base, how = b, "file"
		} else if b, ok := strings.CutSuffix(k, "_env"); ok {
			base, how = b, "env"
		}
		if i, ok := idx[base]; ok && how != "" && rv.Field(i).Type() == secretType {
			if inline[base] || rv.Field(i).Interface().(Secret).From != "" {
				d.add(v.pos, key, "%s is given more than once (want only one of %s, %s_file or %s_env)", base, base, base, base)
				continue
			}
			d.decodeSecretRef(key, how, v, rv.Field(i))
			continue
		}
		msg := "unknown key"
		if s := suggest(k, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		} else {
			msg += fmt.Sprintf(" (want one of: %s)", strings.Join(names, ", "))
		}
		d.add(v.pos, key, "%s", msg)
	}
}

func (d *decoder) decodeSecretRef(key, how string, v *value, fv reflect.Value) {
	if v.kind != unstable.String {
		d.add(v.pos, key, "got %s, want a string", v.describe())
		return
	}
	if v.str == "" {
		return
	}
	s := Secret{}
	switch how {
	case "file":
		path := resolve(d.dir, v.str)
		val, err := readSecretFile(path)
		if err != nil {
			d.add(v.pos, key, "cannot read the secret file %q: %v (want a file the fluxrelay user can read)", path, unwrapPathErr(err))
			return
		}
		if val == "" {
			d.add(v.pos, key, "the secret file %q is empty", path)
			return
		}
		s = Secret{value: val, From: "file " + path}
	case "env":
		val := lookupEnv(v.str)
		if val == "" {
			d.add(v.pos, key, "the environment variable %s is not set or empty (want it set in the service's environment)", v.str)
			return
		}
		s = Secret{value: val, From: "env " + v.str}
	}
	fv.Set(reflect.ValueOf(s))
}

func (d *decoder) decodeValue(key string, v *value, fv reflect.Value) {
	t := fv.Type()
	wantString := func() bool {
		if v.kind != unstable.String {
			d.add(v.pos, key, "got %s, want a string", v.describe())
			return false
		}
		return true
	}
	switch {
	case t == durationType:
		if !wantString() {
			return
		}
		dur, err := ParseDuration(v.str)
		if err != nil || dur < 0 {
			d.add(v.pos, key, `got %q, want a duration such as "90s", "15m", "168h" or "7d"`, v.str)
			return
		}
		fv.Set(reflect.ValueOf(dur))
	case t == sizeType:
		if v.kind == unstable.Integer && v.num >= 0 {
			fv.SetInt(v.num)
			return
		}
		if !wantString() {
			return
		}
		sz, err := ParseSize(v.str)
		if err != nil {
			d.add(v.pos, key, `got %q, want a size such as "256KiB", "64MiB" or "1GiB"`, v.str)
			return
		}
		fv.Set(reflect.ValueOf(sz))
	case t == secretType:
		if !wantString() {
			return
		}
		fv.Set(reflect.ValueOf(Secret{value: v.str, From: "inline"}))
	case t.Kind() == reflect.String:
		if wantString() {
			fv.SetString(v.str)
		}
	case t.Kind() == reflect.Bool:
		if v.kind != unstable.Bool {
			d.add(v.pos, key, "got %s, want true or false", v.describe())
			return
		}
		fv.SetBool(v.bool)
	case t.Kind() == reflect.Int:
		if v.kind != unstable.Integer {
			d.add(v.pos, key, "got %s, want a whole number", v.describe())
			return
		}
		fv.SetInt(v.num)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		if v.kind != unstable.Array {
			d.add(v.pos, key, `got %s, want a list of strings such as ["a", "b"]`, v.describe())
			return
		}
		out := make([]string, 0, len(v.arr))
		for i, e := range v.arr {
			if e.kind != unstable.String {
				d.add(e.pos, fmt.Sprintf("%s[%d]", key, i+1), "got %s, want a string", e.describe())
				continue
			}
			out = append(out, e.str)
		}
		fv.Set(reflect.ValueOf(out))
	case t.Kind() == reflect.Struct:
		if v.table == nil {
			d.add(v.pos, key, "got %s, want a table [%s]", v.describe(), key)
			return
		}
		d.decodeTable(key, v.table, fv)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if v.kind != unstable.ArrayTable && v.kind != unstable.Array {
			d.add(v.pos, key, "got %s, want one or more [[%s]] tables", v.describe(), key)
			return
		}
		out := reflect.MakeSlice(t, len(v.arr), len(v.arr))
		used := map[string]bool{}
		for i, e := range v.arr {
			path := fmt.Sprintf("%s[%d]", key, i+1)
			if e.table == nil {
				d.add(e.pos, path, "got %s, want a table", e.describe())
			} else {
				if named := elemName(key, e.table); named != "" && !used[named] {
					path = named
				}
				d.decodeTable(path, e.table, out.Index(i))
			}
			used[path] = true
			d.elems[key] = append(d.elems[key], path)
		}
		fv.Set(out)
	default:
		panic("config: no decoder for " + t.String())
	}
}

// elemName names an element of an array of tables by its name or username,
// as a technician would look for it: source[monnify], mqtt.user[till-1].
// Without one, the element is named by its number: source[2], and so is
// every remote_write.
func elemName(key string, t *table) string {
	if key == "remote_write" {
		return "" // its username is a login at the receiver, not a name
	}
	for _, k := range []string{"name", "username"} {
		if v, ok := t.values[k]; ok && v.kind == unstable.String && v.str != "" && len(v.str) <= 40 {
			return fmt.Sprintf("%s[%s]", key, v.str)
		}
	}
	return ""
}

// suggest returns the known key closest to k, when it is close.
func suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(k, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
