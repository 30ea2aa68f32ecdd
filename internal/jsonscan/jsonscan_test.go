package jsonscan

import "testing"

func TestScan(t *testing.T) {
	b := []byte(` {"a\"b": [1, {"x": "]"}], "c": 12.5e3 , "\u0061": null}`)
	i := SkipSpace(b, 0)
	if b[i] != '{' {
		t.Fatalf("SkipSpace stopped at %q", b[i])
	}
	k := StringEnd(b, i+1)
	if key, ok := Unquote(b[i+1 : k]); !ok || key != `a"b` {
		t.Errorf("first key %q %v", key, ok)
	}
	v := SkipSpace(b, k+1)
	if end := ValueEnd(b, v); string(b[v:end]) != `[1, {"x": "]"}]` {
		t.Errorf("array value %q", b[v:end])
	}
	c := []byte(`12.5e3 ,`)
	if end := ValueEnd(c, 0); string(c[:end]) != "12.5e3" {
		t.Errorf("number value %q", c[:end])
	}
	if key, ok := Unquote([]byte(`"\u0061"`)); !ok || key != "a" {
		t.Errorf("escaped key %q %v", key, ok)
	}
	if _, ok := Unquote([]byte(`"\x"`)); ok {
		t.Error("a bad escape was taken")
	}
	if end := StringEnd([]byte(`"never ends`), 0); end != 11 {
		t.Errorf("unterminated string ends at %d", end)
	}
}
