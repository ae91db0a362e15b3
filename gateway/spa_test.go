package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/apptest"
)

// TestStaticFromFSDirectory: http.static written as the original runtime
// writes it (an fs.directory entry, static_options): files are served
// with the Cache-Control given, and with spa, a path that names no file
// gets the index page.
func TestStaticFromFSDirectory(t *testing.T) {
	app, _ := apptest.Start(t, "testdata/spaapp")
	base := "http://" + apptest.Addr(t, app, "app:gateway")
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/assets/app.js", `console.log("app")`, 200},
		{"/users/123", "<title>spa</title>", 200},
		{"/", "<title>spa</title>", 200},
		{"/assets/", "<title>spa</title>", 200}, // a directory without index.html is no file
		{"/.env", "404 page not found", 404},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s = %d %q, want %d with %q", tc.path, resp.StatusCode, body, tc.code, tc.want)
		}
		if cc := resp.Header.Get("Cache-Control"); tc.code == 200 && cc != "public, max-age=3600" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, cc)
		}
	}

	_, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: gw, kind: http.service, addr: "127.0.0.1:0"}
  - {name: pub, kind: fs.directory, directory: ./nowhere}
  - {name: a, kind: http.static, meta: {server: gw}, fs: pub, directory: x}
  - {name: b, kind: http.static, meta: {server: gw}, path: /b, fs: gw, static_options: {spa: true}}
  - {name: c, kind: http.static, meta: {server: gw}, path: /c, fs: pub, static_options: {index: ../x.html}}
`)}}, config.StandardKinds())
	for _, want := range []string{
		"entry app:pub: directory: cannot read nowhere",
		"entry app:a: fs: give directory or fs, not both",
		"entry app:b: fs: refers to app:gw, which is of kind http.service, not fs.directory",
		"entry app:b: static_options.index: missing",
		`entry app:c: static_options.index: "../x.html" must be a file name at the top of the directory`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
