package gateway

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// staticHandler serves the files of dir (relative to the app directory)
// under urlPath. Directories are served only through their index.html:
// nothing is listed. Methods other than GET and HEAD get 405.
func staticHandler(appFS fs.FS, dir, urlPath string) (http.Handler, error) {
	sub, err := fs.Sub(appFS, dir)
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(noListing{sub})
	if urlPath != "/" {
		files = http.StripPrefix(strings.TrimSuffix(urlPath, "/"), files)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	}), nil
}

// noListing hides directories that have no index.html.
type noListing struct{ fs.FS }

func (n noListing) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		if _, err := fs.Stat(n.FS, path.Join(name, "index.html")); err != nil {
			f.Close()
			return nil, fs.ErrNotExist
		}
	}
	return f, nil
}
