package gateway

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/ratelog"
)

// maxRanges is the most ranges a Range header may ask for; past it, the
// header is ignored.
const maxRanges = 16

// static serves the files of one http.static directory.
type static struct {
	files  http.Handler
	fsys   fs.FS // the directory, as files serves it
	opts   config.StaticOptions
	prefix string // the URL path the directory is mounted at, without a trailing slash
	log    *ratelog.Logger
	warned atomic.Bool
}

// staticHandler serves the files of dir (relative to the app directory)
// under urlPath. When the app was loaded from disk (appDir set), files are
// opened through an os.Root of the directory, so that no symlink leads out
// of it; closer releases the root. Directories are served only through
// their index.html: nothing is listed. A Range of more than maxRanges
// ranges is ignored. A path with a segment that starts
// with '.' (.env, .git/config) is 404, a path with a NUL byte 400, and
// methods other than GET and HEAD get 405. With opts.SPA, a path that
// names no file is answered with opts.Index; opts.Cache is the
// Cache-Control of every file served.
func staticHandler(appFS fs.FS, appDir, dir, urlPath string, opts config.StaticOptions, log *slog.Logger) (http.Handler, io.Closer, error) {
	var (
		sub    fs.FS
		closer io.Closer = io.NopCloser(nil)
	)
	if appDir != "" {
		root, err := os.OpenRoot(filepath.Join(appDir, filepath.FromSlash(dir)))
		if err != nil {
			return nil, nil, err
		}
		sub, closer = root.FS(), root
	} else {
		var err error
		if sub, err = fs.Sub(appFS, dir); err != nil {
			return nil, nil, err
		}
	}
	s := &static{prefix: strings.TrimSuffix(urlPath, "/"), log: limited(log, staticLines), opts: opts}
	s.fsys = noListing{FS: sub, s: s}
	s.files = http.FileServerFS(s.fsys)
	if s.prefix != "" {
		s.files = http.StripPrefix(s.prefix, s.files)
	}
	return s, closer, nil
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if strings.ContainsRune(r.URL.Path, 0) {
		http.Error(w, "bad request: the path contains a NUL byte", http.StatusBadRequest)
		return
	}
	if strings.Count(r.Header.Get("Range"), ",") >= maxRanges {
		// Many one-byte ranges make a multipart answer dozens of times the
		// request: the file is served whole instead (RFC 9110 lets a
		// server ignore Range).
		r.Header.Del("Range")
	}
	rel := strings.TrimPrefix(r.URL.Path, s.prefix)
	for _, seg := range strings.Split(rel, "/") {
		if strings.HasPrefix(seg, ".") {
			http.NotFound(w, r) // dotfiles and dot-directories are never served
			return
		}
	}
	if s.opts.Cache != "" {
		w.Header().Set("Cache-Control", s.opts.Cache)
	}
	if s.opts.SPA {
		name := strings.Trim(path.Clean("/"+rel), "/")
		if name == "" {
			name = "."
		}
		if _, err := fs.Stat(s.fsys, name); errors.Is(err, fs.ErrNotExist) {
			// A route of the app, not a file: its page is the index. Served
			// by name, so that no redirect to the directory happens.
			http.ServeFileFS(w, r, s.fsys, s.opts.Index)
			return
		}
	}
	s.files.ServeHTTP(w, r)
}

// refused logs, the first time, a path the root would not open (a
// symlink that leads out of the directory), and then at debug level.
func (s *static) refused(name string, err error) {
	level := slog.LevelDebug
	if s.warned.CompareAndSwap(false, true) {
		level = slog.LevelWarn
	}
	s.log.Log(level, "static file refused: it leads out of its directory (a symlink?); answered 404", "prefix", s.prefix+"/", "path", logtext.Cut(name, maxLogRequest), "error", logtext.Cut(err.Error(), 2*maxLogRequest))
}

// noListing hides directories that have no index.html, and answers 404
// (not 500) for a path the root refuses.
type noListing struct {
	fs.FS
	s *static
}

func (n noListing) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
			return nil, fs.ErrNotExist // a path under a file, a name too long: not there, nothing to warn about
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			n.s.refused(name, err)
			return nil, fs.ErrNotExist
		}
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
