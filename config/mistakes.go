package config

import (
	"bytes"
	"net"
)

// Mistakes a technician makes that the TOML and the keys alone do not show.

// utf8BOM is the byte-order mark some editors (Notepad on Windows, among
// others) put at the start of a UTF-8 file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// withoutBOM returns data without a leading byte-order mark and, when it
// had one, the warning that says to remove it. TOML has no place for it:
// without this the first key is reported as an invalid character.
func withoutBOM(path string, data []byte) ([]byte, *Problem) {
	rest, ok := bytes.CutPrefix(data, utf8BOM)
	if !ok {
		return data, nil
	}
	return rest, &Problem{File: path, Pos: Pos{1, 1}, Warn: true,
		Msg: "remove the byte-order mark (BOM) at the start of the file (save it as UTF-8 without BOM); it was skipped"}
}

// listenClashes reports two listeners given the same address (or the same
// port, one of them on every address): the second could never be bound.
func (v *validator) listenClashes() {
	type listen struct{ key, addr string }
	var ls []listen
	add := func(key, addr string) {
		if addr != "" {
			ls = append(ls, listen{key, addr})
		}
	}
	add("http.listen", v.c.HTTP.Listen)
	if v.c.MQTT.Mode == "embedded" {
		add("mqtt.listen", v.c.MQTT.Listen)
	}
	add("admin.listen", v.c.Admin.Listen)
	add("admin.page_listen", v.c.Admin.PageListen)
	for i, a := range ls {
		for _, b := range ls[:i] {
			if sameListen(a.addr, b.addr) {
				v.errf(a.key, "got %q, the address %s already listens on; give each its own port", a.addr, b.key)
				break
			}
		}
	}
}

// sameListen reports whether two listen addresses would take the same
// port: the same port on the same host, or on every host. Port 0 (any
// free port) never clashes.
func sameListen(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	every := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || every(ha) || every(hb)
}
