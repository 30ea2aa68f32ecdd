package daemon

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// browser is a headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: JSON messages, each ended by a NUL byte,
// on file descriptors 3 and 4), so that no WebSocket or driver library is
// needed. Each browser has a fresh profile: a new device to the page.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in, out *os.File
	stderr  syncBuffer

	mu      sync.Mutex
	next    int64
	waiting map[int64]chan cdpMessage
	err     error // why the pipe closed
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// chromiumPath finds Chromium, or skips the test (fails it under CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run should have installed it")
	}
	t.Skip("skipped: chromium is not installed (apt-get install chromium)")
	return ""
}

// newBrowser starts Chromium with a fresh profile; it is closed when the
// test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	toBrowser, in, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, in: in, out: out, waiting: map[int64]chan cdpMessage{}}
	b.cmd = exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--hide-scrollbars", "--mute-audio", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe")
	b.cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser} // fds 3 and 4
	b.cmd.Stderr = &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	exited := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(exited) }()
	go b.read()
	t.Cleanup(func() {
		b.mu.Lock()
		closed := b.err != nil
		b.mu.Unlock()
		if !closed {
			b.send("", "Browser.close", nil)
		}
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = b.cmd.Process.Kill()
			<-exited
		}
		in.Close()
		out.Close()
	})
	return b
}

// read hands each answer to the call waiting for it; events are dropped.
func (b *browser) read() {
	r := bufio.NewReader(b.out)
	for {
		raw, err := r.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.err = fmt.Errorf("chromium closed its pipe (%v): %s", err, b.stderr.String())
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends one command (to a page when session is set) and decodes its
// result into out.
func (b *browser) call(session, method string, params, out any) error {
	ch, err := b.send(session, method, params)
	if err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return b.err
		case m.Error != nil:
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		case out != nil:
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no answer from chromium within 60s", method)
	}
}

func (b *browser) send(session, method string, params any) (chan cdpMessage, error) {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return nil, b.err
	}
	b.next++
	id := b.next
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: params, SessionID: session})
	if _, err := b.in.Write(append(msg, 0)); err != nil {
		return nil, err
	}
	return ch, nil
}

// tab is one page of the browser, width pixels wide.
type tab struct {
	b       *browser
	session string
	width   int
}

// tab opens a page as wide as a phone's (360) or a desk's (1280) screen.
func (b *browser) tab(width int) *tab {
	b.t.Helper()
	var target struct{ TargetID string }
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.t.Fatal(err)
	}
	var attached struct{ SessionID string }
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		b.t.Fatal(err)
	}
	tb := &tab{b: b, session: attached.SessionID, width: width}
	tb.do("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600})
	return tb
}

func (tb *tab) do(method string, params any) {
	tb.b.t.Helper()
	if err := tb.b.call(tb.session, method, params, nil); err != nil {
		tb.b.t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page (a promise is awaited) and
// decodes its value into out.
func (tb *tab) eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := tb.b.call(tb.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("%s: %s %s", expr, e.Text, e.Exception.Description)
	}
	if out == nil || res.Result.Value == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// must is eval that fails the test on an error.
func (tb *tab) must(expr string, out any) {
	tb.b.t.Helper()
	if err := tb.eval(expr, out); err != nil {
		tb.b.t.Fatal(err)
	}
}

// until polls a JavaScript condition until it holds, for at most a minute
// (generous: the machine may be loaded; the condition decides, not time).
func (tb *tab) until(what, cond string) {
	tb.b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ok bool
		err := tb.eval("!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			_ = tb.eval("document.body ? document.body.innerText : ''", &text)
			tb.b.t.Fatalf("at %d px: %s did not happen within a minute (%v); the page says:\n%s", tb.width, what, err, text)
		}
		time.Sleep(50 * time.Millisecond) // polling; the condition decides
	}
}

// open loads url and waits until it is loaded.
func (tb *tab) open(url string) {
	tb.b.t.Helper()
	tb.navigating(func() { tb.do("Page.navigate", map[string]any{"url": url}) })
}

// navigating runs act, which leaves the page (a link, a form), and waits
// for the next page to load.
func (tb *tab) navigating(act func()) {
	tb.b.t.Helper()
	tb.must("window.__left = true", nil)
	act()
	tb.until("the next page", `!window.__left && document.readyState === "complete"`)
}

// click clicks the middle of the element selector names, the way a finger
// or a mouse would.
func (tb *tab) click(selector string) {
	tb.b.t.Helper()
	var at struct{ X, Y float64 }
	tb.must(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, selector), &at)
	for _, kind := range []string{"mousePressed", "mouseReleased"} {
		tb.do("Input.dispatchMouseEvent", map[string]any{"type": kind, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1})
	}
}

// typeIn puts the cursor in the field selector names, empties it and types
// text.
func (tb *tab) typeIn(selector, text string) {
	tb.b.t.Helper()
	tb.click(selector)
	tb.must(fmt.Sprintf(`document.querySelector(%q).select()`, selector), nil)
	tb.do("Input.insertText", map[string]any{"text": text})
}

// screenshot saves the whole page as a PNG.
func (tb *tab) screenshot(path string) {
	tb.b.t.Helper()
	var height float64
	tb.must("document.documentElement.scrollHeight", &height)
	var shot struct{ Data string }
	err := tb.b.call(tb.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": tb.width, "height": height, "scale": 1}}, &shot)
	if err != nil {
		tb.b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err == nil && len(png) < 2000 {
		err = errors.New("the screenshot is nearly empty")
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		tb.b.t.Fatalf("screenshot %s: %v", path, err)
	}
}
