package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/fluxrelay/fluxrelay/config"
)

// adminClient talks to the running daemon: on its admin socket, else on
// admin.listen (with admin.token).
type adminClient struct {
	http  *http.Client
	base  string
	token string
	where string // for messages
	// cfgErr, when set, is why the daemon cannot be found: the config
	// that says where it listens cannot be read.
	cfgErr error
}

// clientFlags adds the flags every daemon-talking command takes.
func clientFlags(fs *flag.FlagSet) (cfg, socket, addr *string) {
	return configFlag(fs), fs.String("socket", "", "admin socket (default admin.socket from the config, else /run/fluxrelay/admin.sock)"),
		fs.String("addr", "", "admin address host:port instead of the socket")
}

// newAdminClient finds the daemon. The config says where it listens;
// with no config at the default path the default socket is tried. A
// config that was named (-c, $FLUXRELAY_CONFIG) or exists but cannot be
// read is an error of its own, never "not running".
func newAdminClient(cfgFlag, socketFlag, addrFlag string) *adminClient {
	socket, addr, token := socketFlag, addrFlag, ""
	path := configPath(cfgFlag)
	cfg, err := config.Load(path)
	named := cfgFlag != "" || os.Getenv("FLUXRELAY_CONFIG") != ""
	switch {
	case err == nil:
		if socket == "" && addr == "" {
			socket, addr = cfg.Admin.Socket, cfg.Admin.Listen
			if !socketServed {
				socket = ""
			}
		}
		token = cfg.Admin.Token.Value()
	case socket != "" || addr != "":
		// told where the daemon is: the config is not needed
	case errors.Is(err, config.ErrNoConfig) && !named:
		socket = config.Default().Admin.Socket
		if socket == "" { // no socket here (Windows): the default admin.listen
			addr = config.Default().Admin.Listen
		}
	default:
		var problems config.Problems
		if errors.As(err, &problems) {
			err = fmt.Errorf("%s is not valid (fluxrelay check-config %s says why)", path, path)
		}
		return &adminClient{cfgErr: fmt.Errorf("cannot tell where fluxrelay listens: %w; or give --socket or --addr", err)}
	}
	if socket != "" {
		if _, err := os.Stat(socket); err == nil || addr == "" {
			return &adminClient{
				http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
					DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
						return (&net.Dialer{}).DialContext(ctx, "unix", socket)
					}}},
				base: "http://fluxrelay", where: "the admin socket " + socket,
			}
		}
	}
	return &adminClient{http: &http.Client{Timeout: 30 * time.Second}, base: "http://" + addr, token: token, where: "admin.listen " + addr}
}

// do sends a request and decodes a JSON answer into out. Errors say what
// to do.
func (c *adminClient) do(method, path string, out any) error { return c.send(method, path, nil, out) }

// send is do with a JSON body.
func (c *adminClient) send(method, path string, in, out any) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	var reqBody io.Reader
	if in == nil && method != http.MethodGet {
		in = struct{}{} // the daemon takes changes as JSON only
	}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, reqBody)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EACCES):
			return fmt.Errorf("permission denied on %s: %s", c.where, hintElevate)
		case errors.Is(err, fs.ErrNotExist), refused(err), errors.Is(err, syscall.ENOENT):
			return fmt.Errorf("fluxrelay is not running (nothing answers on %s); start it with: %s", c.where, hintStart)
		}
		return fmt.Errorf("cannot reach fluxrelay on %s: %v", c.where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return &answerError{status: resp.StatusCode, msg: e.Error}
		}
		return &answerError{status: resp.StatusCode, msg: "fluxrelay answered " + resp.Status}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// answerError is the daemon's answer when it refused or failed a request:
// its words, and the HTTP status for the commands that tell cases apart.
type answerError struct {
	status int
	msg    string
}

func (e *answerError) Error() string { return e.msg }

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// zone is the gateway's time zone, from its status; the local zone when
// the daemon cannot say.
func (c *adminClient) zone() *time.Location {
	var st struct {
		Timezone string `json:"timezone"`
	}
	if c.do("GET", "/api/status", &st) != nil {
		return time.Local
	}
	return zoneNamed(st.Timezone)
}
