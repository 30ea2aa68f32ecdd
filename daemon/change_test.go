package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fluxrelay/fluxrelay/admin"
)

// change sends a request that changes something as the CLI does on Linux:
// to the admin API as the daemon serves it on its socket, where no token
// is needed (on admin.listen a change needs admin.token), as JSON.
func (r *running) change(t testing.TB, method, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, "http://fluxrelay"+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	admin.Handler(r.d, nil, nil).ServeHTTP(w, req)
	return w.Result()
}
