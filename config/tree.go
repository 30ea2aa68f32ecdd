package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is a place in the config file, 1-based.
type Pos struct{ Line, Col int }

// value is a node of the parsed document with its position, so that every
// problem can be reported where the technician wrote it.
type value struct {
	kind  unstable.Kind
	pos   Pos
	str   string
	num   int64
	flt   float64
	bool  bool
	arr   []*value
	table *table
}

// table keeps its keys in file order.
type table struct {
	pos     Pos
	keys    []string
	values  map[string]*value
	defined bool // opened by its own [header]
}

func newTable(pos Pos) *table { return &table{pos: pos, values: map[string]*value{}} }

func (t *table) set(k string, v *value) { t.keys = append(t.keys, k); t.values[k] = v }

// parseTree parses a TOML document into a tree. A syntax error stops the
// parse (the document has no shape after it) and is returned as a Problem.
func parseTree(data []byte) (*table, *Problem) {
	var p unstable.Parser
	p.Reset(data)
	root := newTable(Pos{1, 1})
	cur := root
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, pos := keyParts(&p, e.Key())
			// report a table where its header starts, at the bracket
			if pos.Col -= 1; e.Kind == unstable.ArrayTable {
				pos.Col--
			}
			pos.Col = max(pos.Col, 1)
			t, prob := openTable(root, keys, pos, e.Kind == unstable.ArrayTable)
			if prob != nil {
				return nil, prob
			}
			cur = t
		case unstable.KeyValue:
			keys, pos := keyParts(&p, e.Key())
			parent, prob := walkDotted(cur, keys[:len(keys)-1], pos)
			if prob != nil {
				return nil, prob
			}
			last := keys[len(keys)-1]
			if _, dup := parent.values[last]; dup {
				return nil, &Problem{Pos: pos, Key: strings.Join(keys, "."), Msg: "defined twice (keep one)"}
			}
			v, prob := convert(&p, e.Value())
			if prob != nil {
				return nil, prob
			}
			v.pos = pos // report a value where its key is
			parent.set(last, v)
		}
	}
	if err := p.Error(); err != nil {
		prob := &Problem{Msg: "the file is not valid TOML: " + err.Error()}
		if pe, ok := err.(*unstable.ParserError); ok {
			prob.Msg = "the file is not valid TOML: " + pe.Message + " (fix this first: nothing after it was checked)"
			if len(pe.Highlight) > 0 {
				s := p.Shape(p.Range(pe.Highlight))
				prob.Pos = Pos{s.Start.Line, s.Start.Column}
			}
		}
		return nil, prob
	}
	return root, nil
}

func keyParts(p *unstable.Parser, it unstable.Iterator) ([]string, Pos) {
	var keys []string
	var pos Pos
	for it.Next() {
		n := it.Node()
		if keys == nil {
			s := p.Shape(n.Raw)
			pos = Pos{s.Start.Line, s.Start.Column}
		}
		keys = append(keys, string(n.Data))
	}
	return keys, pos
}

// openTable finds or creates the table named by a [header] or [[header]].
func openTable(root *table, keys []string, pos Pos, array bool) (*table, *Problem) {
	parent, prob := walkDotted(root, keys[:len(keys)-1], pos)
	if prob != nil {
		return nil, prob
	}
	last := keys[len(keys)-1]
	v, ok := parent.values[last]
	name := strings.Join(keys, ".")
	if array {
		if !ok {
			v = &value{kind: unstable.ArrayTable, pos: pos}
			parent.set(last, v)
		} else if v.kind != unstable.ArrayTable {
			return nil, &Problem{Pos: pos, Key: name, Msg: "is a single table elsewhere; use either [" + name + "] or [[" + name + "]]"}
		}
		t := newTable(pos)
		v.arr = append(v.arr, &value{kind: unstable.InlineTable, pos: pos, table: t})
		return t, nil
	}
	if ok {
		if v.kind != unstable.InlineTable || v.table == nil || v.table.defined {
			return nil, &Problem{Pos: pos, Key: name, Msg: "[" + name + "] is defined twice; merge the two into one table"}
		}
		v.table.pos, v.table.defined = pos, true
		return v.table, nil
	}
	t := newTable(pos)
	t.defined = true
	parent.set(last, &value{kind: unstable.InlineTable, pos: pos, table: t})
	return t, nil
}

// walkDotted descends through dotted key parts, creating tables as needed;
// for an array of tables it descends into the last element.
func walkDotted(t *table, keys []string, pos Pos) (*table, *Problem) {
	for i, k := range keys {
		v, ok := t.values[k]
		if !ok {
			v = &value{kind: unstable.InlineTable, pos: pos, table: newTable(pos)}
			t.set(k, v)
		}
		switch {
		case v.kind == unstable.ArrayTable && len(v.arr) > 0:
			t = v.arr[len(v.arr)-1].table
		case v.table != nil:
			t = v.table
		default:
			return nil, &Problem{Pos: pos, Key: strings.Join(keys[:i+1], "."), Msg: "is a value, not a table"}
		}
	}
	return t, nil
}

func convert(p *unstable.Parser, n *unstable.Node) (*value, *Problem) {
	s := p.Shape(n.Raw)
	v := &value{kind: n.Kind, pos: Pos{s.Start.Line, s.Start.Column}}
	switch n.Kind {
	case unstable.String:
		v.str = string(n.Data)
	case unstable.Bool:
		v.bool = string(n.Data) == "true"
	case unstable.Integer:
		i, err := strconv.ParseInt(strings.ReplaceAll(string(n.Data), "_", ""), 0, 64)
		if err != nil {
			return nil, &Problem{Pos: v.pos, Msg: fmt.Sprintf("integer %s is out of range", n.Data)}
		}
		v.num = i
	case unstable.Float:
		f, err := strconv.ParseFloat(strings.ReplaceAll(string(n.Data), "_", ""), 64)
		if err != nil {
			f = math.NaN()
		}
		v.flt = f
		v.str = string(n.Data)
	case unstable.Array:
		it := n.Children()
		for it.Next() {
			e, prob := convert(p, it.Node())
			if prob != nil {
				return nil, prob
			}
			v.arr = append(v.arr, e)
		}
	case unstable.InlineTable:
		v.table = newTable(v.pos)
		it := n.Children()
		for it.Next() {
			kv := it.Node()
			keys, pos := keyParts(p, kv.Key())
			parent, prob := walkDotted(v.table, keys[:len(keys)-1], pos)
			if prob != nil {
				return nil, prob
			}
			e, prob := convert(p, kv.Value())
			if prob != nil {
				return nil, prob
			}
			e.pos = pos
			parent.set(keys[len(keys)-1], e)
		}
	default: // dates and times: kept as text, refused by the decoder
		v.str = string(n.Data)
	}
	return v, nil
}

// describe names a value's TOML type for "got …" in messages.
func (v *value) describe() string {
	switch v.kind {
	case unstable.String:
		return "a string"
	case unstable.Bool:
		return "a boolean"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a number with decimals"
	case unstable.Array:
		return "a list"
	case unstable.InlineTable, unstable.ArrayTable:
		return "a table"
	default:
		return "a date or time"
	}
}
